//! CAP 1.2 intake (`docs/protocol.md` §22): parsing an OASIS Common Alerting Protocol 1.2
//! message into what an alert needs, safely, and the `[cap]` settings.
//!
//! Parsing is pure (bytes and `now` in, a [`CapMessage`] or a named [`CapError`] out). The XML
//! parser (`roxmltree`) refuses any document type declaration, so neither internal entities
//! ("billion laughs") nor external ones (files, URLs) can be declared; a reference to an
//! undeclared entity is an error too. The size limit is checked before parsing.

pub mod area;
pub mod feed;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The CAP 1.2 XML namespace.
pub const CAP_NS: &str = "urn:oasis:names:tc:emergency:cap:1.2";
/// Default largest accepted CAP message: 256 KiB (the OASIS examples are under 4 KiB; a real
/// warning with several languages and polygons stays well under 64 KiB).
pub const DEFAULT_MAX_BYTES: usize = 256 * 1024;
/// Most XML nodes a message may have (the parser stops counting there).
const MAX_NODES: u32 = 20_000;
/// How long a message without `<expires>` stays on screens, from its `<sent>` time.
pub const DEFAULT_VALIDITY_HOURS: u64 = 6;
/// The alert text limit of `docs/protocol.md` §9, in bytes.
const TEXT_MAX_BYTES: usize = 4096;

/// Why a CAP message was refused. The `code` of each is the API's error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapError {
    /// The body is larger than `[cap] max_bytes`.
    #[error(
        "the CAP message is {size} bytes; at most {limit} bytes are accepted ([cap] max_bytes)"
    )]
    TooLarge {
        /// Bytes received.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The document has a `<!DOCTYPE …>`: no DTD (and so no declared entity) is accepted.
    #[error("the CAP message has a document type declaration (<!DOCTYPE>); DTDs and entity declarations are refused")]
    DtdRefused,
    /// The message is not well-formed or not a valid CAP 1.2 alert.
    #[error("{0}")]
    Invalid(String),
    /// Every `<info>` block expired (or the message's validity ended) before `now`.
    #[error("the CAP message expired at {0}; it is not shown")]
    Expired(String),
}

impl CapError {
    /// The API error code: `cap_too_large`, `cap_dtd_refused`, `cap_invalid`, `cap_expired`.
    pub fn code(&self) -> &'static str {
        match self {
            CapError::TooLarge { .. } => "cap_too_large",
            CapError::DtdRefused => "cap_dtd_refused",
            CapError::Invalid(_) => "cap_invalid",
            CapError::Expired(_) => "cap_expired",
        }
    }
}

fn invalid(what: impl std::fmt::Display) -> CapError {
    CapError::Invalid(format!("cap_invalid: {what}"))
}

/// A `<geocode>` of an `<area>`: `valueName` and `value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Geocode {
    /// The code system (`valueName`, e.g. `ISO3166-2`).
    pub name: String,
    /// The code.
    pub value: String,
}

/// One `<area>` of an `<info>` block.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CapArea {
    /// `<areaDesc>`, the area in the sender's words.
    pub desc: String,
    /// `<polygon>`s: closed rings of (lat, lon) in WGS 84.
    pub polygons: Vec<Vec<(f64, f64)>>,
    /// `<circle>`s: centre (lat, lon) and radius in km.
    pub circles: Vec<((f64, f64), f64)>,
    /// `<geocode>`s.
    pub geocodes: Vec<Geocode>,
}

/// One `<info>` block, its language mapped to the tag gatecast uses.
#[derive(Debug, Clone, PartialEq)]
pub struct CapInfo {
    /// gatecast's language tag (`vi`, `en`, `zh-Hans`, `hmn`, …).
    pub lang: String,
    /// `<event>`.
    pub event: String,
    /// `<urgency>`.
    pub urgency: String,
    /// `<severity>`.
    pub severity: String,
    /// `<headline>`, may be empty.
    pub headline: String,
    /// `<description>`, may be empty.
    pub description: String,
    /// The text a screen shows: headline, instruction and description, at most 4,096 bytes.
    pub text: String,
    /// `<expires>`, when given.
    pub expires: Option<jiff::Timestamp>,
    /// Its `<area>`s.
    pub areas: Vec<CapArea>,
}

