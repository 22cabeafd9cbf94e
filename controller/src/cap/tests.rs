//! CAP parsing and gate matching against the OASIS CAP 1.2 examples (`tests/fixtures/cap/`)
//! and the Lào Cai flood warning.

use super::area::{distance_km, inside, match_gates};
use super::*;

const A1: &str = include_str!("../../tests/fixtures/cap/oasis-a1-homeland-security.xml");
const A2: &str = include_str!("../../tests/fixtures/cap/oasis-a2-thunderstorm.xml");
const A3: &str = include_str!("../../tests/fixtures/cap/oasis-a3-earthquake.xml");
const A4: &str = include_str!("../../tests/fixtures/cap/oasis-a4-amber-multilingual.xml");
const FLOOD: &str = include_str!("../../tests/fixtures/cap/laocai-flood-vi-en.xml");

fn at(t: &str) -> jiff::Timestamp {
    t.parse().unwrap()
}

fn gate(name: &str, lat: f64, lon: f64, geocodes: &[&str]) -> GateLocation {
    GateLocation {
        gate: name.into(),
        lat,
        lon,
        geocodes: geocodes.iter().map(|s| s.to_string()).collect(),
    }
}

/// The gates of `docs/operations.md`'s CAP example.
fn lao_cai_gates() -> Vec<GateLocation> {
    vec![
        gate("lao-cai", 22.5036, 103.9667, &["ISO3166-2=VN-02"]),
        gate("ban-vuoc", 22.6300, 103.8000, &["ISO3166-2=VN-02"]),
        gate("muong-khuong", 22.7700, 104.1200, &["ISO3166-2=VN-02"]),
    ]
}

pub(super) fn flood(sent: jiff::Timestamp, expires: jiff::Timestamp) -> String {
    FLOOD
        .replace("{SENT}", &sent.to_string())
        .replace("{EXPIRES}", &expires.to_string())
}

#[test]
fn oasis_a1_homeland_security_parses() {
    let m = parse(A1.as_bytes(), DEFAULT_MAX_BYTES, at("2003-04-02T20:00:00Z")).unwrap();
    assert_eq!(m.identifier, "43b080713727");
    assert_eq!(m.sender, "hsas@dhs.gov");
    assert_eq!(m.sent, at("2003-04-02T19:39:01Z"));
    assert_eq!(m.infos.len(), 1);
    let i = &m.infos[0];
    assert_eq!(i.lang, "en", "no <language> means en-US");
    assert!(i
        .text
        .starts_with("Homeland Security Sets Code ORANGE\n\nA High Condition"));
    // No <expires>: shown for DEFAULT_VALIDITY_HOURS from <sent>.
    assert_eq!(m.expires, at("2003-04-03T01:39:01Z"));
    assert_eq!(m.priority(), 100 + 30 + 4);
    assert!(
        match_gates(&m, &lao_cai_gates()).is_empty(),
        "an area without geometry covers no gate"
    );
}

#[test]
fn oasis_a2_thunderstorm_polygon_and_geocodes() {
    let m = parse(A2.as_bytes(), DEFAULT_MAX_BYTES, at("2003-06-17T22:00:00Z")).unwrap();
    assert_eq!(m.expires, at("2003-06-17T23:00:00Z"));
    let a = &m.infos[0].areas[0];
    assert_eq!(a.polygons[0].len(), 5);
    assert_eq!(a.geocodes.len(), 3);
    let gates = vec![
        gate("in-polygon", 38.48, -119.90, &[]),
        gate("by-geocode", 10.0, 10.0, &["SAME=006003"]),
        gate("outside", 38.20, -120.30, &["SAME=006001"]),
    ];
    let got = match_gates(&m, &gates);
    let names: Vec<_> = got
        .iter()
        .map(|g| (g.gate.as_str(), g.how.as_str()))
        .collect();
    assert_eq!(
        names,
        [("in-polygon", "polygon"), ("by-geocode", "geocode")]
    );
    assert!(got[1].reason.contains("SAME=006003"), "{}", got[1].reason);
    // At its <expires> the message is no longer shown.
    let e = parse(A2.as_bytes(), DEFAULT_MAX_BYTES, at("2003-06-17T23:00:00Z")).unwrap_err();
    assert_eq!(e.code(), "cap_expired");
}

