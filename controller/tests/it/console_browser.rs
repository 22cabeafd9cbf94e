//! The web console in a real headless Chromium (chromedriver, W3C WebDriver), against a real
//! controller (in-process, free ports, temp data dir) and a real `gatecast-player` process with
//! the null backend: an admin signs in, uploads a slide, builds a playlist, schedules it,
//! publishes and sees the screen turn online and play the new item; an auditor filters the
//! playback log and downloads the CSV, sees no publish button, and a forged publish request
//! with the auditor's token is refused with 403. No JavaScript errors may appear in the
//! browser console. Screenshots of every page go to `target/console-screenshots/`.

use crate::console_support;

use std::process::{Command, Stdio};
use std::time::Duration;

use console_support::{screenshot_dir, slide_png, start_driver, wait_for, Session};
use gatecast_controller::config::{BrokerMode, Config};
use gatecast_testkit::ChildGuard;
use serde_json::{json, Value};

const SCREEN: &str = "lc-hk-1";
const GATE: &str = "Lào Cai – Hà Khẩu";
const TITLE: &str = "Chào mừng đến Lào Cai";

pub(crate) async fn api(
    base: &str,
    token: &str,
    method: &str,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let http = reqwest::Client::new();
    let r = http
        .request(method.parse().unwrap(), format!("{base}{path}"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("API request");
    let s = r.status().as_u16();
    (
        s,
        serde_json::from_str(&r.text().await.unwrap_or_default()).unwrap_or(Value::Null),
    )
}

/// Chromium's SEVERE console entries since the last call (uncaught errors, unhandled promise
/// rejections, `console.error`, CSP violations). HTTP error answers the console handles (a 403
/// it shows, a 404 of an audit endpoint) are logged as "Failed to load resource" network
/// entries; those are not JS errors.
pub(crate) async fn js_errors(s: &Session) -> Vec<String> {
    s.browser_log()
        .await
        .into_iter()
        .filter(|e| e["level"] == "SEVERE")
        .map(|e| e["message"].as_str().unwrap_or_default().to_string())
        .filter(|m| !m.contains("Failed to load resource"))
        .collect()
}

/// Fails on JavaScript errors (see [`js_errors`]).
pub(crate) async fn assert_no_js_errors(s: &Session, page: &str) {
    let severe = js_errors(s).await;
    assert!(
        severe.is_empty(),
        "browser console errors on {page}: {severe:?}"
    );
}

/// Proves that [`js_errors`] sees what it must: an uncaught error and an unhandled rejection
/// thrown on the page show up (and are drained, so they do not fail the later checks).
async fn probe_js_error_detection(s: &Session) {
    s.js(
        "setTimeout(() => { throw new Error('gatecast-probe-uncaught'); }, 0); \
         Promise.reject(new Error('gatecast-probe-rejection'));",
        vec![],
    )
    .await;
    let seen = std::sync::Mutex::new(Vec::<String>::new());
    wait_for(30, "the probe errors in the browser log", || async {
        let new = js_errors(s).await;
        let mut seen = seen.lock().unwrap();
        seen.extend(new);
        (seen.iter().any(|m| m.contains("gatecast-probe-uncaught"))
            && seen.iter().any(|m| m.contains("gatecast-probe-rejection")))
        .then_some(())
    })
    .await;
}

pub(crate) async fn shot(s: &Session, name: &str) {
    let path = screenshot_dir().join(format!("{name}.png"));
    s.screenshot(&path).await;
    eprintln!("screenshot: {}", path.display());
}

pub(crate) async fn nav(s: &Session, page: &str) {
    let link = s.wait(&format!("#nav a[data-page='{page}']")).await;
    s.click(&link).await;
    s.wait(&format!("section[data-page='{page}'] h1")).await;
}

pub(crate) async fn sign_in(s: &Session, base: &str, token: &str) {
    s.goto(&format!("{base}/")).await;
    // The token sign-in is the secondary option under the login form.
    let other = s.wait("#signin #use-token").await;
    s.click(&other).await;
    let input = s.wait("#signin-token input[name='token']").await;
    s.type_into(&input, token).await;
    let button = s.wait("#signin-token button[type='submit']").await;
    s.click(&button).await;
    s.wait("#nav a[data-page='screens']").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_admin_and_auditor_flows_in_chromium() {
    let test = "console_admin_and_auditor_flows_in_chromium";
    if !gatecast_tests::require_program(test, "chromium", "chromium")
        || !gatecast_tests::require_program(test, "chromedriver", "chromium-driver")
    {
        return;
    }
    let player_bin = gatecast_tests::binary("gatecast-player");
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::with_data_dir(dir.path().join("controller"));
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

    // The console is served with its security headers.
    let index = reqwest::get(format!("{base}/")).await.unwrap();
    assert_eq!(index.status(), 200);
    let csp = index.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(index.headers()["x-content-type-options"], "nosniff");

    // Setup through the API: an auditor token and a registered (not yet running) screen.
    let (st, tok) = api(
        &base,
        &admin,
        "POST",
        "/api/v1/tokens",
        json!({"role": "auditor"}),
    )
    .await;
    assert_eq!(st, 201, "{tok}");
    let auditor = tok["token"].as_str().unwrap().to_string();
    let (st, reg) = api(
        &base,
        &admin,
        "POST",
        "/api/v1/screens",
        json!({"id": SCREEN, "name": "Nhà chờ xuất cảnh", "gate": GATE, "languages": ["vi", "en", "zh-Hans"], "timezone": "Asia/Ho_Chi_Minh"}),
    )
    .await;
    assert_eq!(st, 201, "{reg}");
    let code = reg["enrollment_code"].as_str().unwrap().to_string();

    let slide = dir.path().join("chao-mung.png");
    std::fs::write(&slide, slide_png(640, 360)).unwrap();
    let downloads = dir.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let driver = start_driver(&dir.path().join("chromedriver.log")).await;
    let s = Session::new(&driver, &dir.path().join("profile"), &downloads, 1366, 768).await;

    // --- admin -------------------------------------------------------------------------
    sign_in(&s, &base, &admin).await;
    probe_js_error_detection(&s).await;
    s.wait(&format!(".card[data-screen='{SCREEN}']")).await;
    let text = s.text().await;
    assert!(
        text.contains("Ngoại tuyến"),
        "the screen starts offline, in Vietnamese:\n{text}"
    );
    shot(&s, "01-screens-offline").await;

    // Upload a slide.
    nav(&s, "media").await;
    let file = s.wait("#upload-form input[type='file']").await;
    s.send_file(&file, &slide).await;
    s.set_value("#upload-form select[name='kind']", "slide")
        .await;
    s.set_value("#upload-form select[name='lang']", "vi").await;
    let title = s.wait("#upload-form input[name='title']").await;
    s.type_into(&title, TITLE).await;
    let dur = s.wait("#upload-form input[name='duration']").await;
    s.type_into(&dur, "5").await;
    s.click(&s.wait("#upload-form button[type='submit']").await)
        .await;
    let sha = s
        .wait_js(20, "the uploaded slide in the library", &format!(
            "[...document.querySelectorAll('tr[data-sha]')].filter(r => r.innerText.includes('{TITLE}')).map(r => r.dataset.sha)[0]"
        ))
        .await;
    let sha = sha.as_str().unwrap().to_string();
    assert_eq!(
        s.js(
            "return document.querySelector('#upload-form progress').value",
            vec![]
        )
        .await,
        json!(100),
        "the upload progress bar ends full"
    );
    // Preview it, then a screenshot of the page.
    s.click(
        &s.wait(&format!("tr[data-sha='{sha}'] button.secondary"))
            .await,
    )
    .await;
    s.wait("img.preview").await;
    shot(&s, "02-media").await;

    // Build a playlist.
    nav(&s, "playlists").await;
    s.type_into(
        &s.wait("#playlist-form input[name='id']").await,
        "chao-mung",
    )
    .await;
    s.type_into(
        &s.wait("#playlist-form input[name='name']").await,
        "Chào mừng du khách",
    )
    .await;
    s.set_value("#playlist-form select[name='add-media']", &sha)
        .await;
    s.click(&s.wait("#add-item").await).await;
    s.wait("#playlist-form ol.items input.secs").await;
    s.click(&s.wait("#playlist-form button[type='submit']").await)
        .await;
    s.wait_js(20, "the saved playlist in the list", "document.querySelector('.pl-list') && document.querySelector('.pl-list').innerText.includes('Chào mừng du khách')").await;
    shot(&s, "03-playlists").await;

    // Schedule it at the gate, every day.
    nav(&s, "schedule").await;
    s.type_into(
        &s.wait("#schedule-form input[name='id']").await,
        "chao-mung-hang-ngay",
    )
    .await;
    s.set_value("#schedule-form select[name='playlist']", "chao-mung")
        .await;
    s.js(
        "document.querySelector(`#schedule-form input[name='gate'][value='${arguments[0]}']`).click();",
        vec![json!(GATE)],
    )
    .await;
    s.click(&s.wait("#schedule-form button[type='submit']").await)
        .await;
    s.wait(".week .entry[data-schedule='chao-mung-hang-ngay']")
        .await;
    let days = s.js("return document.querySelectorAll(\".week .entry[data-schedule='chao-mung-hang-ngay']\").length", vec![]).await;
    assert_eq!(
        days,
        json!(7),
        "an every-day entry shows on all 7 days of the week view"
    );
    s.js("window.scrollTo(0, 0);", vec![]).await;
    shot(&s, "04-schedule").await;

    // Publish (confirm dialogs are accepted by the test).
    nav(&s, "publish").await;
    s.wait(&format!("tr[data-screen='{SCREEN}']")).await;
    shot(&s, "05-publish-plan").await;
    s.js("window.confirm = () => true;", vec![]).await;
    s.click(&s.wait("#publish-confirm").await).await;
    s.wait("td[data-state]").await;

    // Now the player starts: enrol it and run it with the null backend.
    let cfg = dir.path().join("player.toml");
    let out = Command::new(&player_bin)
        .args([
            "enroll",
            "--controller",
            &base,
            "--screen",
            SCREEN,
            "--code",
            &code,
            "--backend",
            "null",
        ])
        .arg("--config")
        .arg(&cfg)
        .arg("--data")
        .arg(dir.path().join("player-data"))
        .output()
        .expect("running gatecast-player enroll");
    assert!(
        out.status.success(),
        "enroll failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _player = ChildGuard::spawn_stderr_to_log(
        "gatecast-player run",
        Command::new(&player_bin)
            .args(["run", "--backend", "null", "--status-interval-secs", "1"])
            .arg("--config")
            .arg(&cfg)
            .stdout(Stdio::null()),
        &dir.path().join("player.log"),
    );
    s.wait_js(60, "the publish page to show the version activated", "[...document.querySelectorAll('td[data-state]')].some(td => td.innerText.includes('Đã kích hoạt'))").await;
    shot(&s, "06-publish-activated").await;

    nav(&s, "screens").await;
    s.wait_js(
        60,
        "the screen online and playing the slide",
        &format!(
            "document.querySelector(\".card.online[data-screen='{SCREEN}'] [data-now='{sha}']\")"
        ),
    )
    .await;
    let card = s
        .js(
            &format!("return document.querySelector(\".card[data-screen='{SCREEN}']\").innerText"),
            vec![],
        )
        .await;
    let card = card.as_str().unwrap();
    assert!(
        card.contains("Trực tuyến") && card.contains(TITLE),
        "{card}"
    );
    let thumb_ok = s.wait_js(20, "the slide thumbnail to load", &format!(
        "(() => {{ const i = document.querySelector(\".card[data-screen='{SCREEN}'] img.thumb\"); return i && i.complete && i.naturalWidth === 640; }})()"
    )).await;
    assert_eq!(thumb_ok, json!(true));
    shot(&s, "07-screens-online").await;
    s.size(1920, 1080).await;
    shot(&s, "07b-screens-1920").await;
    s.size(1366, 768).await;

    // Alerts: compose and preview (not sent).
    nav(&s, "alerts").await;
    // No target is chosen by default; the gate's languages are asked for once it is.
    s.click(&s.wait(&format!("#al-targets input[value='{GATE}']")).await)
        .await;
    let ta = s.wait("#alert-form textarea[data-lang='vi']").await;
    s.type_into(&ta, "Cửa khẩu tạm dừng làm thủ tục từ 14 giờ do mưa lớn.")
        .await;
    s.wait_js(
        10,
        "the alert preview",
        "(() => { const i = document.querySelector('.alert-preview img'); return !!i && i.complete && i.naturalWidth === 960 && i.alt.includes('mưa lớn'); })()",
    )
    .await;
    s.js(
        "document.querySelector('.alert-preview').scrollIntoView({block: 'center'})",
        vec![],
    )
    .await;
    shot(&s, "08-alerts").await;

    // English switch, and back.
    s.click(&s.wait("#lang-switch").await).await;
    s.wait_js(
        10,
        "English navigation",
        "document.querySelector(\"#nav a[data-page='screens']\").innerText === 'Screens'",
    )
    .await;
    assert_eq!(
        s.js("return document.documentElement.lang", vec![]).await,
        json!("en")
    );
    shot(&s, "09-alerts-english").await;
    s.click(&s.wait("#lang-switch").await).await;
    s.wait_js(
        10,
        "Vietnamese navigation",
        "document.querySelector(\"#nav a[data-page='screens']\").innerText === 'Màn hình'",
    )
    .await;
    let missing = s
        .js_async(
            "import('/console/i18n.js').then(m => arguments[0](m.missingKeys()));",
            vec![],
        )
        .await;
    assert_eq!(
        missing,
        json!([]),
        "every text exists in Vietnamese and English"
    );
    // Audit periods are days at the gate, whatever the browser's timezone: at 17:10 UTC it is
    // already the next day in Lào Cai, and the "To" day is included up to its end.
    let days = s
        .js_async(
            "Promise.all([import('/console/ui.js'), import('/console/audit.js')]).then(([u, m]) => { const at = new Date('2026-11-26T17:10:00Z'); \
             arguments[0]([Intl.DateTimeFormat().resolvedOptions().timeZone, u.todayIn('Asia/Ho_Chi_Minh', at), u.todayIn('UTC', at), \
             m.dayRange('2026-11-20', '2026-11-27', 'Asia/Ho_Chi_Minh')]); });",
            vec![],
        )
        .await;
    assert_eq!(
        days,
        json!([
            console_support::BROWSER_TZ,
            "2026-11-27",
            "2026-11-26",
            {"from": "2026-11-19T17:00:00Z", "to": "2026-11-27T17:00:00Z"}
        ]),
        "gate days, not browser days"
    );
    assert_no_js_errors(&s, "admin pages").await;

    // --- auditor -----------------------------------------------------------------------
    s.click(&s.wait("#sign-out").await).await;
    s.wait("#signin").await;
    sign_in(&s, &base, &auditor).await;
    assert!(
        s.find("#nav a[data-page='publish']").await.is_none(),
        "an auditor sees no Publish link"
    );
    s.goto(&format!("{base}/#/publish")).await;
    s.wait("section[data-page] h1").await;
    assert!(
        s.find("#publish-confirm").await.is_none(),
        "an auditor sees no publish button"
    );
    assert!(s.find("#upload-form").await.is_none());
    let forged = s
        .js_async(
            "fetch('/api/v1/publish', {method: 'POST', headers: {'Authorization': 'Bearer ' + sessionStorage.getItem('gatecast.token'), \
             'Content-Type': 'application/json'}, body: JSON.stringify({all: true})}).then(r => arguments[0](r.status));",
            vec![],
        )
        .await;
    assert_eq!(
        forged,
        json!(403),
        "the API refuses a publish forged with the auditor's token"
    );

    nav(&s, "log").await;
    s.set_value("#log-filters select[name='screen']", SCREEN)
        .await;
    s.click(&s.wait("#log-search").await).await;
    let receipts_api = reqwest::Client::new()
        .get(format!("{base}/api/v1/receipts?screen={SCREEN}"))
        .bearer_auth(&auditor)
        .send()
        .await
        .unwrap();
    if receipts_api.status() == 404 {
        s.wait(".notice").await;
        eprintln!("NOTE: {test}: /api/v1/receipts answers 404 here; checked the console's degraded message instead of the CSV");
        shot(&s, "10-log").await;
    } else {
        assert_eq!(receipts_api.status(), 200);
        // Receipts of the null-backend plays arrive in batches: wait for one in the table.
        wait_for(90, "a receipt row in the playback log", || {
            let s = &s;
            async move {
                s.click(&s.wait("#log-search").await).await;
                tokio::time::sleep(Duration::from_millis(300)).await;
                s.find("tr[data-seq]").await
            }
        })
        .await;
        shot(&s, "10-log").await;
        s.click(&s.wait("#log-csv").await).await;
        let csv = wait_for(30, "the CSV download", || {
            let d = downloads.clone();
            async move {
                let f = std::fs::read_dir(&d)
                    .ok()?
                    .flatten()
                    .find(|e| e.file_name().to_string_lossy().ends_with(".csv"))?;
                std::fs::read(f.path()).ok().filter(|b| !b.is_empty())
            }
        })
        .await;
        assert!(
            csv.starts_with(b"\xEF\xBB\xBF"),
            "the CSV starts with a BOM for spreadsheets"
        );
        let text = String::from_utf8(csv).expect("UTF-8 CSV");
        assert!(text.lines().next().unwrap().contains("screen"), "{text}");
        assert!(
            text.contains(SCREEN) && text.contains(TITLE),
            "the CSV lists the play with its Vietnamese title:\n{text}"
        );
    }

    nav(&s, "compliance").await;
    s.wait_js(20, "the compliance report or its notice", "document.querySelector('section[data-page=compliance] .panel dl, section[data-page=compliance] .notice, section[data-page=compliance] .error-text')").await;
    shot(&s, "11-compliance").await;
    // The plays report by media: rows with their counts (not zeros) summing to the total, each
    // media named by its title (not its hash).
    s.click(&s.wait("#plays-run").await).await;
    let rows = s
        .wait_js(
            20,
            "plays report rows",
            "(() => { const rows = [...document.querySelectorAll('#plays-report tr')].filter((r) => r.querySelector('td[data-col=plays]')); \
             return rows.length ? rows.map((r) => [r.dataset.total === 'true', r.cells[0].textContent, Number(r.querySelector('td[data-col=plays]').textContent)]) : null; })()",
        )
        .await;
    let rows = rows.as_array().expect("rows").clone();
    let (total, groups): (Vec<_>, Vec<_>) = rows.iter().partition(|r| r[0] == json!(true));
    let total = total.first().expect("a total row")[2].as_u64().unwrap();
    let sum: u64 = groups.iter().map(|r| r[2].as_u64().unwrap()).sum();
    assert!(total > 0, "the plays report counts the plays: {rows:?}");
    assert_eq!(sum, total, "the rows sum to the total: {rows:?}");
    assert!(
        groups.iter().any(|r| r[1] == json!(TITLE)),
        "the media is named by its title: {rows:?}"
    );
    assert!(
        groups.iter().all(|r| !r[1]
            .as_str()
            .is_some_and(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))),
        "no row shows a hash: {rows:?}"
    );
    s.js(
        "document.getElementById('plays-report').scrollIntoView()",
        vec![],
    )
    .await;
    shot(&s, "11-plays").await;
    nav(&s, "export").await;
    s.wait("#export-download").await;
    shot(&s, "12-export").await;
    assert_no_js_errors(&s, "auditor pages").await;

    s.quit().await;
    running.shutdown().await;
}

/// A status of the wrong shape (stored by an older build, before the controller checked
/// status fields: `docs/security.md` §3 row 50) must not stop the wall: the other screens'
/// cards are drawn, and the wall keeps polling (a later status shows up).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_console_wall_survives_a_bad_status() {
    let test = "attack_console_wall_survives_a_bad_status";
    if !gatecast_tests::require_program(test, "chromium", "chromium")
        || !gatecast_tests::require_program(test, "chromedriver", "chromium-driver")
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::with_data_dir(dir.path().join("controller"));
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
    for id in ["bad-1", "good-2"] {
        let (st, reg) = api(
            &base,
            &admin,
            "POST",
            "/api/v1/screens",
            json!({"id": id, "name": id, "gate": GATE, "languages": ["vi"], "timezone": "Asia/Ho_Chi_Minh"}),
        )
        .await;
        assert_eq!(st, 201, "{reg}");
    }
    let put = |id: &str, status: Value| {
        let rec = gatecast_controller::store::StatusRecord {
            screen: id.to_string(),
            status,
            received_at: jiff::Timestamp::now().to_string(),
            online: true,
        };
        let store = running.store().clone();
        async move {
            store
                .put_status(&rec, std::time::Duration::from_secs(90))
                .await
                .unwrap()
        }
    };
    put(
        "bad-1",
        json!({"state": 7, "current": 12345, "cache": "full", "last_rejection": [1],
               "journal_backlog": {"n": 1}, "last_error": 5}),
    )
    .await;
    put(
        "good-2",
        json!({"state": "playing", "manifest_version": 41}),
    )
    .await;

    let downloads = dir.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let driver = start_driver(&dir.path().join("chromedriver.log")).await;
    let s = Session::new(&driver, &dir.path().join("profile"), &downloads, 1366, 768).await;
    sign_in(&s, &base, &admin).await;
    let drawn = |v: u64| {
        format!(
            "(() => {{ const c = document.querySelector(\".card[data-screen='good-2'] [data-field='active']\"); \
             return !!c && c.innerText.trim() === '{v}' && !!document.querySelector(\".card[data-screen='bad-1']\"); }})()"
        )
    };
    s.wait_js(20, "both cards on the wall", &drawn(41)).await;
    // The loop goes on: a later status of the good screen is drawn.
    put(
        "good-2",
        json!({"state": "playing", "manifest_version": 42}),
    )
    .await;
    s.wait_js(20, "the next status on the wall", &drawn(42))
        .await;
    assert_no_js_errors(&s, "screens").await;
    s.quit().await;
    running.shutdown().await;
}