/// A parsed CAP 1.2 alert, as far as gatecast uses it.
#[derive(Debug, Clone, PartialEq)]
pub struct CapMessage {
    /// `<identifier>`.
    pub identifier: String,
    /// `<sender>`.
    pub sender: String,
    /// `<sent>`.
    pub sent: jiff::Timestamp,
    /// `<status>` (`Actual`, `Exercise`, `System`, `Test`, `Draft`).
    pub status: String,
    /// `<msgType>` (`Alert`, `Update`, `Cancel`, `Ack`, `Error`).
    pub msg_type: String,
    /// `<references>`: `sender,identifier,sent` triples, space separated.
    pub references: Vec<String>,
    /// The `<info>` blocks still valid at `now`, one per language (the first of a language).
    pub infos: Vec<CapInfo>,
    /// When the alert stops being shown: the latest `<expires>` of its blocks, or `<sent>` plus
    /// [`DEFAULT_VALIDITY_HOURS`] when none gives one.
    pub expires: jiff::Timestamp,
}

impl CapMessage {
    /// The alert priority: 100 + 10 × severity + urgency (Extreme 4 … Unknown 0; Immediate 4 …
    /// Unknown 0), the highest over its blocks. A CAP alert outranks a hand-made alert of the
    /// default priority 0.
    pub fn priority(&self) -> i32 {
        self.infos
            .iter()
            .map(|i| {
                let sev = match i.severity.as_str() {
                    "Extreme" => 4,
                    "Severe" => 3,
                    "Moderate" => 2,
                    "Minor" => 1,
                    _ => 0,
                };
                let urg = match i.urgency.as_str() {
                    "Immediate" => 4,
                    "Expected" => 3,
                    "Future" => 2,
                    "Past" => 1,
                    _ => 0,
                };
                100 + 10 * sev + urg
            })
            .max()
            .unwrap_or(100)
    }

    /// How the message is shown by default (`docs/protocol.md` §22): as a full-screen alert
    /// when a block is `Extreme` or `Severe` and `Immediate` or `Expected`, else as a ticker
    /// text.
    pub fn default_display(&self) -> Display {
        let urgent = self.infos.iter().any(|i| {
            matches!(i.severity.as_str(), "Extreme" | "Severe")
                && matches!(i.urgency.as_str(), "Immediate" | "Expected")
        });
        if urgent {
            Display::Alert
        } else {
            Display::Ticker
        }
    }

    /// The ticker text of each language: the headline (or the event) and the description on
    /// one line, at most [`playlists::manifest::MAX_TICKER_TEXT_LEN`] bytes, ending with "…"
    /// when cut.
    pub fn ticker_lines(&self) -> Vec<(String, String)> {
        self.infos
            .iter()
            .map(|i| {
                let head = if i.headline.is_empty() {
                    &i.event
                } else {
                    &i.headline
                };
                let joined = if i.description.is_empty() {
                    head.clone()
                } else {
                    format!("{head} — {}", i.description)
                };
                let line = joined
                    .split(|c: char| c.is_whitespace() || c.is_control())
                    .filter(|w| !w.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ");
                (
                    i.lang.clone(),
                    cut(&line, playlists::manifest::MAX_TICKER_TEXT_LEN),
                )
            })
            .collect()
    }

    /// Every area of every block.
    pub fn areas(&self) -> impl Iterator<Item = &CapArea> {
        self.infos.iter().flat_map(|i| i.areas.iter())
    }
}

/// How a CAP message is shown on the matched gates' screens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Display {
    /// A full-screen alert (`docs/protocol.md` §9).
    Alert,
    /// A ticker text on the bottom line (`docs/protocol.md` §20).
    Ticker,
}

