//! Building, signing, storing and sending each screen's ticker set (`docs/protocol.md` §20):
//! like alert sets, a new version on every change, retained on the screen's `ticker` topic.
//! Under an approval policy a set carries the policy chain and the approvals of its texts, and
//! a text not yet approved for a screen's gate waits (stored, listed as pending) until it is.

use playlists::approval::{sign_ticker, Attachments};
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

/// The items of `items` whose texts reach the policy's `alert_threshold` for a screen of
/// `gate`, with the attachments that cover them, and the first refusal of an item left
/// out (it stays stored, pending, and is sent once approved: `docs/protocol.md` §20).
fn approved_items(
    approvals: Option<&Approvals>,
    screen: &ScreenRecord,
    items: Vec<TickerItem>,
    now: jiff::Timestamp,
) -> (Vec<TickerItem>, Attachments, Option<PublishError>) {
    let Some(a) = approvals else {
        return (items, Attachments::default(), None);
    };
    let alone = |item: &TickerItem| TickerSet {
        screen: screen.id.clone(),
        version: 1,
        issued_at: now,
        items: vec![item.clone()],
    };
    let mut first = None;
    let items: Vec<TickerItem> = items
        .into_iter()
        .filter(|i| match a.for_ticker(&alone(i), &screen.gate, now) {
            Ok(_) => true,
            Err(e) => {
                first.get_or_insert(PublishError::NotApproved {
                    screen: screen.id.clone(),
                    message: e.to_string(),
                });
                false
            }
        })
        .collect();
    let set = TickerSet {
        screen: screen.id.clone(),
        version: 1,
        issued_at: now,
        items: items.clone(),
    };
    let att = a.for_ticker(&set, &screen.gate, now).unwrap_or_default();
    (items, att, first)
}

/// Checks a new ticker record with the contract's own rules ([`TickerSet::validate`]) within
/// the ticker set of every screen it targets, before it is stored. `Ok(Some(refusal))`: valid,
/// but under the approval policy one of its texts lacks approvals for a target screen
/// (`not_approved` naming the text, its language and what it lacks); it is stored as pending
/// all the same and sent once approved.
pub fn check_ticker(
    store: &Store,
    rec: &TickerRecord,
    now: jiff::Timestamp,
) -> Result<Option<PublishError>, PublishError> {
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
        items: vec![alone.clone()],
    }
    .validate()
    .map_err(refused)?;
    let approvals = Approvals::load(store)?;
    let mut pending = None;
    for s in store.screens()?.iter().filter(|s| rec.targets.matches(s)) {
        if pending.is_none() {
            let (_, _, refused) = approved_items(approvals.as_ref(), s, vec![alone.clone()], now);
            pending = refused;
        }
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
    Ok(pending)
}

/// The screens whose current ticker set differs from the approved live items they would get
/// now: after a new approval, a pending ticker text is sent to them
/// (`docs/protocol.md` §20).
pub fn newly_approved(
    store: &Store,
    now: jiff::Timestamp,
) -> Result<Vec<ScreenRecord>, PublishError> {
    let Some(approvals) = Approvals::load(store)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for screen in store.screens()? {
        let live = live_items(store, &screen, now, None)?;
        let (items, _, _) = approved_items(Some(&approvals), &screen, live, now);
        let ids: Vec<String> = items.into_iter().map(|i| i.id).collect();
        let sent = store.ticker_set(&screen.id)?.map(|t| t.items);
        if sent.unwrap_or_default() != ids {
            out.push(screen);
        }
    }
    Ok(out)
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
    let approvals = Approvals::load(store)?;
    let mut staged = Vec::with_capacity(screens.len());
    for screen in screens {
        let live = live_items(store, screen, now, None)?;
        let (items, att, _) = approved_items(approvals.as_ref(), screen, live, now);
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
        let bytes = sign_ticker(&set, &att, key)
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
