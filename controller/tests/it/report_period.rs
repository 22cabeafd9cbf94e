//! The period report end to end: a seeded dataset (four screens at three gates, languages
//! including Hmong, two campaigns, an offline day, a screen registered mid-period, null-backend
//! plays, failed and interrupted plays, an alert, a conflicting batch) goes over MQTT into a
//! real controller; every figure of `GET /api/v1/reports/period?format=json` is compared with
//! an independent computation written here with plain loops; `gatecast-audit report` on the
//! report's bundle prints the same figures and `--check` accepts the report (and refuses an
//! altered one); the PDF renders with poppler and keeps its Vietnamese headings; the XLSX
//! opens in openpyxl with the JSON's numbers. Controller-signed manifests (one changing the
//! schedule mid-period) give the planned plays and the titles, recomputed here by simulating
//! a player; statuses give the controller's record of online time. A ticker correction shown
//! at one gate is in its own section (told apart from campaigns by the bundle's signed ticker
//! sets), and a gate with a display name is named by it in the documents.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gatecast_controller::store::{StatusRecord, StoredManifest};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};
use playlists::keys::SecretKey;
use playlists::manifest::Manifest;
use playlists::receipt::{receipt_hash, Backend, Outcome, Receipt, GENESIS_PREV};
use serde_json::{json, Value};

use crate::api_support::*;
use crate::ingest_support::{connect, enroll, wait_metric, Player};

const TZ: &str = "Asia/Ho_Chi_Minh";
/// The display name of the `lao-cai` gate.
pub const GATE_NAME: &str = "Cửa khẩu quốc tế đường bộ số II Kim Thành";
/// The ticker correction shown at `mong-cai`.
const TICKER_ID: &str = "dinh-chinh-1";
/// Its texts.
pub const TICKER_TEXT: [(&str, &str); 2] = [
    ("vi", "Đính chính: cửa khẩu mở cửa từ 7 giờ 00 sáng"),
    ("en", "Correction: the gate opens at 7:00"),
];
const HOUR: i64 = 3_600_000;

struct Seeded {
    screen: &'static str,
    gate: &'static str,
    registered: Timestamp,
    plays: Vec<Receipt>,
    /// When manifest version 2 took over (lc-1 only).
    v2: Option<Timestamp>,
}

fn local_day(t: Timestamp) -> Date {
    TimeZone::get(TZ).unwrap().to_datetime(t).date()
}

fn day_start(d: Date) -> Timestamp {
    TimeZone::get(TZ)
        .unwrap()
        .to_ambiguous_timestamp(d.to_datetime(jiff::civil::Time::midnight()))
        .compatible()
        .unwrap()
}

fn ms(a: Timestamp, b: Timestamp) -> i64 {
    b.duration_since(a).as_millis() as i64
}

/// The plays of one screen: one every 10 minutes (9 minutes long) from `start` to `until`,
/// skipping the local day `offline`.
fn plays(screen: &str, start: Timestamp, until: Timestamp, offline: Option<Date>) -> Vec<Receipt> {
    let langs: &[&str] = if screen == "lc-1" {
        &["vi", "en", "zh", "hmn"]
    } else {
        &["vi", "en", "zh"]
    };
    let mut out = Vec::new();
    let mut t = start;
    let mut i = 0u64;
    while t < until {
        if Some(local_day(t)) != offline {
            out.push(Receipt {
                seq: 0,
                screen: screen.into(),
                manifest_version: 1,
                playlist: ["tet-2026", "du-lich"][(i % 2) as usize].into(),
                media: ["1a", "2b", "3c"][(i % 3) as usize].repeat(32),
                lang: langs[(i as usize) % langs.len()].into(),
                started_at: t,
                ended_at: t + SignedDuration::from_secs(540),
                outcome: if i % 17 == 0 {
                    Outcome::Failed
                } else if i % 13 == 0 {
                    Outcome::Interrupted
                } else {
                    Outcome::Completed
                },
                backend: if screen == "mc-1" && i % 4 == 0 {
                    Backend::Null
                } else {
                    Backend::Mpv
                },
                clock_synced: true,
                prev: String::new(),
                subtitle_lang: None,
            });
        }
        i += 1;
        t += SignedDuration::from_secs(600);
    }
    out
}

