//! Attacks through a polled CAP feed (`docs/security.md` §3 row 97, `docs/protocol.md` §22),
//! each from a real local HTTP server: a body that runs past the limit, a DTD, a redirect to
//! another host, a body that never ends. Each is cut off with a named error shown as the
//! feed's state, and the loop keeps running: the good message served afterwards comes in.

use crate::api_cap::flood;
use crate::api_cap_feed::{feed_ctl, inbox, wait_feed, Answer, FeedServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_cap_feed_huge_dtd_redirect_endless_are_cut_off() {
    let server = FeedServer::start().await;
    // Another host for the same server: "localhost" is not the feed's "127.0.0.1".
    server.set(
        "/elsewhere.xml",
        Answer::Xml(flood().replace("LCI-KTTV-2026-0907-01", "LCI-ELSEWHERE")),
    );
    server.set("/cap.xml", Answer::Huge);
    let dir = tempfile::tempdir().unwrap();
    let ctl = feed_ctl(dir.path(), format!("{}/cap.xml", server.base), Some(2)).await;

    let f = wait_feed(&ctl, "the huge body cut off", |f| {
        f["error"]["code"] == "feed_too_large"
    })
    .await;
    let msg = f["error"]["message"].as_str().unwrap().to_string();
    assert!(
        msg.contains("/cap.xml") && msg.contains("1048576 bytes"),
        "{msg}"
    );

    server.set(
        "/cap.xml",
        Answer::Xml(format!(
            "<?xml version=\"1.0\"?>\n<!DOCTYPE alert [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;\">]>\n{}",
            flood().split_once("<alert").map(|(_, r)| format!("<alert{r}")).unwrap()
        )),
    );
    wait_feed(&ctl, "the DTD refused", |f| {
        f["error"]["code"] == "feed_dtd_refused"
    })
    .await;

    server.set(
        "/cap.xml",
        Answer::Redirect(format!("http://localhost:{}/elsewhere.xml", server.port)),
    );
    let f = wait_feed(&ctl, "the redirect to another host refused", |f| {
        f["error"]["code"] == "feed_refused_host"
    })
    .await;
    assert!(
        f["error"]["message"]
            .as_str()
            .unwrap()
            .contains("localhost"),
        "{f}"
    );
    assert_eq!(
        server.hits("/elsewhere.xml"),
        0,
        "the redirect was followed"
    );

    server.set("/cap.xml", Answer::Endless);
    let f = wait_feed(&ctl, "the endless body cut off", |f| {
        f["error"]["code"] == "feed_timeout"
    })
    .await;
    assert!(
        f["error"]["message"]
            .as_str()
            .unwrap()
            .contains("within 2 s"),
        "{f}"
    );
    assert_eq!(
        inbox(&ctl).await["entries"].as_array().unwrap().len(),
        0,
        "nothing was taken from the attacks"
    );

    // The loop is still running: a good message comes in.
    server.set("/cap.xml", Answer::Xml(flood()));
    let f = wait_feed(&ctl, "the good message after the attacks", |f| {
        f["taken"] == 1
    })
    .await;
    assert!(f["error"].is_null(), "{f}");
}