/// The `[cap]` section of the controller configuration (`docs/operations.md`, "CAP intake").
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CapSettings {
    /// Largest accepted message in bytes (`max_bytes`), default 256 KiB.
    pub max_bytes: Option<usize>,
    /// `<sender>`s whose messages are shown at once, without an operator's confirmation
    /// (`auto_senders`), compared exactly.
    pub auto_senders: Vec<String>,
    /// Where each gate stands (`[[cap.gates]]`), to match `<area>`s.
    pub gates: Vec<GateLocation>,
    /// Feeds polled for CAP messages (`[[cap.feeds]]`), each taken in like `POST /api/v1/cap`.
    pub feeds: Vec<feed::FeedSettings>,
}

impl CapSettings {
    /// The size limit in force.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes.unwrap_or(DEFAULT_MAX_BYTES)
    }
}

/// A gate's location (`[[cap.gates]]`): `gate` (the screens' gate name), `lat`, `lon` (WGS 84
/// degrees) and optional `geocodes` as `"valueName=value"` (e.g. `"ISO3166-2=VN-02"`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateLocation {
    /// The gate name, as in the screens' registration.
    pub gate: String,
    /// Latitude in degrees.
    pub lat: f64,
    /// Longitude in degrees.
    pub lon: f64,
    /// Geocodes of the place, `"valueName=value"`.
    #[serde(default)]
    pub geocodes: Vec<String>,
}

/// Maps a CAP `<language>` (RFC 3066, default `en-US`) to gatecast's tag: `vi`, `en`,
/// `zh-Hans` for Chinese in simplified script or unmarked, `zh-Hant`, `hmn`; any other valid
/// tag keeps its primary subtag.
pub fn map_language(cap: &str) -> Option<String> {
    let l = cap.trim();
    let l = if l.is_empty() { "en-US" } else { l };
    let lower = l.to_ascii_lowercase();
    let primary = lower.split('-').next().unwrap_or("");
    let tag = match primary {
        "zh" if lower.contains("hant") || lower.ends_with("-tw") || lower.ends_with("-hk") => {
            "zh-Hant".to_string()
        }
        "zh" => "zh-Hans".to_string(),
        p => p.to_string(),
    };
    playlists::manifest::is_valid_lang_tag(&tag).then_some(tag)
}