/// Seq and prev of a screen's plays, as exact bytes.
fn chain(plays: &mut [Receipt], first_seq: u64, prev: &str) -> Vec<Vec<u8>> {
    let mut prev = prev.to_string();
    let mut out = Vec::new();
    for (k, r) in plays.iter_mut().enumerate() {
        r.seq = first_seq + k as u64;
        r.prev = prev.clone();
        let b = r.to_bytes();
        prev = receipt_hash(&b);
        out.push(b);
    }
    out
}

async fn send_all(p: &mut Player, bytes: &[Vec<u8>], device: &SecretKey) {
    for part in bytes.chunks(500) {
        p.send(part, device).await;
        let want = Receipt::parse(part.last().unwrap()).unwrap().seq;
        loop {
            let (upto, _) = p.next_ack().await;
            if upto >= want {
                break;
            }
        }
    }
}

/// Registers a screen at `gate`, enrols it, and dates its registration back to `registered`.
async fn screen(ctl: &Ctl, id: &str, gate: &str, registered: Timestamp) -> (Player, SecretKey) {
    let (s, reg) = ctl
        .admin(
            "POST",
            "/api/v1/screens",
            json!({"id":id,"name":format!("Màn hình {id}"),"gate":gate,"languages":["vi"],"timezone":TZ}),
        )
        .await;
    assert_eq!(s, 201, "{reg}");
    let device = SecretKey::from_seed([id.len() as u8 + id.as_bytes()[0]; 32]);
    let pw = enroll(ctl, id, &reg["enrollment_code"], &device).await;
    let store = ctl.running.store();
    let mut rec = store.screen(id).unwrap().unwrap();
    let at = format!("{registered:.3}");
    rec.enrolled_at = Some(at.clone());
    for e in &mut rec.epochs {
        e.enrolled_at = at.clone();
    }
    store.put_screen(&rec).await.unwrap();
    (connect(ctl, id, device.clone(), &pw).await, device)
}

// ------------------------------------------------------------ manifests and statuses

/// Slide durations of the campaigns: `tet-2026` plays 1a then 2b, `du-lich` plays 3c.
const ITEMS: [(&str, &[(&str, i64)]); 2] = [
    ("tet-2026", &[("1a", 600_000), ("2b", 300_000)]),
    ("du-lich", &[("3c", 420_000)]),
];
const TITLES: [(&str, &str); 3] = [
    ("1a", "Chào mừng đến Lào Cai"),
    ("2b", "Tết Nguyên đán 2026"),
    ("3c", "Du lịch Sa Pa"),
];
const NAMES: [(&str, &str); 2] = [("tet-2026", "Tết 2026"), ("du-lich", "Du lịch Lào Cai")];

/// Version 1: `tet-2026` from 06:00 to 18:00 local, else `du-lich`; version 2 (lc-1 only):
/// `tet-2026` all day.
fn manifest(screen: &str, version: u64, issued_at: Timestamp) -> Manifest {
    let media: Vec<Value> = TITLES
        .iter()
        .map(|(m, t)| {
            json!({"sha256": m.repeat(32), "bytes": 1000, "mime": "image/png",
                             "kind": "slide", "lang": "vi", "title": t})
        })
        .collect();
    let playlists: Vec<Value> = ITEMS
        .iter()
        .map(|(id, items)| json!({"id": id, "name": NAMES.iter().find(|n| n.0 == *id).unwrap().1,
            "items": items.iter().map(|(m, d)| json!({"media": m.repeat(32), "duration_ms": d})).collect::<Vec<_>>()}))
        .collect();
    let schedule = if version == 1 {
        json!([{"id":"ban-ngay","playlist":"tet-2026","priority":10,"start":"06:00","end":"18:00"}])
    } else {
        json!([{"id":"ca-ngay","playlist":"tet-2026","priority":10}])
    };
    let m = json!({"screen": screen, "version": version,
        "issued_at": format!("{issued_at:.0}"),
        "expires_at": format!("{:.0}", issued_at + SignedDuration::from_hours(24 * 30)),
        "timezone": TZ, "media": media, "playlists": playlists, "schedule": schedule,
        "fallback": "du-lich"});
    Manifest::from_json(&serde_json::to_vec(&m).unwrap()).unwrap()
}

/// Stores `m` signed by the controller key, as a publish would.
async fn publish(ctl: &Ctl, key: &SecretKey, m: &Manifest) {
    let env = m.sign(key).unwrap().to_json();
    ctl.running
        .store()
        .put_manifest(&StoredManifest {
            screen: m.screen.clone(),
            version: m.version,
            content_hash: format!("{:064x}", m.version),
            media: m.media.iter().map(|r| r.sha256.clone()).collect(),
            issued_at: m.issued_at.to_string(),
            expires_at: m.expires_at.to_string(),
            envelope: String::from_utf8(env).unwrap(),
        })
        .await
        .unwrap();
}

