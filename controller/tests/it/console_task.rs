//! The console's daily work in a real headless Chromium against a real controller: the common
//! task ("Đưa nội dung lên màn hình": an uploaded video on all screens of one gate for two
//! weeks, 07:00–21:00) in at most 8 counted actions, after which two real `gatecast-player`
//! processes (null backend) play it, the wall shows its title on both cards and their receipts
//! for it arrive, while the screen of another gate gets nothing; the schedule calendar shows an
//! overlap with the entry that wins and copies an entry; the alert form for a gate showing
//! Vietnamese and English asks for exactly those two, validates before its confirm dialog, and
//! shows both languages in that dialog as the screens draw them. No JavaScript errors.
//! Screenshots go to `target/console-screenshots/task-*.png`.

use std::process::{Command, Stdio};

use crate::console_browser::{api, assert_no_js_errors, nav, shot, sign_in};
use crate::console_support::{slide_png, start_driver, wait_for, Session};

use gatecast_controller::config::{BrokerMode, Config};
use gatecast_controller::serve::Running;
use gatecast_testkit::ChildGuard;
use serde_json::{json, Value};

const GATE: &str = "Lào Cai – Hà Khẩu";
const OTHER_GATE: &str = "Kim Thành";
const VIDEO: &str = "Lào Cai – điểm hẹn biên giới";

/// Today at the gates (Asia/Ho_Chi_Minh), not in the test machine's timezone.
fn gate_today() -> jiff::civil::Date {
    jiff::tz::TimeZone::get("Asia/Ho_Chi_Minh")
        .unwrap()
        .to_datetime(jiff::Timestamp::now())
        .date()
}

/// Whether `s` reads "dd/mm/yyyy – dd/mm/yyyy".
fn regex_like_dmy(s: &str) -> bool {
    let parts: Vec<&str> = s.split(" – ").collect();
    parts.len() == 2
        && parts.iter().all(|p| {
            let f: Vec<&str> = p.split('/').collect();
            f.len() == 3
                && [2, 2, 4] == [f[0].len(), f[1].len(), f[2].len()]
                && f.iter().all(|x| x.chars().all(|c| c.is_ascii_digit()))
        })
}

fn browsers_present(test: &str) -> bool {
    gatecast_tests::require_program(test, "chromium", "chromium")
        && gatecast_tests::require_program(test, "chromedriver", "chromium-driver")
}

/// An in-process controller (free ports, embedded broker) and its admin token.
async fn controller(dir: &std::path::Path) -> (Running, String, String) {
    let mut config = Config::with_data_dir(dir.join("controller"));
    config.http_addr = "127.0.0.1:0".parse().unwrap();
    config.broker = BrokerMode::Embedded("127.0.0.1:0".parse().unwrap());
    let running = gatecast_controller::serve::start(config)
        .await
        .expect("controller starts");
    let base = format!("http://{}", running.http_addr);
    let admin = std::fs::read_to_string(&running.admin_token_path)
        .unwrap()
        .trim()
        .to_string();
    (running, base, admin)
}

/// Registers a screen; returns its enrolment code.
async fn register(
    base: &str,
    admin: &str,
    id: &str,
    name: &str,
    gate: &str,
    langs: &[&str],
) -> String {
    let (st, reg) = api(
        base,
        admin,
        "POST",
        "/api/v1/screens",
        json!({"id": id, "name": name, "gate": gate, "languages": langs, "timezone": "Asia/Ho_Chi_Minh"}),
    )
    .await;
    assert_eq!(st, 201, "{reg}");
    reg["enrollment_code"].as_str().unwrap().to_string()
}

/// Enrols a real player for `screen` and runs it (null backend, ten times faster).
fn run_player(dir: &std::path::Path, base: &str, screen: &str, code: &str) -> ChildGuard {
    let bin = gatecast_tests::binary("gatecast-player");
    let home = dir.join(screen);
    let cfg = home.join("player.toml");
    let out = Command::new(&bin)
        .args([
            "enroll",
            "--controller",
            base,
            "--screen",
            screen,
            "--code",
            code,
            "--backend",
            "null",
        ])
        .arg("--config")
        .arg(&cfg)
        .arg("--data")
        .arg(home.join("data"))
        .output()
        .expect("running gatecast-player enroll");
    assert!(
        out.status.success(),
        "enroll {screen} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    ChildGuard::spawn_stderr_to_log(
        &format!("gatecast-player run ({screen})"),
        Command::new(&bin)
            .args([
                "run",
                "--backend",
                "null",
                "--status-interval-secs",
                "1",
                "--null-speed",
                "10",
            ])
            .arg("--config")
            .arg(&cfg)
            .stdout(Stdio::null()),
        &home.join("player.log"),
    )
}