/// Parses and checks a CAP 1.2 message received at `now` with the size limit `max_bytes`.
///
/// Blocks whose `<expires>` is at or before `now` are dropped; when none is left the message
/// is [`CapError::Expired`].
pub fn parse(bytes: &[u8], max_bytes: usize, now: jiff::Timestamp) -> Result<CapMessage, CapError> {
    if bytes.len() > max_bytes {
        return Err(CapError::TooLarge {
            size: bytes.len(),
            limit: max_bytes,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| invalid(format!("not UTF-8 ({e})")))?;
    let opts = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
    };
    let doc = roxmltree::Document::parse_with_options(text, opts).map_err(|e| match e {
        roxmltree::Error::DtdDetected => CapError::DtdRefused,
        roxmltree::Error::UnknownEntityReference(name, pos) => invalid(format!(
            "entity &{name}; at {pos} is not declared (entities are refused)"
        )),
        e => invalid(format!("not well-formed XML: {e}")),
    })?;
    let root = doc.root_element();
    if root.tag_name().name() != "alert" || root.tag_name().namespace() != Some(CAP_NS) {
        return Err(invalid(format!(
            "the root element must be <alert xmlns=\"{CAP_NS}\">, found <{}> in namespace {:?}",
            root.tag_name().name(),
            root.tag_name().namespace().unwrap_or("")
        )));
    }
    let identifier = required(root, "identifier")?;
    let sender = required(root, "sender")?;
    let sent = time(root, "sent")?.ok_or_else(|| invalid("<sent> is missing"))?;
    let status = required(root, "status")?;
    let msg_type = required(root, "msgType")?;
    if !matches!(
        status.as_str(),
        "Actual" | "Exercise" | "System" | "Test" | "Draft"
    ) {
        return Err(invalid(format!(
            "<status> {status:?} is not a CAP 1.2 status"
        )));
    }
    if !matches!(
        msg_type.as_str(),
        "Alert" | "Update" | "Cancel" | "Ack" | "Error"
    ) {
        return Err(invalid(format!(
            "<msgType> {msg_type:?} is not a CAP 1.2 message type"
        )));
    }
    let references = child_text(root, "references")
        .map(|r| r.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    let mut by_lang: BTreeMap<String, CapInfo> = BTreeMap::new();
    let mut order = Vec::new();
    let mut any_info = false;
    let mut last_expiry: Option<jiff::Timestamp> = None;
    for (n, node) in children(root, "info").enumerate() {
        any_info = true;
        let info = parse_info(node, n)?;
        if let Some(e) = info.expires {
            last_expiry = Some(last_expiry.map_or(e, |l| l.max(e)));
            if e <= now {
                continue;
            }
        }
        if !by_lang.contains_key(&info.lang) {
            order.push(info.lang.clone());
            by_lang.insert(info.lang.clone(), info);
        }
    }
    let infos: Vec<CapInfo> = order.iter().filter_map(|l| by_lang.remove(l)).collect();
    if matches!(msg_type.as_str(), "Alert" | "Update") && !any_info {
        return Err(invalid(
            "an Alert or Update message needs at least one <info> block",
        ));
    }
    let default_end = sent
        .checked_add(jiff::SignedDuration::from_hours(
            DEFAULT_VALIDITY_HOURS as i64,
        ))
        .unwrap_or(sent);
    let expires = infos
        .iter()
        .map(|i| i.expires.unwrap_or(default_end))
        .max()
        .unwrap_or(last_expiry.unwrap_or(default_end));
    if any_info && (infos.is_empty() || expires <= now) {
        return Err(CapError::Expired(expires.to_string()));
    }
    Ok(CapMessage {
        identifier,
        sender,
        sent,
        status,
        msg_type,
        references,
        infos,
        expires,
    })
}

fn parse_info(node: roxmltree::Node, n: usize) -> Result<CapInfo, CapError> {
    let at = |what: &str| format!("info[{n}]: {what}");
    let raw_lang = child_text(node, "language").unwrap_or_default();
    let lang = map_language(&raw_lang).ok_or_else(|| {
        invalid(at(&format!(
            "<language> {raw_lang:?} is not a language tag"
        )))
    })?;
    let field = |name: &'static str| -> Result<String, CapError> {
        child_text(node, name).ok_or_else(|| invalid(at(&format!("<{name}> is missing"))))
    };
    let event = field("event")?;
    let urgency = field("urgency")?;
    let severity = field("severity")?;
    let headline = child_text(node, "headline").unwrap_or_default();
    let description = child_text(node, "description").unwrap_or_default();
    let mut parts = Vec::new();
    for name in ["headline", "instruction", "description"] {
        if let Some(t) = child_text(node, name) {
            parts.push(t);
        }
    }
    if parts.is_empty() {
        parts.push(event.clone());
    }
    let text = fit(&clean(&parts.join("\n\n")));
    let expires = time(node, "expires").map_err(|e| match e {
        CapError::Invalid(m) => CapError::Invalid(format!("{m} (info[{n}])")),
        e => e,
    })?;
    let mut areas = Vec::new();
    for (k, a) in children(node, "area").enumerate() {
        areas.push(parse_area(a).map_err(|m| invalid(at(&format!("area[{k}]: {m}"))))?);
    }
    Ok(CapInfo {
        lang,
        event,
        urgency,
        severity,
        headline,
        description,
        text,
        expires,
        areas,
    })
}

fn parse_area(node: roxmltree::Node) -> Result<CapArea, String> {
    let mut area = CapArea {
        desc: child_text(node, "areaDesc").unwrap_or_default(),
        ..CapArea::default()
    };
    for p in children(node, "polygon") {
        let text = p.text().unwrap_or("");
        let ring = text
            .split_whitespace()
            .map(point)
            .collect::<Result<Vec<_>, _>>()?;
        if ring.len() < 4 || ring.first() != ring.last() {
            return Err(format!(
                "<polygon> needs at least 4 points with the first equal to the last, found {:?}",
                text.trim()
            ));
        }
        area.polygons.push(ring);
    }
    for c in children(node, "circle") {
        let text = c.text().unwrap_or("").trim();
        let (centre, radius) = text
            .split_once(char::is_whitespace)
            .ok_or_else(|| format!("<circle> must be \"lat,lon radius\", found {text:?}"))?;
        let radius: f64 = radius
            .trim()
            .parse()
            .ok()
            .filter(|r: &f64| r.is_finite() && *r >= 0.0)
            .ok_or_else(|| format!("<circle> radius {radius:?} is not a number of km"))?;
        area.circles.push((point(centre)?, radius));
    }
    for g in children(node, "geocode") {
        let name = child_text(g, "valueName").unwrap_or_default();
        let value = child_text(g, "value").unwrap_or_default();
        if name.is_empty() || value.is_empty() {
            return Err("<geocode> needs <valueName> and <value>".into());
        }
        area.geocodes.push(Geocode { name, value });
    }
    Ok(area)
}

/// A WGS 84 point `lat,lon`.
fn point(s: &str) -> Result<(f64, f64), String> {
    let bad = || format!("{s:?} is not a WGS 84 point \"lat,lon\"");
    let (a, b) = s.split_once(',').ok_or_else(bad)?;
    let lat: f64 = a.trim().parse().map_err(|_| bad())?;
    let lon: f64 = b.trim().parse().map_err(|_| bad())?;
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
        return Err(bad());
    }
    Ok((lat, lon))
}