/// Version 1 governs `screen` from before any registration; lc-1 gets version 2 mid-period
/// (returned).
async fn publish_plan(
    ctl: &Ctl,
    key: &SecretKey,
    screen: &str,
    early: Timestamp,
    d0: Timestamp,
) -> Option<Timestamp> {
    let v1 = manifest(screen, 1, early - SignedDuration::from_hours(1));
    publish(ctl, key, &v1).await;
    let v2 = (screen == "lc-1").then(|| d0 + SignedDuration::from_mins(36 * 60 + 17));
    if let Some(v2) = v2 {
        publish(ctl, key, &manifest(screen, 2, v2)).await;
    }
    v2
}

async fn status(ctl: &Ctl, screen: &str, online: bool, at: Timestamp) {
    ctl.running
        .store()
        .put_status(
            &StatusRecord {
                screen: screen.into(),
                status: json!({"state": if online { "playing" } else { "offline" }}),
                received_at: format!("{at:.3}"),
                online,
            },
            STALE,
        )
        .await
        .unwrap();
}

/// The heartbeat age of this test: its statuses are a few, days apart.
const STALE: std::time::Duration = std::time::Duration::from_secs(30 * 86_400);

/// The playlist a player of `screen` plays at `t`, and the version deciding it: version 2 (all
/// day `tet-2026`) from `v2` on for lc-1, else `tet-2026` from 06:00 to 18:00 local time.
fn planned_playlist(t: Timestamp, v2: Option<Timestamp>) -> (&'static str, u64) {
    if v2.is_some_and(|v| t >= v) {
        return ("tet-2026", 2);
    }
    let h = TimeZone::get(TZ).unwrap().to_datetime(t).hour();
    (
        if (6..18).contains(&h) {
            "tet-2026"
        } else {
            "du-lich"
        },
        1,
    )
}

/// Plans by simulating a player over `[from, to)`: the playlist restarts from its first item
/// whenever it becomes active (or a new manifest comes), and each item start is a play.
fn simulate(from: Timestamp, to: Timestamp, v2: Option<Timestamp>) -> BTreeMap<String, (u64, i64)> {
    let mut cuts = Vec::new();
    let mut d = local_day(from);
    while day_start(d) < to {
        for h in [6, 18] {
            cuts.push(day_start(d) + SignedDuration::from_hours(h));
        }
        d = d.tomorrow().unwrap();
    }
    cuts.extend(v2);
    cuts.retain(|c| *c > from && *c < to);
    cuts.sort();
    let mut out: BTreeMap<String, (u64, i64)> = BTreeMap::new();
    let mut play = |p: &str, a: Timestamp, b: Timestamp| {
        let items = ITEMS.iter().find(|i| i.0 == p).unwrap().1;
        let e = out.entry(p.to_string()).or_default();
        let (mut t, mut k) = (a, 0);
        while t < b {
            e.0 += 1;
            t += SignedDuration::from_millis(items[k % items.len()].1);
            k += 1;
        }
        e.1 += ms(a, b);
    };
    let (mut cur, mut start) = (planned_playlist(from, v2), from);
    for c in cuts {
        let now = planned_playlist(c, v2);
        if now != cur {
            play(cur.0, start, c);
            (cur, start) = (now, c);
        }
    }
    if to > start {
        play(cur.0, start, to);
    }
    out
}

// ------------------------------------------------------------ independent computation

fn shown(r: &Receipt) -> bool {
    r.backend == Backend::Mpv && r.outcome != Outcome::Failed
}

fn tally<'a>(rs: impl Iterator<Item = &'a Receipt>) -> Value {
    let (mut plays, mut sh, mut completed, mut failed, mut nulls, mut sms) = (0, 0, 0, 0, 0, 0i64);
    for r in rs {
        plays += 1;
        if r.outcome == Outcome::Failed {
            failed += 1;
        }
        if r.backend == Backend::Null {
            nulls += 1;
        }
        if shown(r) {
            sh += 1;
            sms += ms(r.started_at, r.ended_at);
            if r.outcome == Outcome::Completed {
                completed += 1;
            }
        }
    }
    json!({"plays":plays,"shown":sh,"completed":completed,"failed":failed,"null_backend":nulls,"shown_ms":sms})
}

