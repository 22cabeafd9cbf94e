//! Ticker sets (`docs/protocol.md` §20): the short texts a screen scrolls in its `ticker`
//! region, signed and versioned like alert sets, on their own retained topic.

use std::collections::HashSet;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::validate::{check_count, check_id, check_lang, check_screen, check_text, lang_key};
use super::verify::{check_not_newer, check_own_screen, peek_version};
use super::{rfc3339, AlertText, ManifestError, RejectReason, Rejection};
use crate::envelope::{self, Envelope, TICKER_TYPE};
use crate::keys::{KeySet, SecretKey};

/// Most texts in one ticker set.
pub const MAX_TICKER_ITEMS: usize = 100;
/// Longest ticker text, in bytes of UTF-8 (one line: no control characters at all).
pub const MAX_TICKER_TEXT_LEN: usize = 1000;
/// Most languages of one ticker text.
pub const MAX_TICKER_TEXTS: usize = 32;

/// The full current ticker set of one screen (payload of a `ticker` envelope). Removing a
/// text = publishing a new version without it. Under an approval policy the payload also
/// carries `policy` and `approvals` members, as an alert set does
/// ([`crate::approval::Attachments`], checked by [`crate::approval::check_ticker`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TickerSet {
    /// The screen this set is for.
    pub screen: String,
    /// Strictly increasing per screen (its own sequence).
    pub version: u64,
    /// When the controller issued it (RFC 3339 UTC).
    #[serde(with = "rfc3339")]
    pub issued_at: Timestamp,
    /// The texts; may be empty (= the ticker region shows nothing).
    pub items: Vec<TickerItem>,
}

/// One ticker text in one or more languages, with its validity window and priority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TickerItem {
    /// Unique id within the set ([`super::is_valid_id`]); breaks priority ties.
    pub id: String,
    /// Higher scrolls first.
    pub priority: i32,
    /// Not shown before this instant (RFC 3339 UTC); absent = at once.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_rfc3339")]
    pub starts_at: Option<Timestamp>,
    /// Not shown at or after this instant (RFC 3339 UTC).
    #[serde(with = "rfc3339")]
    pub expires_at: Timestamp,
    /// The text in one or more languages.
    pub text: Vec<AlertText>,
}

/// One pass of the ticker: the text of one item in one language, scrolled across once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TickerTurn {
    /// The item's id (the receipt's `playlist`).
    pub id: String,
    /// The language shown.
    pub lang: String,
    /// The exact text shown (its SHA-256 is the receipt's `media`).
    pub text: String,
}

impl TickerSet {
    /// Parses a ticker set from JSON without validating it (use [`verify_ticker`] for anything
    /// that comes from outside).
    pub fn from_json(bytes: &[u8]) -> Result<TickerSet, ManifestError> {
        serde_json::from_slice(bytes).map_err(|e| ManifestError::Json(e.to_string()))
    }

    /// The set as compact JSON (the bytes that get signed).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a ticker set always serializes to JSON")
    }

    /// Validates the set, then signs its JSON as a `ticker` envelope.
    pub fn sign(&self, key: &SecretKey) -> Result<Envelope, ManifestError> {
        self.validate()?;
        Ok(Envelope::sign(TICKER_TYPE, self.to_json(), key))
    }

    /// Checks the screen id, item ids (valid, unique), windows and texts (valid, distinct
    /// languages, one line, 1..=[`MAX_TICKER_TEXT_LEN`] bytes); the error names the field.
    pub fn validate(&self) -> Result<(), ManifestError> {
        check_screen(&self.screen)?;
        check_count("items", self.items.len(), MAX_TICKER_ITEMS)?;
        let mut ids = HashSet::new();
        for (i, t) in self.items.iter().enumerate() {
            let field = format!("items[{i}]");
            check_id(&format!("{field}.id"), &t.id)?;
            if !ids.insert(t.id.as_str()) {
                return Err(ManifestError::DuplicateId {
                    field: format!("{field}.id"),
                    id: t.id.clone(),
                });
            }
            if matches!(t.starts_at, Some(s) if s >= t.expires_at) {
                return Err(ManifestError::Invalid {
                    field: format!("{field}.starts_at"),
                    problem: "must be earlier than expires_at".into(),
                });
            }
            if t.text.is_empty() {
                return Err(ManifestError::Empty {
                    field: format!("{field}.text"),
                });
            }
            check_count(&format!("{field}.text"), t.text.len(), MAX_TICKER_TEXTS)?;
            let mut langs = HashSet::new();
            for (j, x) in t.text.iter().enumerate() {
                let tfield = format!("{field}.text[{j}]");
                check_lang(&format!("{tfield}.lang"), &x.lang)?;
                if !langs.insert(lang_key(&x.lang)) {
                    return Err(ManifestError::DuplicateLanguage {
                        field: format!("{tfield}.lang"),
                        lang: x.lang.clone(),
                    });
                }
                if x.text.trim().is_empty() {
                    return Err(ManifestError::Empty {
                        field: format!("{tfield}.text"),
                    });
                }
                check_text(
                    &format!("{tfield}.text"),
                    &x.text,
                    MAX_TICKER_TEXT_LEN,
                    false,
                )?;
            }
        }
        Ok(())
    }
}