#[test]
fn oasis_a3_earthquake_update_circle() {
    let m = parse(A3.as_bytes(), DEFAULT_MAX_BYTES, at("2003-06-12T04:00:00Z")).unwrap();
    assert_eq!(m.msg_type, "Update");
    assert_eq!(
        m.references,
        ["trinet@caltech.edu,TRI13970876.1,2003-06-11T20:30:00-07:00"]
    );
    let (centre, r) = m.infos[0].areas[0].circles[0];
    assert_eq!((centre, r), ((32.9525, -115.5527), 0.0));
    // A radius-0 circle covers only its centre.
    let gates = vec![
        gate("at-centre", 32.9525, -115.5527, &[]),
        gate("near", 32.96, -115.55, &[]),
    ];
    let got = match_gates(&m, &gates);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].gate, "at-centre");
    assert_eq!(m.priority(), 100 + 10 + 1);
}

#[test]
fn oasis_a4_amber_carries_two_languages() {
    let m = parse(A4.as_bytes(), DEFAULT_MAX_BYTES, at("2003-06-12T06:00:00Z")).unwrap();
    let langs: Vec<_> = m.infos.iter().map(|i| i.lang.as_str()).collect();
    assert_eq!(langs, ["en", "es"]);
    assert!(m.infos[1]
        .text
        .starts_with("Alerta Amber en el condado de Los Ángeles"));
    let gates = vec![gate("la", 0.0, 0.0, &["SAME=006037"])];
    assert_eq!(match_gates(&m, &gates)[0].how, "geocode");
}

#[test]
fn lao_cai_flood_covers_ban_vuoc_only_in_vi_and_en() {
    let now = jiff::Timestamp::now();
    let xml = flood(now, now + jiff::SignedDuration::from_hours(6));
    let m = parse(xml.as_bytes(), DEFAULT_MAX_BYTES, now).unwrap();
    let langs: Vec<_> = m.infos.iter().map(|i| i.lang.as_str()).collect();
    assert_eq!(langs, ["vi", "en"]);
    assert!(m.infos[0]
        .text
        .starts_with("Cảnh báo lũ quét và sạt lở đất khu vực Bát Xát\n\nTạm dừng thông quan"));
    assert_eq!(m.priority(), 144);
    let got = match_gates(&m, &lao_cai_gates());
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].gate, "ban-vuoc");
    assert_eq!(got[0].area, "Huyện Bát Xát (Bản Vược, Cốc Mỳ)");
}

#[test]
fn an_expired_message_is_refused_by_name() {
    let now = jiff::Timestamp::now();
    let xml = flood(
        now - jiff::SignedDuration::from_hours(8),
        now - jiff::SignedDuration::from_hours(1),
    );
    let e = parse(xml.as_bytes(), DEFAULT_MAX_BYTES, now).unwrap_err();
    assert!(matches!(e, CapError::Expired(_)), "{e:?}");
    assert!(e.to_string().contains("not shown"), "{e}");
}

#[test]
fn dtds_entities_and_size_are_refused_by_name() {
    let now = jiff::Timestamp::now();
    let laughs = r#"<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&b;</identifier></alert>"#;
    assert_eq!(
        parse(laughs.as_bytes(), DEFAULT_MAX_BYTES, now).unwrap_err(),
        CapError::DtdRefused
    );
    let external = r#"<?xml version="1.0"?><!DOCTYPE alert SYSTEM "file:///etc/passwd"><alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"/>"#;
    assert_eq!(
        parse(external.as_bytes(), DEFAULT_MAX_BYTES, now).unwrap_err(),
        CapError::DtdRefused
    );
    let undeclared = r#"<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&xxe;</identifier></alert>"#;
    let e = parse(undeclared.as_bytes(), DEFAULT_MAX_BYTES, now).unwrap_err();
    assert_eq!(e.code(), "cap_invalid");
    assert!(e.to_string().contains("&xxe;"), "{e}");
    let big = A1.repeat(2);
    let e = parse(big.as_bytes(), A1.len(), now).unwrap_err();
    assert_eq!(e.code(), "cap_too_large");
}