fn keyed(all: &[(&str, &Receipt)], key: impl Fn(&str, &Receipt) -> Option<String>) -> Value {
    let mut groups: BTreeMap<String, Vec<&Receipt>> = BTreeMap::new();
    for (gate, r) in all {
        if let Some(k) = key(gate, r) {
            groups.entry(k).or_default().push(r);
        }
    }
    Value::Array(
        groups
            .into_iter()
            .map(|(k, rs)| {
                let mut v = tally(rs.into_iter());
                v["key"] = json!(k);
                v
            })
            .collect(),
    )
}

fn expected(seeded: &[Seeded], from: Date, to: Date, as_of: Timestamp) -> Value {
    let in_days = |r: &Receipt| {
        let d = local_day(r.started_at);
        d >= from && d <= to
    };
    let all: Vec<(&str, &Receipt)> = seeded
        .iter()
        .flat_map(|s| {
            s.plays
                .iter()
                .filter(|r| in_days(r))
                .map(move |r| (s.gate, r))
        })
        .collect();
    let total_shown = all.iter().filter(|(_, r)| shown(r)).count() as u64;
    let mut languages = keyed(&all, |_, r| Some(r.lang.clone()));
    for l in languages.as_array_mut().unwrap() {
        l["share_bp"] = json!(l["shown"].as_u64().unwrap() * 10_000 / total_shown);
        l["lang"] = l["key"].take();
        l.as_object_mut().unwrap().remove("key");
    }
    let mut months: BTreeMap<(String, String), u64> = BTreeMap::new();
    for (g, r) in &all {
        if shown(r) {
            let d = local_day(r.started_at);
            *months
                .entry((g.to_string(), format!("{:04}-{:02}", d.year(), d.month())))
                .or_default() += 1;
        }
    }
    let window_end = day_start(to.tomorrow().unwrap());
    let mut by_id: Vec<&Seeded> = seeded.iter().collect();
    by_id.sort_by_key(|s| s.screen);
    let screens: Vec<Value> = by_id
        .into_iter()
        .map(|s| {
            let start = day_start(from).max(s.registered);
            let end = window_end.min(as_of);
            let mut cursor = start;
            let (mut playing, mut dark, mut n_dark) = (0i64, 0i64, 0u64);
            let mut mine: Vec<&Receipt> = s.plays.iter().filter(|r| in_days(r)).collect();
            mine.sort_by_key(|r| r.started_at);
            for r in mine.iter().filter(|r| shown(r)) {
                if ms(cursor, r.started_at) >= HOUR {
                    dark += ms(cursor, r.started_at);
                    n_dark += 1;
                }
                let (a, b) = (r.started_at.max(cursor), r.ended_at.min(window_end));
                if b > a {
                    playing += ms(a, b);
                    cursor = b;
                }
            }
            if ms(cursor, end) >= HOUR {
                dark += ms(cursor, end);
                n_dark += 1;
            }
            let counted = ms(start, end).max(0);
            let mut v = tally(mine.into_iter());
            v["screen"] = json!(s.screen);
            v["counted_ms"] = json!(counted);
            v["playing_ms"] = json!(playing);
            v["dark_ms"] = json!(dark);
            v["dark_count"] = json!(n_dark);
            v["availability_bp"] = json!((counted - dark) * 10_000 / counted);
            v
        })
        .collect();
    // Planned: a player simulated over each screen's counted span; recorded: shown plays.
    let mut plan: BTreeMap<(String, String), (u64, i64, u64)> = BTreeMap::new();
    for s in seeded {
        let (a, b) = (day_start(from).max(s.registered), window_end.min(as_of));
        for (p, (n, len)) in simulate(a, b, s.v2) {
            let e = plan.entry((p, s.gate.to_string())).or_default();
            e.0 += n;
            e.1 += len;
        }
    }
    for (g, r) in &all {
        if shown(r) && !r.playlist.starts_with("alert:") && r.playlist != TICKER_ID {
            plan.entry((r.playlist.clone(), g.to_string()))
                .or_default()
                .2 += 1;
        }
    }
    let compliance: Vec<Value> = plan
        .into_iter()
        .map(|((c, g), (planned, planned_ms, recorded))| {
            json!({"campaign": c, "title": NAMES.iter().find(|n| n.0 == c).unwrap().1,
                   "gate": g, "planned": planned, "planned_ms": planned_ms,
                   "recorded": recorded,
                   "compliance_bp": (planned > 0).then(|| recorded.min(planned) * 10_000 / planned)})
        })
        .collect();
    let mut campaigns = keyed(&all, |_, r| {
        (!r.playlist.starts_with("alert:") && r.playlist != TICKER_ID).then(|| r.playlist.clone())
    });
    for c in campaigns.as_array_mut().unwrap() {
        c["title"] = json!(NAMES.iter().find(|n| n.0 == c["key"]).unwrap().1);
    }
    let mut media = keyed(&all, |_, r| Some(r.media.clone()));
    for m in media.as_array_mut().unwrap() {
        if let Some((_, t)) = TITLES.iter().find(|t| t.0.repeat(32) == m["key"]) {
            m["title"] = json!(t);
        }
        // A ticker text's media is titled with the text.
        if let Some((l, t)) = TICKER_TEXT
            .iter()
            .find(|(_, t)| playlists::hex::encode(&sha2_of(t)) == m["key"])
        {
            m["title"] = json!(format!("[{l}] {t}"));
        }
    }
    let mut gates = keyed(&all, |g, _| Some(g.to_string()));
    for g in gates.as_array_mut().unwrap() {
        if g["key"] == "lao-cai" {
            g["title"] = json!(GATE_NAME);
        }
    }
    json!({
        "tickers": expected_tickers(&all),
        "totals": tally(all.iter().map(|(_, r)| *r)),
        "campaigns": campaigns,
        "compliance": compliance,
        "gates": gates,
        "languages": languages,
        "media": media,
        "months": months.into_iter().map(|((g, m), n)| json!({"gate":g,"month":m,"shown":n})).collect::<Vec<_>>(),
        "screens": screens,
    })
}

