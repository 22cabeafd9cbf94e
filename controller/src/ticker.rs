//! Building, signing, storing and sending each screen's ticker set (`docs/protocol.md` §20):
//! like alert sets, a new version on every change, retained on the screen's `ticker` topic.

use playlists::keys::SecretKey;
use playlists::manifest::{AlertText, ManifestError, TickerItem, TickerSet};
use playlists::topics::{topic, Kind};

use crate::approvals::Approvals;
use crate::publish::{Outbox, PublishError, Published};
use crate::store::{ScreenRecord, Store, StoredTickerSet, TickerRecord};

/// A ticker record in its signed form; `None` if its times do not parse (never stored so).
fn item_of(t: &TickerRecord) -> Option<TickerItem> {
    let starts_at = match &t.starts_at {
        Some(s) => Some(s.parse().ok()?),
        None => None,
    };
    Some(TickerItem {
        id: t.id.clone(),
        priority: t.priority,
        starts_at,
        expires_at: t.expires_at.parse().ok()?,
        text: t
            .text
            .iter()
            .map(|x| AlertText {
                lang: x.lang.clone(),
                text: x.text.clone(),
            })
            .collect(),
    })
}

/// The live ticker items of `screen` at `now` (not removed, not expired, targeting it), in id
/// order, with `extra` (a record not yet stored) counted in.
fn live_items(
    store: &Store,
    screen: &ScreenRecord,
    now: jiff::Timestamp,
    extra: Option<&TickerRecord>,
) -> Result<Vec<TickerItem>, PublishError> {
    let mut recs = store.tickers()?;
    if let Some(e) = extra {
        recs.retain(|r| r.id != e.id);
        recs.push(e.clone());
    }
    recs.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(recs
        .iter()
        .filter(|r| !r.cancelled && r.targets.matches(screen))
        .filter_map(item_of)
        .filter(|i| now < i.expires_at)
        .collect())
}

/// Refuses ticker texts while the approval policy asks approvals of texts: the screens would
/// refuse nothing, so sending unapproved texts would go around the policy
/// (`docs/protocol.md` §19, §20).
fn check_policy(store: &Store, screen: &ScreenRecord) -> Result<(), PublishError> {
    match Approvals::load(store)? {
        Some(a) if a.policy.alert_threshold > 0 => Err(PublishError::NotApproved {
            screen: screen.id.clone(),
            message: format!(
                "the approval policy asks {} approval(s) for each text, and ticker texts cannot carry approvals yet; send the correction as an alert",
                a.policy.alert_threshold
            ),
        }),
        _ => Ok(()),
    }
}

/// Checks a new ticker record with the contract's own rules ([`TickerSet::validate`]) within
/// the ticker set of every screen it targets, before it is stored.
pub fn check_ticker(
    store: &Store,
    rec: &TickerRecord,
    now: jiff::Timestamp,
) -> Result<(), PublishError> {
    let refused = |e: ManifestError| {
        let message = e.to_string();
        PublishError::TickerRefused {
            field: message
                .split_once(": ")
                .and_then(|(f, _)| f.strip_prefix("items[0]."))
                .map(str::to_owned),
            message,
        }
    };
    let alone = item_of(rec).ok_or_else(|| PublishError::TickerRefused {
        field: Some("expires_at".into()),
        message: "not an RFC 3339 time".into(),
    })?;
    // Alone first, so a fault of the text itself is named by its field.
    TickerSet {
        screen: "check".into(),
        version: 1,
        issued_at: now,
        items: vec![alone],
    }
    .validate()
    .map_err(refused)?;
    for s in store.screens()?.iter().filter(|s| rec.targets.matches(s)) {
        check_policy(store, s)?;
        let set = TickerSet {
            screen: s.id.clone(),
            version: 1,
            issued_at: now,
            items: live_items(store, s, now, Some(rec))?,
        };
        set.validate().map_err(|e| PublishError::TickerRefused {
            field: None,
            message: e.to_string(),
        })?;
    }
    Ok(())
}

/// Builds and signs the full current ticker set of each of `screens` (a new version every
/// time), stores them all with one flush, then sends them.
pub async fn publish_tickers(
    store: &Store,
    key: &SecretKey,
    outbox: &dyn Outbox,
    screens: &[&ScreenRecord],
    now: jiff::Timestamp,
) -> Result<Vec<Published>, PublishError> {
    let mut staged = Vec::with_capacity(screens.len());
    for screen in screens {
        let items = live_items(store, screen, now, None)?;
        if !items.is_empty() {
            check_policy(store, screen)?;
        }
        let version = store
            .ticker_set(&screen.id)?
            .map(|p| p.version)
            .unwrap_or(0)
            + 1;
        let ids = items.iter().map(|i| i.id.clone()).collect();
        let set = TickerSet {
            screen: screen.id.clone(),
            version,
            issued_at: now,
            items,
        };
        let bytes = set
            .sign(key)
            .map_err(|e| PublishError::Invalid {
                screen: screen.id.clone(),
                message: e.to_string(),
            })?
            .to_json();
        staged.push(StoredTickerSet {
            screen: screen.id.clone(),
            version,
            items: ids,
            envelope: String::from_utf8(bytes).expect("envelope JSON is UTF-8"),
        });
    }
    store.put_ticker_sets(&staged).await?;
    let mut out = Vec::with_capacity(staged.len());
    for t in staged {
        let delivered = outbox
            .send(topic(&t.screen, Kind::Ticker), t.envelope.into_bytes())
            .await
            .map_err(|e| tracing::warn!(screen = %t.screen, "sending the ticker set failed: {e}"))
            .is_ok();
        out.push(Published {
            screen: t.screen,
            version: t.version,
            changed: true,
            delivered,
        });
    }
    Ok(out)
}