/// Control characters other than newline become spaces (the alert text rule of §9); runs of
/// blank lines collapse.
fn clean(s: &str) -> String {
    let s: String = s
        .chars()
        .map(|c| match c {
            '\n' => '\n',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    s.lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("\n")
        .split("\n\n\n")
        .collect::<Vec<_>>()
        .join("\n\n")
        .trim()
        .to_string()
}

/// Cuts a text to the alert limit at a character boundary, ending with "…".
fn fit(s: &str) -> String {
    cut(s, TEXT_MAX_BYTES)
}

/// Cuts a text to `max` bytes at a character boundary, ending with "…".
fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max - '…'.len_utf8();
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", s[..end].trim_end())
}

fn children<'a, 'i>(
    node: roxmltree::Node<'a, 'i>,
    name: &'static str,
) -> impl Iterator<Item = roxmltree::Node<'a, 'i>> {
    node.children()
        .filter(move |c| c.is_element() && c.tag_name().name() == name)
}

fn child_text(node: roxmltree::Node, name: &'static str) -> Option<String> {
    children(node, name)
        .next()
        .and_then(|c| c.text())
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

fn required(node: roxmltree::Node, name: &'static str) -> Result<String, CapError> {
    child_text(node, name).ok_or_else(|| invalid(format!("<{name}> is missing")))
}

fn time(node: roxmltree::Node, name: &'static str) -> Result<Option<jiff::Timestamp>, CapError> {
    match child_text(node, name) {
        None => Ok(None),
        Some(t) => t.parse::<jiff::Timestamp>().map(Some).map_err(|_| {
            invalid(format!(
                "<{name}> {t:?} is not a CAP time (e.g. 2026-09-07T14:00:00+07:00)"
            ))
        }),
    }
}

#[cfg(test)]
mod tests;