/// A small real MP4 when ffmpeg is installed (the controller may read its duration), else
/// bytes that only claim to be one (the null backend plays anything).
fn video_bytes(dir: &std::path::Path) -> Vec<u8> {
    let out = dir.join("video.mp4");
    let made = Command::new("ffmpeg")
        .args([
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x180:rate=10",
            "-t",
            "3",
            "-pix_fmt",
            "yuv420p",
            "-y",
        ])
        .arg(&out)
        .status()
        .is_ok_and(|s| s.success());
    if made {
        std::fs::read(&out).unwrap()
    } else {
        b"\x00\x00\x00\x18ftypmp42 not really a video".to_vec()
    }
}

pub(crate) async fn upload(
    base: &str,
    token: &str,
    bytes: Vec<u8>,
    mime: &str,
    query: &str,
) -> Value {
    let resp = reqwest::Client::new()
        .post(format!("{base}/api/v1/media?{query}"))
        .bearer_auth(token)
        .header("content-type", mime)
        .body(bytes)
        .send()
        .await
        .unwrap();
    let st = resp.status().as_u16();
    let v: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert_eq!(st, 201, "{v}");
    v
}

/// Counts the operator's actions (clicks, typing, choices) of the common task.
struct Actions<'a> {
    s: &'a Session,
    n: u32,
}

impl Actions<'_> {
    async fn click(&mut self, css: &str) {
        self.n += 1;
        let el = self.s.wait(css).await;
        self.s.click(&el).await;
    }

    async fn choose(&mut self, css: &str, value: &str) {
        self.n += 1;
        self.s.set_value(css, value).await;
    }
}