/// The ticker corrections: the turns of [`TICKER_ID`], with their gates and languages.
fn expected_tickers(all: &[(&str, &Receipt)]) -> Value {
    let turns: Vec<(&str, &Receipt)> = all
        .iter()
        .filter(|(_, r)| r.playlist == TICKER_ID)
        .copied()
        .collect();
    if turns.is_empty() {
        return json!([]);
    }
    let mut v = tally(turns.iter().map(|(_, r)| *r));
    let mut gates: Vec<&str> = turns.iter().map(|(g, _)| *g).collect();
    gates.sort();
    gates.dedup();
    let mut langs: Vec<&str> = turns.iter().map(|(_, r)| r.lang.as_str()).collect();
    langs.sort();
    langs.dedup();
    let on: Vec<&Receipt> = turns.iter().map(|(_, r)| *r).filter(|r| shown(r)).collect();
    v["id"] = json!(TICKER_ID);
    v["text"] = json!(TICKER_TEXT
        .iter()
        .map(|(l, t)| json!({"lang": l, "text": t}))
        .collect::<Vec<_>>());
    v["gates"] = json!(gates);
    v["languages"] = json!(langs);
    v["first_shown"] = json!(format!(
        "{:.3}",
        on.iter().map(|r| r.started_at).min().unwrap()
    ));
    v["last_shown"] = json!(format!(
        "{:.3}",
        on.iter().map(|r| r.ended_at).max().unwrap()
    ));
    json!([v])
}

/// The report's screen rows reduced to what [`expected`] computes.
fn screens_of(report: &Value) -> Value {
    Value::Array(
        report["screens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let mut v = json!({});
                for k in [
                    "plays",
                    "shown",
                    "completed",
                    "failed",
                    "null_backend",
                    "shown_ms",
                    "screen",
                    "counted_ms",
                    "playing_ms",
                    "dark_ms",
                    "availability_bp",
                ] {
                    v[k] = s[k].clone();
                }
                v["dark_count"] = json!(s["dark"].as_array().unwrap().len());
                v
            })
            .collect(),
    )
}

// ------------------------------------------------------------------------------ test