#[test]
fn malformed_messages_name_the_problem() {
    let now = at("2003-04-02T20:00:00Z");
    let cases = [
        (A1.replace("cap:1.2", "cap:1.1"), "root element"),
        (
            A1.replace("<sender>hsas@dhs.gov</sender>", ""),
            "<sender> is missing",
        ),
        (
            A1.replace("2003-04-02T14:39:01-05:00", "yesterday"),
            "<sent> \"yesterday\"",
        ),
        (
            A1.replace("<status>Actual</status>", "<status>Real</status>"),
            "<status> \"Real\"",
        ),
        (
            A1.replace("<urgency>Immediate</urgency>", ""),
            "info[0]: <urgency> is missing",
        ),
        (
            A1.replace("</area>", "<polygon>1,2 3,4</polygon></area>"),
            "at least 4 points",
        ),
        (
            A1.replace("</area>", "<circle>95,0 10</circle></area>"),
            "WGS 84 point",
        ),
        (A1.replace("</alert>", ""), "not well-formed"),
    ];
    for (xml, want) in cases {
        let e = parse(xml.as_bytes(), DEFAULT_MAX_BYTES, now).unwrap_err();
        assert_eq!(e.code(), "cap_invalid", "{want}: {e}");
        assert!(e.to_string().contains(want), "want {want:?} in {e}");
    }
}

#[test]
fn languages_map_to_gatecast_tags() {
    assert_eq!(map_language("vi-VN").as_deref(), Some("vi"));
    assert_eq!(map_language("").as_deref(), Some("en"));
    assert_eq!(map_language("zh-CN").as_deref(), Some("zh-Hans"));
    assert_eq!(map_language("zh-TW").as_deref(), Some("zh-Hant"));
    assert_eq!(map_language("hmn").as_deref(), Some("hmn"));
    assert_eq!(map_language("!!"), None);
}

#[test]
fn long_texts_are_cut_at_a_character_boundary() {
    let now = at("2003-04-02T20:00:00Z");
    let long = "Lũ ".repeat(3000);
    let xml = A1.replace("Homeland Security Sets Code ORANGE", &long);
    let m = parse(xml.as_bytes(), DEFAULT_MAX_BYTES, now).unwrap();
    let t = &m.infos[0].text;
    assert!(t.len() <= 4096 && t.ends_with('…'), "{}", t.len());
}

#[test]
fn geometry() {
    let square = [(0.0, 0.0), (0.0, 1.0), (1.0, 1.0), (1.0, 0.0), (0.0, 0.0)];
    assert!(inside(&square, (0.5, 0.5)));
    assert!(!inside(&square, (1.5, 0.5)));
    // Lào Cai city to Bản Vược: about 18 km.
    let d = distance_km((22.5036, 103.9667), (22.63, 103.80));
    assert!((17.0..23.0).contains(&d), "{d}");
}

#[test]
fn default_display_and_ticker_lines() {
    let now = at("2026-09-07T07:00:00Z");
    let xml = flood(now, at("2026-09-07T13:00:00Z"));
    let m = parse(xml.as_bytes(), DEFAULT_MAX_BYTES, now).unwrap();
    assert_eq!(m.default_display(), Display::Alert, "Extreme + Immediate");
    let moderate = xml.replace(
        "<severity>Extreme</severity>",
        "<severity>Moderate</severity>",
    );
    let m = parse(moderate.as_bytes(), DEFAULT_MAX_BYTES, now).unwrap();
    assert_eq!(m.default_display(), Display::Ticker);
    let future = xml.replace("<urgency>Immediate</urgency>", "<urgency>Future</urgency>");
    let m = parse(future.as_bytes(), DEFAULT_MAX_BYTES, now).unwrap();
    assert_eq!(m.default_display(), Display::Ticker, "Extreme but Future");

    let lines = m.ticker_lines();
    assert_eq!(lines[0].0, "vi");
    assert_eq!(
        lines[0].1,
        "Cảnh báo lũ quét và sạt lở đất khu vực Bát Xát — Do ảnh hưởng của hoàn lưu bão, mưa rất to trên 200 mm trong 24 giờ; mực nước sông Hồng dâng cao."
    );
    // A long description is cut at 1,000 bytes on a character boundary, on one line.
    let long = xml.replace(
        "mực nước sông Hồng dâng cao.",
        &"Sông Hồng dâng cao,\nnước lũ lớn. ".repeat(60),
    );
    let m = parse(long.as_bytes(), DEFAULT_MAX_BYTES, now).unwrap();
    let vi = &m.ticker_lines()[0].1;
    assert!(vi.len() <= 1000 && vi.len() > 990, "{}", vi.len());
    assert!(vi.ends_with('…') && !vi.contains('\n'), "{vi}");
}