/// What the common task made: one entry for the whole gate, two weeks of gate days,
/// 07:00–21:00; and only the chosen gate's screens were published.
async fn assert_made_and_published(
    base: &str,
    admin: &str,
    today: jiff::civil::Date,
    last: jiff::civil::Date,
) {
    let (_, schedules) = api(base, admin, "GET", "/api/v1/schedules", Value::Null).await;
    let e = &schedules.as_array().unwrap()[0];
    assert_eq!(schedules.as_array().unwrap().len(), 1, "{schedules}");
    assert_eq!(e["targets"]["gates"], json!([GATE]), "{e}");
    assert_eq!(
        (e["from"].as_str().unwrap(), e["until"].as_str().unwrap()),
        (today.to_string().as_str(), last.to_string().as_str())
    );
    assert_eq!(
        (e["start"].as_str(), e["end"].as_str()),
        (Some("07:00"), Some("21:00"))
    );
    let (_, kt) = api(base, admin, "GET", "/api/v1/screens/kt-1", Value::Null).await;
    assert!(
        kt["published_version"].is_null(),
        "kt-1 was not chosen: {kt}"
    );
    let (_, actions) = api(base, admin, "GET", "/api/v1/actions", Value::Null).await;
    let published: Vec<String> = actions
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["action"] == "publish")
        .flat_map(|x| x["versions"].as_array().cloned().unwrap_or_default())
        .map(|v| v["screen"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(published, ["lc-hk-1", "lc-hk-2"], "{actions}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_common_task_puts_a_video_on_a_gate_in_eight_actions() {
    let test = "console_common_task_puts_a_video_on_a_gate_in_eight_actions";
    if !browsers_present(test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (running, base, admin) = controller(dir.path()).await;
    let c1 = register(
        &base,
        &admin,
        "lc-hk-1",
        "Sảnh xuất cảnh",
        GATE,
        &["vi", "en", "zh-Hans"],
    )
    .await;
    let c2 = register(
        &base,
        &admin,
        "lc-hk-2",
        "Sảnh nhập cảnh",
        GATE,
        &["vi", "en", "zh-Hans"],
    )
    .await;
    register(
        &base,
        &admin,
        "kt-1",
        "Kim Thành sảnh chính",
        OTHER_GATE,
        &["vi"],
    )
    .await;
    let _p1 = run_player(dir.path(), &base, "lc-hk-1", &c1);
    let _p2 = run_player(dir.path(), &base, "lc-hk-2", &c2);
    let title = VIDEO.replace(' ', "%20");
    let video = upload(
        &base,
        &admin,
        video_bytes(dir.path()),
        "video/mp4",
        &format!("kind=video&lang=vi&title={title}"),
    )
    .await;
    let sha = video["sha256"].as_str().unwrap().to_string();

    let driver = start_driver(&dir.path().join("chromedriver.log")).await;
    let downloads = dir.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let s = Session::new(&driver, &dir.path().join("profile"), &downloads, 1366, 768).await;
    sign_in(&s, &base, &admin).await;
    nav(&s, "media").await;
    s.wait(&format!("tr[data-sha='{sha}']")).await;

    // The common task, every action counted.
    let mut a = Actions { s: &s, n: 0 };
    a.click(&format!("a[data-flow='{sha}']")).await;
    a.click(&format!("fieldset[data-gate='{GATE}'] legend input"))
        .await;
    a.click("input[name='period'][value='week2']").await;
    a.choose("input[name='start']", "07:00").await;
    a.choose("input[name='end']", "21:00").await;
    s.js("window.scrollTo(0, 0)", vec![]).await;
    shot(&s, "task-00-flow-form").await;
    a.click("#flow-preview").await;
    s.wait(".tl-row[data-screen='lc-hk-2'] svg.timeline rect")
        .await;

    // The preview says it in words: both screens of the gate, two weeks in gate days, the
    // hours, the priority in words, what each plays today; nothing of the other gate.
    let (today, last) = {
        let d = gate_today();
        (d, d.checked_add(jiff::Span::new().days(13)).unwrap())
    };
    let dmy = |d: jiff::civil::Date| d.strftime("%d/%m/%Y").to_string();
    let plan = s
        .js(
            "return document.querySelector('#flow-plan').innerText",
            vec![],
        )
        .await;
    let plan = plan.as_str().unwrap();
    for want in [
        format!(
            "“{VIDEO}” sẽ phát trên 2 màn hình từ {} đến hết {}, mỗi ngày 07:00–21:00.",
            dmy(today),
            dmy(last)
        ),
        "chưa có lịch nào khác".to_string(),
        "Cảnh báo khẩn luôn hiện trước nội dung này.".to_string(),
        "Sảnh xuất cảnh".to_string(),
        "Sảnh nhập cảnh".to_string(),
        format!("07:00–21:00 {VIDEO}"),
        "Đăng lên 2 màn hình".to_string(),
    ] {
        assert!(
            plan.contains(&want),
            "{want:?} missing from the plan:\n{plan}"
        );
    }
    assert!(!plan.contains("Kim Thành"), "{plan}");
    assert!(
        !plan.contains("P10") && !plan.contains("P1"),
        "no raw priority: {plan}"
    );
    s.js(
        "document.querySelector('#flow-plan').scrollIntoView()",
        vec![],
    )
    .await;
    shot(&s, "task-01-flow-preview").await;
    if video["poster"].is_string() {
        // ffmpeg drew a poster on upload: the timeline's legend shows it, not an icon.
        s.wait("#flow-plan li.new img.tl-thumb[data-poster='true']")
            .await;
    }

    a.click("#flow-publish").await;
    assert!(a.n <= 8, "the common task took {} actions", a.n);
    eprintln!("common task: {} actions", a.n);

    // Both screens play it: the flow's progress, then the wall, then their receipts.
    for id in ["lc-hk-1", "lc-hk-2"] {
        s.wait_js(90, &format!("{id} playing the new version"), &format!(
            "(() => {{ const li = document.querySelector(\"#flow-progress li[data-screen='{id}']\"); return li && li.innerText.includes('Đang phát bản mới'); }})()"
        ))
        .await;
    }
    shot(&s, "task-02-flow-published").await;
    nav(&s, "screens").await;
    for id in ["lc-hk-1", "lc-hk-2"] {
        s.wait_js(
            60,
            &format!("{id} on the wall playing the video"),
            &format!(
                "document.querySelector(\".card.online[data-screen='{id}'] [data-now='{sha}']\")"
            ),
        )
        .await;
        let card = s
            .js(
                &format!("return document.querySelector(\".card[data-screen='{id}']\").innerText"),
                vec![],
            )
            .await;
        assert!(card.as_str().unwrap().contains(VIDEO), "{card}");
    }
    shot(&s, "task-03-wall").await;
    for id in ["lc-hk-1", "lc-hk-2"] {
        wait_for(90, &format!("receipts of {id} for the video"), || {
            let path = format!("/api/v1/receipts?screen={id}&media={sha}");
            let (base, admin) = (base.clone(), admin.clone());
            async move {
                let (st, v) = api(&base, &admin, "GET", &path, Value::Null).await;
                let rows = v["receipts"].as_array()?;
                (st == 200 && !rows.is_empty()).then_some(())
            }
        })
        .await;
    }

    assert_made_and_published(&base, &admin, today, last).await;

    // The priority rule, with an everyday loop present: above it, never equal to another.
    let prio = s
        .js_async(
            "import('/console/flow.js').then(m => arguments[0]([ \
               m.choosePriority([{id: 'loop', priority: 10}], '2026-09-01', '2026-09-14').priority, \
               m.choosePriority([{id: 'loop', priority: 10}, {id: 'x', priority: 20}], '2026-09-01', '2026-09-14').priority, \
               m.choosePriority([{id: 'loop', priority: 10}, {id: 'old', priority: 50, until: '2026-01-01'}], '2026-09-01', '2026-09-14').priority]));",
            vec![],
        )
        .await;
    assert_eq!(prio, json!([20, 30, 20]));
    let ids = s
        .js_async(
            "import('/console/ui.js').then(m => arguments[0]([m.suggestId('Quốc khánh 2/9'), m.suggestId('Đường Hồ Chí Minh trên biển')]));",
            vec![],
        )
        .await;
    assert_eq!(
        ids,
        json!(["quoc-khanh-2-9", "duong-ho-chi-minh-tren-bien"])
    );
    campaign_preset_takes_an_entry_s_dates(&s, &dmy(today), &dmy(last)).await;
    assert_no_js_errors(&s, "the common task").await;
    s.quit().await;
    running.shutdown().await;
}

/// The "campaign" period: the dates of a campaign already scheduled (the one the common task
/// made), and the plan's anniversaries as the two weeks up to their day.
async fn campaign_preset_takes_an_entry_s_dates(s: &Session, from: &str, until: &str) {
    let periods = s
        .js_async(
            "import('/console/flow.js').then(m => arguments[0](m.campaignPeriods([ \
               {playlist: 'p', from: '2026-12-01', until: '2026-12-20'}, \
               {playlist: 'p', from: '2026-12-10', until: '2027-01-05'}, \
               {playlist: 'old', from: '2026-01-01', until: '2026-02-01'}], (id) => 'Tên ' + id, '2026-12-07') \
               .map(c => [c.key, c.name, c.from, c.until])));",
            vec![],
        )
        .await;
    let periods = periods.as_array().unwrap();
    assert_eq!(
        periods[0],
        json!([
            "cal:resistance",
            "Kỷ niệm Ngày Toàn quốc kháng chiến (19/12)",
            "2026-12-06",
            "2026-12-19"
        ])
    );
    assert_eq!(
        periods[1],
        json!(["pl:p", "Tên p", "2026-12-01", "2027-01-05"])
    );
    assert!(!periods.iter().any(|c| c[0] == "pl:old"), "{periods:?}");
    assert_eq!(periods.len(), 13, "one entry and 12 anniversaries");

    s.js("location.hash = '#/flow'", vec![]).await;
    s.wait("section[data-page='flow'] h1").await;
    s.click(&s.wait("input[name='period'][value='campaign']").await)
        .await;
    let key = s
        .js(
            "return [...document.querySelectorAll('#flow-campaign option')].map(o => o.value).find(v => v.startsWith('pl:'))",
            vec![],
        )
        .await;
    s.set_value("#flow-campaign", key.as_str().unwrap()).await;
    let text = s
        .js(
            "return document.querySelector('#flow-period').innerText",
            vec![],
        )
        .await;
    assert!(
        text.as_str()
            .unwrap()
            .starts_with(&format!("Từ {from} đến hết {until} (14 ngày")),
        "{text}"
    );
    shot(s, "task-05-flow-campaign").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_calendar_shows_who_wins_an_overlap_and_copies_an_entry() {
    let test = "console_calendar_shows_who_wins_an_overlap_and_copies_an_entry";
    if !browsers_present(test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (running, base, admin) = controller(dir.path()).await;
    register(&base, &admin, "lc-hk-1", "Sảnh xuất cảnh", GATE, &["vi"]).await;
    let slide = upload(
        &base,
        &admin,
        slide_png(640, 360),
        "image/png",
        "kind=slide&lang=vi&title=Ch%C3%A0o",
    )
    .await;
    let sha = slide["sha256"].as_str().unwrap();
    for (id, name) in [
        ("chao-mung", "Chào mừng du khách"),
        ("quoc-khanh", "Quốc khánh 2/9"),
    ] {
        let (st, v) = api(
            &base,
            &admin,
            "POST",
            "/api/v1/playlists",
            json!({"id": id, "name": name, "items": [{"media": sha, "duration_ms": 8000}]}),
        )
        .await;
        assert!(st == 201 || st == 200, "{v}");
    }
    let today = gate_today();
    let until = today.checked_add(jiff::Span::new().days(2)).unwrap();
    for body in [
        json!({"id": "hang-ngay", "playlist": "chao-mung", "priority": 10, "targets": {"gates": [GATE]}}),
        json!({"id": "quoc-khanh-2026", "playlist": "quoc-khanh", "priority": 20, "targets": {"gates": [GATE]},
               "from": today.to_string(), "until": until.to_string(), "start": "07:00", "end": "21:00"}),
    ] {
        let (st, v) = api(&base, &admin, "POST", "/api/v1/schedules", body).await;
        assert_eq!(st, 201, "{v}");
    }

    let driver = start_driver(&dir.path().join("chromedriver.log")).await;
    let downloads = dir.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let s = Session::new(&driver, &dir.path().join("profile"), &downloads, 1366, 900).await;
    sign_in(&s, &base, &admin).await;
    nav(&s, "schedule").await;
    let day = today.to_string();
    let win = s
        .wait_js(20, "the winner's note on today's block", &format!(
            "(() => {{ const d = document.querySelector(\".week .day[data-day='{day}']\"); \
             const w = d && d.querySelector(\".entry[data-schedule='quoc-khanh-2026'] .ov.win[data-overlap='hang-ngay']\"); \
             const l = d && d.querySelector(\".entry[data-schedule='hang-ngay'] .ov.lose[data-overlap='quoc-khanh-2026']\"); \
             return w && l && [w.innerText, l.innerText]; }})()"
        ))
        .await;
    assert_eq!(
        win,
        json!([
            "Thắng “Chào mừng du khách” 07:00–21:00",
            "Bị “Quốc khánh 2/9” che 07:00–21:00 (ưu tiên cao hơn)"
        ])
    );
    let title = s
        .js(
            "return document.querySelector('#cal-title').innerText",
            vec![],
        )
        .await;
    let title = title.as_str().unwrap();
    let week = regex_like_dmy(title);
    assert!(
        week,
        "week title in dd/mm/yyyy whatever the browser's locale: {title:?}"
    );
    s.js("document.querySelector('.cal').scrollIntoView()", vec![])
        .await;
    shot(&s, "task-04-calendar-week").await;

    // The month names the winner of the day too.
    s.click(&s.wait("button[data-view='month']").await).await;
    let m = s
        .wait_js(10, "the month's overlap note", &format!(
            "(() => {{ const d = document.querySelector(\".month .mday[data-day='{day}'] .ov.win\"); return d && d.innerText; }})()"
        ))
        .await;
    assert_eq!(
        m,
        json!("“Quốc khánh 2/9” thắng “Chào mừng du khách” 07:00–21:00")
    );
    shot(&s, "task-05-calendar-month").await;

    // Copy the campaign as a new entry: the id is suggested, the rest is kept.
    s.click(
        &s.wait(&format!(
            ".month .mday[data-day='{day}'] .chip[data-schedule='quoc-khanh-2026']"
        ))
        .await,
    )
    .await;
    s.click(&s.wait("#cal-copy").await).await;
    let id = s
        .wait_js(
            5,
            "the suggested id",
            "document.querySelector('#cal-editor input[name=id]').value",
        )
        .await;
    let id = id.as_str().unwrap().to_string();
    assert!(id.starts_with("quoc-khanh-2-9-"), "{id}");
    s.click(&s.wait("#cal-editor button[type='submit']").await)
        .await;
    s.wait(&format!(".cal-open[data-open='{id}']")).await;
    let (_, copy) = api(
        &base,
        &admin,
        "GET",
        &format!("/api/v1/schedules/{id}"),
        Value::Null,
    )
    .await;
    assert_eq!(
        (
            copy["playlist"].as_str(),
            copy["priority"].as_i64(),
            copy["start"].as_str()
        ),
        (Some("quoc-khanh"), Some(20), Some("07:00")),
        "{copy}"
    );
    shot(&s, "task-06-calendar-copied").await;
    assert_no_js_errors(&s, "the calendar").await;
    s.quit().await;
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_alert_form_asks_only_the_gates_languages_and_previews_them() {
    let test = "console_alert_form_asks_only_the_gates_languages_and_previews_them";
    if !browsers_present(test) {
        return;
    }
    let renderer = gatecast_render::Renderer::system();
    if let Some(w) = renderer.coverage().warning() {
        if gatecast_testkit::external_required() {
            panic!("{test}: {w}");
        }
        println!("SKIPPED: {test}: {w}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (running, base, admin) = controller(dir.path()).await;
    register(
        &base,
        &admin,
        "lc-hk-1",
        "Sảnh xuất cảnh",
        GATE,
        &["vi", "en"],
    )
    .await;
    register(
        &base,
        &admin,
        "kt-1",
        "Kim Thành sảnh chính",
        OTHER_GATE,
        &["vi", "zh-Hans"],
    )
    .await;

    let driver = start_driver(&dir.path().join("chromedriver.log")).await;
    let downloads = dir.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let s = Session::new(&driver, &dir.path().join("profile"), &downloads, 1366, 900).await;
    sign_in(&s, &base, &admin).await;
    nav(&s, "alerts").await;
    s.wait("#alert-form").await;
    let texts = "[...document.querySelectorAll('#al-texts textarea')].map(t => t.dataset.lang)";

    // Nothing targeted, nothing asked; sending is refused before any dialog.
    assert_eq!(s.js(&format!("return {texts}"), vec![]).await, json!([]));
    s.click(&s.wait("#alert-form button[type='submit']").await)
        .await;
    let p = s
        .wait_js(
            5,
            "the problems",
            "document.querySelector('#al-problems').innerText",
        )
        .await;
    assert!(
        p.as_str()
            .unwrap()
            .contains("Hãy chọn cửa khẩu hoặc màn hình nhận cảnh báo."),
        "{p}"
    );
    assert_eq!(
        s.js("return document.querySelector('#al-confirm').open", vec![])
            .await,
        json!(false)
    );

    // The gate shows vi and en: exactly those two are asked for, filled from the template.
    s.click(&s.wait(&format!("#al-targets input[value='{GATE}']")).await)
        .await;
    assert_eq!(
        s.js(&format!("return {texts}"), vec![]).await,
        json!(["vi", "en"])
    );
    s.set_value("#al-template", "dong-cua-khau").await;
    s.click(&s.wait("#alert-form button[type='submit']").await)
        .await;
    let p = s
        .wait_js(
            5,
            "the unfilled part",
            "document.querySelector('#al-problems').innerText",
        )
        .await;
    assert!(
        p.as_str().unwrap().contains("còn chỗ cần điền: [giờ]"),
        "{p}"
    );
    assert_eq!(
        s.js("return document.querySelector('#al-confirm').open", vec![])
            .await,
        json!(false)
    );
    s.set_value("#al-template", "lu-lut").await;
    assert_eq!(
        s.js(&format!("return {texts}"), vec![]).await,
        json!(["vi", "en"])
    );
    shot(&s, "task-07-alert-form").await;
    s.click(&s.wait("#alert-form button[type='submit']").await)
        .await;
    let figs = s
        .wait_js(20, "both previews in the confirm dialog", "(() => { const d = document.querySelector('#al-confirm'); \
            const f = [...d.querySelectorAll('figure')]; return d.open && f.length === 2 && f.every(x => { const i = x.querySelector('img'); return i.complete && i.naturalWidth === 960; }) && f.map(x => x.dataset.lang); })()")
        .await;
    assert_eq!(figs, json!(["vi", "en"]));
    let (_, alerts) = api(&base, &admin, "GET", "/api/v1/alerts", Value::Null).await;
    assert_eq!(alerts, json!([]), "nothing is sent before the confirm");
    shot(&s, "task-08-alert-confirm").await;
    s.click(&s.wait("#al-confirm-send").await).await;
    let sent = wait_for(10, "the alert stored", || {
        let (base, admin) = (base.clone(), admin.clone());
        async move {
            let (_, v) = api(&base, &admin, "GET", "/api/v1/alerts", Value::Null).await;
            v.as_array().filter(|a| !a.is_empty()).map(|a| a[0].clone())
        }
    })
    .await;
    assert_eq!(sent["targets"]["gates"], json!([GATE]), "{sent}");
    let langs: Vec<&str> = sent["text"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["lang"].as_str().unwrap())
        .collect();
    assert_eq!(langs, ["vi", "en"]);
    assert!(
        sent["text"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("CẢNH BÁO LŨ"),
        "{sent}"
    );
    assert_no_js_errors(&s, "the alert form").await;
    s.quit().await;
    running.shutdown().await;
}

/// Security row 86: what the flow makes and publishes follows the operator's choice only. A
/// media title written to look like markup and JSON naming another screen stays text on the
/// page, the ids made from it are plain `[a-z0-9-]`, and choosing one screen of a gate of two
/// targets and publishes that screen alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_flow_publishes_only_the_chosen_screens_whatever_the_title() {
    let test = "attack_flow_publishes_only_the_chosen_screens_whatever_the_title";
    if !browsers_present(test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (running, base, admin) = controller(dir.path()).await;
    register(&base, &admin, "lc-hk-1", "Sảnh xuất cảnh", GATE, &["vi"]).await;
    register(&base, &admin, "lc-hk-2", "Sảnh nhập cảnh", GATE, &["vi"]).await;
    register(
        &base,
        &admin,
        "kt-1",
        "Kim Thành sảnh chính",
        OTHER_GATE,
        &["vi"],
    )
    .await;
    let evil = r#"<img src=x onerror="window.pwned=1">","targets":{"gates":["Kim Thành"]},"screens":["kt-1"]"#;
    let q: String = evil.bytes().map(|b| format!("%{b:02X}")).collect();
    let video = upload(
        &base,
        &admin,
        video_bytes(dir.path()),
        "video/mp4",
        &format!("kind=video&lang=vi&title={q}"),
    )
    .await;
    let sha = video["sha256"].as_str().unwrap().to_string();
    assert_eq!(video["title"], evil);

    let driver = start_driver(&dir.path().join("chromedriver.log")).await;
    let downloads = dir.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let s = Session::new(&driver, &dir.path().join("profile"), &downloads, 1366, 768).await;
    sign_in(&s, &base, &admin).await;
    s.goto(&format!("{base}/#/flow?media={sha}")).await;
    s.click(&s.wait("input[name='screen'][value='lc-hk-1']").await)
        .await;
    s.click(&s.wait("input[name='period'][value='today']").await)
        .await;
    s.click(&s.wait("#flow-preview").await).await;
    s.wait(".tl-row[data-screen='lc-hk-1']").await;
    let rows = s
        .js(
            "return [...document.querySelectorAll('.tl-row')].map(r => r.dataset.screen)",
            vec![],
        )
        .await;
    assert_eq!(rows, json!(["lc-hk-1"]));
    s.click(&s.wait("#flow-publish").await).await;
    s.wait("#flow-progress li[data-screen='lc-hk-1']").await;
    assert_eq!(
        s.js(
            "return window.pwned === undefined && !document.querySelector('#main img[src=\"x\"]')",
            vec![]
        )
        .await,
        json!(true)
    );

    let (_, schedules) = api(&base, &admin, "GET", "/api/v1/schedules", Value::Null).await;
    let e = &schedules[0];
    assert_eq!(e["targets"]["screens"], json!(["lc-hk-1"]), "{e}");
    assert!(
        e["targets"]["gates"]
            .as_array()
            .is_none_or(|g| g.is_empty()),
        "{e}"
    );
    let plain = |v: &Value| {
        v.as_str()
            .unwrap()
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    assert!(plain(&e["id"]) && plain(&e["playlist"]), "{e}");
    for (id, published) in [("lc-hk-1", true), ("lc-hk-2", false), ("kt-1", false)] {
        let (_, sc) = api(
            &base,
            &admin,
            "GET",
            &format!("/api/v1/screens/{id}"),
            Value::Null,
        )
        .await;
        assert_eq!(!sc["published_version"].is_null(), published, "{id}: {sc}");
    }
    assert_no_js_errors(&s, "the flow with a hostile title").await;
    s.quit().await;
    running.shutdown().await;
}