/// The one entry point for a ticker set from outside (`docs/protocol.md` §20), in the order of
/// [`super::verify_alerts`]: the envelope verifies as `ticker` under `trusted`, the payload
/// parses, `screen == own_screen`, `version` > the last accepted *ticker* version, the set is
/// valid. An expired text is kept in the set but never shown ([`active_ticker`]).
pub fn verify_ticker(
    envelope_bytes: &[u8],
    trusted: &KeySet,
    own_screen: &str,
    last_accepted_version: Option<u64>,
) -> Result<TickerSet, Rejection> {
    let verified = envelope::verify(envelope_bytes, TICKER_TYPE, trusted)?;
    let t = TickerSet::from_json(&verified.payload).map_err(|e| {
        Rejection::new(
            RejectReason::InvalidContent,
            peek_version(&verified.payload),
            e.to_string(),
        )
    })?;
    check_own_screen(&t.screen, own_screen, t.version)?;
    check_not_newer(t.version, last_accepted_version)?;
    t.validate().map_err(|e| {
        Rejection::new(RejectReason::InvalidContent, Some(t.version), e.to_string())
    })?;
    Ok(t)
}

/// The items shown at `now` (`starts_at ≤ now < expires_at`), highest priority first, ties
/// by `id` (byte-wise).
pub fn active_ticker(set: &TickerSet, now: Timestamp) -> Vec<&TickerItem> {
    let mut v: Vec<&TickerItem> = set
        .items
        .iter()
        .filter(|t| t.starts_at.is_none_or(|s| s <= now) && now < t.expires_at)
        .collect();
    v.sort_by(|a, b| {
        b.priority
            .cmp(&a.priority)
            .then_with(|| a.id.as_bytes().cmp(b.id.as_bytes()))
    });
    v
}

/// The next instant after `now` at which [`active_ticker`] may change (a start or an expiry),
/// for a timer.
pub fn next_ticker_change(set: &TickerSet, now: Timestamp) -> Option<Timestamp> {
    set.items
        .iter()
        .flat_map(|t| t.starts_at.into_iter().chain([t.expires_at]))
        .filter(|t| *t > now)
        .min()
}

/// One round of the ticker at `now`, the gate's languages in turn: for each language of
/// `languages` (the manifest's rotation), every active item's text in that language, in
/// [`active_ticker`] order. An item with no text in any of `languages` (or every item, when
/// `languages` is empty) shows its first text in the first language's pass, so no active
/// text is ever left out.
pub fn ticker_turns(set: &TickerSet, languages: &[String], now: Timestamp) -> Vec<TickerTurn> {
    let items = active_ticker(set, now);
    let turn = |item: &TickerItem, t: &AlertText| TickerTurn {
        id: item.id.clone(),
        lang: t.lang.clone(),
        text: t.text.clone(),
    };
    fn in_lang<'a>(item: &'a TickerItem, lang: &str) -> Option<&'a AlertText> {
        item.text
            .iter()
            .find(|t| lang_key(&t.lang) == lang_key(lang))
    }
    let mut out = Vec::new();
    for (li, lang) in languages.iter().enumerate() {
        for item in &items {
            if let Some(t) = in_lang(item, lang) {
                out.push(turn(item, t));
            } else if li == 0 && !languages.iter().any(|l| in_lang(item, l).is_some()) {
                out.push(turn(item, &item.text[0]));
            }
        }
    }
    if languages.is_empty() {
        out.extend(items.iter().map(|item| turn(item, &item.text[0])));
    }
    out
}