fn artifacts() -> PathBuf {
    let root = gatecast_tests::harness::workspace_root();
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("report-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub async fn get(ctl: &Ctl, token: &str, path: &str) -> (u16, Vec<u8>) {
    let r = ctl
        .http
        .get(ctl.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

fn audit(args: &[&str]) -> (i32, String) {
    let bin = gatecast_tests::binary("gatecast-audit");
    let out = std::process::Command::new(bin).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_period_figures_match_an_independent_count_and_the_offline_tool() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.status_stale_after = STALE;
    let ctl = start(config).await;
    let (key, _) =
        gatecast_controller::secrets::load_or_create_key(&dir.path().join("controller.key"))
            .unwrap();
    let now = Timestamp::now();
    let to = local_day(now);
    let from = to - 3.days();
    let until = now - SignedDuration::from_hours(2);
    let d0 = day_start(from);
    let early = d0 - SignedDuration::from_hours(30);
    let mid = d0 + SignedDuration::from_hours(27);
    let layout = [
        ("lc-1", "lao-cai", early, None),
        ("lc-2", "lao-cai", mid, None),
        ("hn-1", "huu-nghi", early, Some(from + 1.days())),
        ("mc-1", "mong-cai", early, None),
    ];
    let mut seeded = Vec::new();
    let mut players = BTreeMap::new();
    for (id, gate, registered, offline) in layout {
        let (mut p, device) = screen(&ctl, id, gate, registered).await;
        let v2 = publish_plan(&ctl, &key, id, early, d0).await;
        // Plays start before the period (the day before `from`) to check the gate-day cut.
        let mut rs = plays(
            id,
            registered.max(d0 - SignedDuration::from_hours(5)),
            until,
            offline,
        );
        let bytes = chain(&mut rs, 1, GENESIS_PREV);
        send_all(&mut p, &bytes, &device).await;
        seeded.push(Seeded {
            screen: id,
            gate,
            registered,
            plays: rs,
            v2,
        });
        players.insert(id, (p, device));
    }
    // The controller's record: hn-1 online, offline for its offline day, online again.
    let offline_day = day_start(from + 1.days());
    status(&ctl, "hn-1", true, early).await;
    status(&ctl, "hn-1", false, offline_day).await;
    status(
        &ctl,
        "hn-1",
        true,
        offline_day + SignedDuration::from_hours(24),
    )
    .await;

    // An alert for the Lào Cai gate, shown once on each of its screens.
    let text = "Cảnh báo: đóng cửa khẩu do mưa lũ";
    let (s, v) = ctl
        .admin(
            "POST",
            "/api/v1/alerts",
            json!({"id":"lu-2026","targets":{"gates":["lao-cai"]},"priority":9,
                   "expires_at": format!("{:.0}", Timestamp::now() + SignedDuration::from_hours(2)),
                   "text":[{"lang":"vi","text":text}]}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let alert_at = Timestamp::now();
    for s in seeded.iter_mut().filter(|s| s.gate == "lao-cai") {
        let (p, device) = players.get_mut(s.screen).unwrap();
        let last = s.plays.last().unwrap();
        let prev = receipt_hash(&last.to_bytes());
        let mut r = vec![Receipt {
            playlist: "alert:lu-2026".into(),
            media: playlists::hex::encode(&sha2_of(text)),
            lang: "vi".into(),
            started_at: alert_at,
            ended_at: alert_at + SignedDuration::from_millis(500),
            outcome: Outcome::Completed,
            backend: Backend::Mpv,
            ..last.clone()
        }];
        let bytes = chain(&mut r, last.seq + 1, &prev);
        send_all(p, &bytes, device).await;
        s.plays.extend(r);
    }
    ticker_and_gate_name(&ctl, &mut seeded, &mut players).await;
    // A conflicting resend of lc-1's seq 1: refused, kept as evidence.
    {
        let (p, device) = players.get_mut("lc-1").unwrap();
        let mut r = vec![seeded[0].plays[0].clone()];
        r[0].lang = "fr".into();
        let bytes = chain(&mut r, 1, GENESIS_PREV);
        p.send(&bytes, device).await;
        wait_metric(
            &ctl,
            "gatecast_receipt_batches_rejected_total{reason=\"duplicate_conflict\"}",
            1,
        )
        .await;
    }

    let auditor = ctl.token("auditor").await;
    let q = format!("/api/v1/reports/period?from={from}&to={to}");
    let (s, body) = get(&ctl, &auditor, &format!("{q}&format=json")).await;
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&body));
    let report: Value = serde_json::from_slice(&body).unwrap();
    let as_of: Timestamp = report["evidence"]["generated_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let want = expected(&seeded, from, to, as_of);
    for k in [
        "totals",
        "campaigns",
        "compliance",
        "gates",
        "languages",
        "media",
        "months",
    ] {
        assert_eq!(report[k], want[k], "section {k}");
    }
    assert_eq!(screens_of(&report), want["screens"], "screens");
    assert_eq!(report["tickers"], want["tickers"], "tickers");
    assert_eq!(report["tickers"][0]["shown"], 3, "{}", report["tickers"]);
    for s in report["screens"].as_array().unwrap() {
        let named = s["gate"] == "lao-cai";
        assert_eq!(s["gate_name"].as_str(), named.then_some(GATE_NAME), "{s}");
    }
    // The offline day and the mid-period registration show.
    let hn = &report["screens"].as_array().unwrap()[0];
    assert_eq!(hn["screen"], "hn-1");
    assert!(
        hn["dark"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["ms"].as_u64().unwrap() >= 24 * HOUR as u64),
        "the offline day is a dark period: {hn}"
    );
    assert!(report["totals"]["null_backend"].as_u64().unwrap() > 0);
    check_controller_record(&report);
    let alerts = report["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["id"], "lu-2026");
    assert_eq!(alerts[0]["gates"], json!(["lao-cai"]));
    assert_eq!(alerts[0]["shown"], 2);
    assert_eq!(alerts[0]["shown_ms"], 1000);
    assert!(alerts[0]["sent_at"].is_string(), "{}", alerts[0]);
    assert_eq!(
        report["rejections"],
        json!([{"screen":"lc-1","conflicts":1,"first_at":report["rejections"][0]["first_at"]}])
    );

    // One gate only.
    let (s, body) = get(&ctl, &auditor, &format!("{q}&gates=lao-cai&format=json")).await;
    assert_eq!(s, 200);
    let lc: Value = serde_json::from_slice(&body).unwrap();
    let lc_only: Vec<Seeded> = seeded
        .iter()
        .filter(|s| s.gate == "lao-cai")
        .map(|s| Seeded {
            screen: s.screen,
            gate: s.gate,
            registered: s.registered,
            plays: s.plays.clone(),
            v2: s.v2,
        })
        .collect();
    let lc_as_of = lc["evidence"]["generated_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        lc["totals"],
        expected(&lc_only, from, to, lc_as_of)["totals"]
    );

    // The bundle behind the report, and the offline tool.
    let art = artifacts();
    let sha = check_offline_tool(&ctl, &auditor, &report, from, to, &art).await;
    let sha = sha.as_str();
    // The documents of the same report: from the same bundle.
    let q = format!("{q}&bundle={sha}");
    crate::report_period_docs::check_pdf(&ctl, &auditor, &q, &art, sha).await;
    crate::report_period_docs::check_xlsx(&ctl, &auditor, &q, &art, &report).await;
    let (s, v) = get(&ctl, &auditor, &format!("{q}&format=json")).await;
    assert_eq!(s, 200);
    assert_eq!(serde_json::from_slice::<Value>(&v).unwrap(), report);
    let (s, html) = get(&ctl, &auditor, &format!("{q}&format=html")).await;
    assert_eq!(s, 200);
    let html = String::from_utf8(html).unwrap();
    assert!(html.contains("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"));
    std::fs::write(art.join("report.html"), html).unwrap();
}

/// Names the `lao-cai` gate, sends a ticker correction to `mong-cai` and three of its turns
/// from mc-1 (two shown in full, one cut).
async fn ticker_and_gate_name(
    ctl: &Ctl,
    seeded: &mut [Seeded],
    players: &mut BTreeMap<&str, (Player, SecretKey)>,
) {
    let (s, v) = ctl
        .admin("PUT", "/api/v1/gates/lao-cai", json!({"name": GATE_NAME}))
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = ctl
        .admin(
            "POST",
            "/api/v1/ticker",
            json!({"id": TICKER_ID, "targets": {"gates": ["mong-cai"]},
                   "expires_at": format!("{:.0}", Timestamp::now() + SignedDuration::from_hours(2)),
                   "text": TICKER_TEXT.iter().map(|(l, t)| json!({"lang": l, "text": t})).collect::<Vec<_>>()}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let at = Timestamp::now();
    let s = seeded.iter_mut().find(|s| s.screen == "mc-1").unwrap();
    let (p, device) = players.get_mut("mc-1").unwrap();
    let last = s.plays.last().unwrap().clone();
    let turns = [
        (0, 12_000, Outcome::Completed),
        (1, 15_500, Outcome::Completed),
        (0, 4_250, Outcome::Interrupted),
    ];
    let mut t = at;
    let mut rs: Vec<Receipt> = turns
        .iter()
        .map(|(k, len, outcome)| {
            let (lang, text) = TICKER_TEXT[*k];
            let r = Receipt {
                playlist: TICKER_ID.into(),
                media: playlists::hex::encode(&sha2_of(text)),
                lang: lang.into(),
                started_at: t,
                ended_at: t + SignedDuration::from_millis(*len),
                outcome: *outcome,
                backend: Backend::Mpv,
                ..last.clone()
            };
            t = r.ended_at;
            r
        })
        .collect();
    let bytes = chain(&mut rs, last.seq + 1, &receipt_hash(&last.to_bytes()));
    send_all(p, &bytes, device).await;
    s.plays.extend(rs);
}

/// The controller's record of online time: hn-1 offline exactly for its offline day; the
/// others never sent a status (no status all their counted time).
fn check_controller_record(report: &Value) {
    let rec = &report["controller_record"];
    assert!(
        rec["source"]
            .as_str()
            .unwrap()
            .contains("not signed by the screens"),
        "{rec}"
    );
    for (row, screen) in rec["screens"]
        .as_array()
        .unwrap()
        .iter()
        .zip(report["screens"].as_array().unwrap())
    {
        assert_eq!(row["screen"], screen["screen"]);
        assert_eq!(row["counted_ms"], screen["counted_ms"]);
        let counted = row["counted_ms"].as_u64().unwrap();
        let (online, offline, none) = if row["screen"] == "hn-1" {
            (counted - 24 * HOUR as u64, 24 * HOUR as u64, 0)
        } else {
            (0, 0, counted)
        };
        assert_eq!(
            (
                row["online_ms"].as_u64().unwrap(),
                row["offline_ms"].as_u64().unwrap(),
                row["no_status_ms"].as_u64().unwrap()
            ),
            (online, offline, none),
            "{row}"
        );
    }
}

/// `gatecast-audit report` on the report's bundle prints the report's figures; `--check`
/// accepts the report and refuses a forged one. Returns the bundle's SHA-256.
async fn check_offline_tool(
    ctl: &Ctl,
    auditor: &str,
    report: &Value,
    from: Date,
    to: Date,
    art: &Path,
) -> String {
    let sha = report["evidence"]["bundle_sha256"].as_str().unwrap();
    let (s, bundle) = get(ctl, auditor, &format!("/api/v1/reports/bundles/{sha}")).await;
    assert_eq!(s, 200);
    let bundle_path = art.join("bundle.json");
    std::fs::write(&bundle_path, &bundle).unwrap();
    let report_path = art.join("report.json");
    std::fs::write(&report_path, serde_json::to_vec_pretty(&report).unwrap()).unwrap();
    let bp = bundle_path.to_str().unwrap();
    let (code, out) = audit(&[
        "report",
        bp,
        "--from",
        &from.to_string(),
        "--to",
        &to.to_string(),
    ]);
    assert_eq!(code, 0, "{out}");
    let offline: Value = serde_json::from_str(&out).unwrap();
    // The controller's record is not in the bundle: everything else is recomputed offline.
    let mut signed = report.clone();
    signed.as_object_mut().unwrap().remove("controller_record");
    assert_eq!(
        offline, signed,
        "gatecast-audit report prints the same figures"
    );
    assert!(
        offline["compliance"].as_array().unwrap().len() >= 6,
        "{offline}"
    );
    // The ticker correction and the gate's name come from the bundle's signed evidence (its
    // scope signs the ticker sets; the statements carry the gate name).
    assert_eq!(offline["tickers"][0]["id"], TICKER_ID, "{offline}");
    assert!(
        out.contains(GATE_NAME),
        "the offline tool prints the gate name"
    );
    let key: Value = serde_json::from_slice(&std::fs::read(&bundle_path).unwrap()).unwrap();
    let (code, out) = audit(&[
        "verify",
        bp,
        "--controller-key",
        key["controller_key"].as_str().unwrap(),
    ]);
    // The one problem is the fork seeded above (lc-1's conflicting seq 1): the ticker sets
    // and manifests match their signed scope.
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("problems (1):") && out.contains("history forked"),
        "{out}"
    );
    let (code, out) = audit(&["report", bp, "--check", report_path.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let mut forged = report.clone();
    forged["totals"]["shown"] = json!(report["totals"]["shown"].as_u64().unwrap() + 1);
    let forged_path = art.join("forged.json");
    std::fs::write(&forged_path, serde_json::to_vec(&forged).unwrap()).unwrap();
    let (code, out) = audit(&["report", bp, "--check", forged_path.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("totals"), "{out}");

    sha.to_string()
}

fn sha2_of(text: &str) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes()).to_vec()
}
