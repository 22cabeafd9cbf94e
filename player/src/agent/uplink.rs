//! The uploader and the two tasks bridging its byte channels to the MQTT link (receipts
//! batches out, acks in).

use playlists::keys::{KeySet, SecretKey};
use playlists::topics::Kind;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::PlayerConfig;
use crate::journal::Journal;
use crate::mqtt::{MqttHandle, Outgoing};
use crate::uploader::{Uploader, UploaderConfig, UploaderError};

/// The running uploader and its bridges.
pub(super) struct Uplink {
    uploader: JoinHandle<Result<(), UploaderError>>,
    bridge_out: JoinHandle<()>,
    bridge_acks: JoinHandle<()>,
}

/// What the uploader needs: the journal to send, the key to sign batches with, the
/// controller keys acks are checked with (`keys` at start, then `live`).
pub(super) struct UplinkSetup<'a> {
    /// The receipt journal.
    pub journal: &'a Journal,
    /// This screen's device key.
    pub device_key: SecretKey,
    /// Controller keys at start.
    pub keys: KeySet,
    /// Controller keys as they change (rotation, end of overlap).
    pub live: watch::Receiver<KeySet>,
    /// Batch sizes and timeouts.
    pub config: &'a PlayerConfig,
}

impl Uplink {
    /// Starts the uploader (until `stop` turns true) and takes the acks from `mqtt`.
    pub fn spawn(
        setup: UplinkSetup<'_>,
        mqtt: &mut MqttHandle,
        stop: watch::Receiver<bool>,
    ) -> Uplink {
        let (up_out_tx, mut up_out_rx) = mpsc::channel::<Vec<u8>>(2);
        let (up_ack_tx, up_ack_rx) = mpsc::channel::<Vec<u8>>(16);
        let uploader = Uploader::new(
            setup.journal.clone(),
            setup.device_key,
            setup.keys,
            UploaderConfig::from_config(setup.config),
        )
        .with_controller_keys(setup.live);
        let uploader = {
            let mut stop = stop;
            tokio::spawn(uploader.run(up_out_tx, up_ack_rx, async move {
                let _ = stop.wait_for(|s| *s).await;
            }))
        };
        let bridge_out = {
            let out = mqtt.outgoing.clone();
            tokio::spawn(async move {
                while let Some(payload) = up_out_rx.recv().await {
                    let batch = Outgoing {
                        kind: Kind::Receipts,
                        payload,
                    };
                    if out.send(batch).await.is_err() {
                        return;
                    }
                }
            })
        };
        let mut acks = std::mem::replace(&mut mqtt.acks, mpsc::channel(1).1);
        let bridge_acks = tokio::spawn(async move {
            while let Some(b) = acks.recv().await {
                if up_ack_tx.send(b.to_vec()).await.is_err() {
                    return;
                }
            }
        });
        Uplink {
            uploader,
            bridge_out,
            bridge_acks,
        }
    }

    /// Waits for the uploader to stop (after `stop` turned true), then ends the bridges.
    pub async fn stop(self) {
        match self.uploader.await {
            Ok(Err(e)) => tracing::error!(error = %e, "uploader stopped with an error"),
            Err(e) => tracing::error!(error = %e, "uploader task failed"),
            Ok(Ok(())) => {}
        }
        self.bridge_out.abort();
        self.bridge_acks.abort();
    }
}