/// Serde for an optional [`Timestamp`] as an RFC 3339 string.
mod opt_rfc3339 {
    use jiff::Timestamp;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ts: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match ts {
            Some(ts) => s.collect_str(ts),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
        let Some(s) = Option::<String>::deserialize(d)? else {
            return Ok(None);
        };
        s.parse::<Timestamp>().map(Some).map_err(|e| {
            serde::de::Error::custom(format!("{s:?} is not an RFC 3339 timestamp: {e}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeySet;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn text(lang: &str, t: &str) -> AlertText {
        AlertText {
            lang: lang.into(),
            text: t.into(),
        }
    }

    fn set(version: u64) -> TickerSet {
        TickerSet {
            screen: "lc-1".into(),
            version,
            issued_at: ts("2026-01-05T03:00:00Z"),
            items: vec![
                TickerItem {
                    id: "road".into(),
                    priority: 1,
                    starts_at: None,
                    expires_at: ts("2026-01-05T09:00:00Z"),
                    text: vec![
                        text("vi", "Đường QL4D thông xe."),
                        text("en", "Road 4D open."),
                    ],
                },
                TickerItem {
                    id: "fix".into(),
                    priority: 5,
                    starts_at: Some(ts("2026-01-05T04:00:00Z")),
                    expires_at: ts("2026-01-05T05:00:00Z"),
                    text: vec![text("zh-Hans", "更正"), text("vi", "Đính chính")],
                },
            ],
        }
    }

    fn key() -> SecretKey {
        SecretKey::from_seed([7; 32])
    }

    fn trusted() -> KeySet {
        let mut k = KeySet::new();
        k.insert(key().public());
        k
    }

    #[test]
    fn signed_set_verifies_and_round_trips() {
        let env = set(3).sign(&key()).unwrap().to_json();
        assert_eq!(
            verify_ticker(&env, &trusted(), "lc-1", Some(2)).unwrap(),
            set(3)
        );
    }

    #[test]
    fn attack_forged_ticker_set_is_refused() {
        let forger = SecretKey::from_seed([9; 32]);
        let env = set(3).sign(&forger).unwrap().to_json();
        let e = verify_ticker(&env, &trusted(), "lc-1", None).unwrap_err();
        assert_eq!(e.reason, RejectReason::UnknownKey);
        // Same key, signed as an alert set: the type is covered by the signature.
        let env = Envelope::sign(crate::envelope::ALERT_TYPE, set(3).to_json(), &key()).to_json();
        let e = verify_ticker(&env, &trusted(), "lc-1", None).unwrap_err();
        assert_eq!(e.reason, RejectReason::WrongType);
        // A payload changed after signing.
        let mut env = set(3).sign(&key()).unwrap();
        env.payload = set(4).to_json();
        let e = verify_ticker(&env.to_json(), &trusted(), "lc-1", None).unwrap_err();
        assert_eq!(e.reason, RejectReason::BadSignature);
    }

    #[test]
    fn attack_replayed_older_ticker_version_is_refused() {
        let env = set(3).sign(&key()).unwrap().to_json();
        for last in [3, 4] {
            let e = verify_ticker(&env, &trusted(), "lc-1", Some(last)).unwrap_err();
            assert_eq!(e.reason, RejectReason::NotNewer);
            assert_eq!(e.version, Some(3));
        }
        let e = verify_ticker(&env, &trusted(), "lc-2", None).unwrap_err();
        assert_eq!(e.reason, RejectReason::WrongScreen);
    }

    #[test]
    fn attack_expired_ticker_text_is_never_shown() {
        let s = set(1);
        assert_eq!(active_ticker(&s, ts("2026-01-05T09:00:00Z")).len(), 0);
        assert!(ticker_turns(&s, &["vi".into()], ts("2026-01-05T10:00:00Z")).is_empty());
        // Before its start and after its end the correction is not shown.
        let ids = |now| -> Vec<String> {
            active_ticker(&s, ts(now))
                .iter()
                .map(|t| t.id.clone())
                .collect()
        };
        assert_eq!(ids("2026-01-05T03:30:00Z"), ["road"]);
        assert_eq!(ids("2026-01-05T04:30:00Z"), ["fix", "road"]);
        assert_eq!(ids("2026-01-05T05:00:00Z"), ["road"]);
        assert_eq!(
            next_ticker_change(&s, ts("2026-01-05T03:30:00Z")),
            Some(ts("2026-01-05T04:00:00Z"))
        );
    }

    #[test]
    fn turns_follow_the_gate_languages() {
        let s = set(1);
        let langs = vec!["vi".to_string(), "en".to_string()];
        let turns: Vec<(String, String)> = ticker_turns(&s, &langs, ts("2026-01-05T04:30:00Z"))
            .into_iter()
            .map(|t| (t.id, t.lang))
            .collect();
        let want = [("fix", "vi"), ("road", "vi"), ("road", "en")];
        assert_eq!(
            turns,
            want.map(|(a, b)| (a.to_string(), b.to_string())).to_vec()
        );
        // No text in the gate's languages: the first text, in the first pass.
        let turns = ticker_turns(&s, &["hmn".into()], ts("2026-01-05T04:30:00Z"));
        assert_eq!(turns.len(), 2);
        assert_eq!(turns[0].lang, "zh-Hans");
    }

    #[test]
    fn invalid_sets_name_the_field() {
        let mut s = set(1);
        s.items[0].text[0].text = "a\nb".into();
        assert!(s
            .validate()
            .unwrap_err()
            .to_string()
            .contains("items[0].text[0].text"));
        let mut s = set(1);
        s.items[1].starts_at = Some(ts("2026-01-05T06:00:00Z"));
        assert!(s
            .validate()
            .unwrap_err()
            .to_string()
            .contains("items[1].starts_at"));
        let mut s = set(1);
        s.items[1].id = "road".into();
        assert!(s.validate().is_err());
    }
}
