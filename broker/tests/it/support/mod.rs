//! Shared helpers of the broker's integration tests (and, through `#[path]`, of the
//! controller's `mqtt_*` tests): a credential table, a plain rumqttc test client and condition
//! polling.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gatecast_broker::{CredentialCheck, MAX_PACKET_SIZE};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, Publish, QoS};
use tokio::sync::mpsc;

/// Overall deadline for anything a test waits for.
pub const DEADLINE: Duration = Duration::from_secs(15);

/// Polls `cond` every 20 ms until it holds or [`DEADLINE`] passes; panics with `what` then.
pub async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !cond() {
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A credential table standing in for the store: username → password, plus disabled users.
#[derive(Default)]
pub struct Creds {
    users: Mutex<HashMap<String, String>>,
    disabled: Mutex<HashSet<String>>,
}

impl Creds {
    pub fn with(users: &[(&str, &str)]) -> Arc<Creds> {
        let creds = Creds::default();
        for (u, p) in users {
            creds
                .users
                .lock()
                .unwrap()
                .insert(u.to_string(), p.to_string());
        }
        Arc::new(creds)
    }

    pub fn disable(&self, user: &str) {
        self.disabled.lock().unwrap().insert(user.to_string());
    }
}

impl CredentialCheck for Creds {
    fn check(&self, username: &str, password: &str) -> bool {
        !self.disabled.lock().unwrap().contains(username)
            && self.users.lock().unwrap().get(username).map(String::as_str) == Some(password)
    }
}

/// A plain rumqttc client as a screen (or anyone) would use it, with its event loop polled
/// by a task that forwards every incoming packet. It does not reconnect.
pub struct TestClient {
    pub client: AsyncClient,
    packets: mpsc::UnboundedReceiver<Packet>,
    /// Packets received while waiting for something else, oldest first.
    skipped: std::collections::VecDeque<Packet>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestClient {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Connects a test client; `Err` carries the connection error (a refused login).
pub async fn connect(
    port: u16,
    client_id: &str,
    user: &str,
    password: &str,
) -> Result<TestClient, String> {
    connect_to("127.0.0.1", port, None, client_id, user, password).await
}

/// Connects a test client to `host:port`, over TLS with `tls`; `Err` carries the connection
/// error in the words of [`gatecast_tls::explain`].
pub async fn connect_to(
    host: &str,
    port: u16,
    tls: Option<&gatecast_tls::ClientTrust>,
    client_id: &str,
    user: &str,
    password: &str,
) -> Result<TestClient, String> {
    let mut options = MqttOptions::new(client_id, host, port);
    options
        .set_credentials(user, password)
        .set_keep_alive(Duration::from_secs(30))
        .set_max_packet_size(MAX_PACKET_SIZE, MAX_PACKET_SIZE);
    if let Some(trust) = tls {
        let config = gatecast_tls::client_config(trust).map_err(|e| e.to_string())?;
        options.set_transport(rumqttc::Transport::tls_with_config(
            rumqttc::TlsConfiguration::Rustls(config),
        ));
    }
    let (client, mut eventloop) = AsyncClient::new(options, 64);
    let first = tokio::time::timeout(DEADLINE, eventloop.poll())
        .await
        .map_err(|_| "no CONNACK and no error before the deadline".to_string())?;
    match first {
        Ok(Event::Incoming(Packet::ConnAck(ack)))
            if ack.code == rumqttc::ConnectReturnCode::Success => {}
        Ok(other) => return Err(format!("unexpected first event {other:?}")),
        Err(e) => return Err(gatecast_tls::explain(&e)),
    }
    let (tx, packets) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        while let Ok(event) = eventloop.poll().await {
            if let Event::Incoming(p) = event {
                if tx.send(p).is_err() {
                    break;
                }
            }
        }
    });
    Ok(TestClient {
        client,
        packets,
        skipped: Default::default(),
        task,
    })
}

impl TestClient {
    /// Subscribes at QoS 1 and waits for the SUBACK; returns whether the broker granted it.
    pub async fn subscribe(&mut self, filter: &str) -> bool {
        self.client
            .subscribe(filter, QoS::AtLeastOnce)
            .await
            .unwrap();
        let packet = self
            .next_matching(|p| matches!(p, Packet::SubAck(_)))
            .await
            .unwrap_or_else(|| panic!("no SUBACK for {filter}"));
        match packet {
            Packet::SubAck(ack) => ack
                .return_codes
                .iter()
                .all(|c| !matches!(c, rumqttc::SubscribeReasonCode::Failure)),
            _ => unreachable!(),
        }
    }

    /// Publishes at QoS 1 and waits for the PUBACK.
    pub async fn publish(&mut self, topic: &str, payload: Vec<u8>, retain: bool) {
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload)
            .await
            .unwrap();
        self.next_matching(|p| matches!(p, Packet::PubAck(_)))
            .await
            .unwrap_or_else(|| panic!("no PUBACK for {topic}"));
    }

    /// The next PUBLISH received, or `None` at the deadline.
    pub async fn next_publish(&mut self) -> Option<Publish> {
        match self
            .next_matching(|p| matches!(p, Packet::Publish(_)))
            .await?
        {
            Packet::Publish(p) => Some(p),
            _ => unreachable!(),
        }
    }

    /// Whether the connection has ended (the poll task stopped), waiting up to the deadline.
    pub async fn closed(&mut self) -> bool {
        tokio::time::timeout(DEADLINE, async {
            while self.packets.recv().await.is_some() {}
        })
        .await
        .is_ok()
    }

    async fn next_matching(&mut self, want: impl Fn(&Packet) -> bool) -> Option<Packet> {
        if let Some(i) = self.skipped.iter().position(&want) {
            return self.skipped.remove(i);
        }
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let packet = tokio::time::timeout_at(deadline, self.packets.recv())
                .await
                .ok()??;
            if want(&packet) {
                return Some(packet);
            }
            self.skipped.push_back(packet);
        }
    }
}
