//! The console's words, errors, edits and layout in a real headless Chromium against a real
//! controller (docs/protocol.md §17 for the error codes):
//! - creating a playlist, schedule entry, screen or token with an id (a label) that exists
//!   shows the Vietnamese sentence, marks the field, and changes nothing (checked through the
//!   API); editing each of them works and is in the action log, in words;
//! - a walk over every page of the three roles in Vietnamese and English finds no text of
//!   the other language, raw error code, i18n key, hash or English sentence on a Vietnamese
//!   page, no JavaScript error, and at 390 px no page wider than the window; screenshots of
//!   every page at 1366, 768 and 390 px go to `$GATECAST_SHOTS` (or the screenshot directory).

use std::path::PathBuf;

use crate::console_browser::{api, js_errors, sign_in};
use crate::console_support::{
    browser_available, open_browser, screenshot_dir, slide_png, start_controller, Session,
};
use serde_json::{json, Value};

const GATE: &str = "Lào Cai – Hà Khẩu";

fn shots_dir() -> PathBuf {
    let dir = std::env::var_os("GATECAST_SHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| screenshot_dir().join("words"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Goes to a page by its address (the menu may be folded) and waits until it has drawn.
async fn open(s: &Session, page: &str) {
    // A query part that changes every time: the page is drawn again also when it is the one
    // on screen.
    s.js(
        "document.querySelector('#main').replaceChildren(); location.hash = '#/' + arguments[0] + '?' + Date.now();",
        vec![json!(page)],
    )
    .await;
    s.wait_js(
        20,
        &format!("page {page} drawn"),
        &format!("document.querySelector(\"section[data-page='{page}'][data-ready='1']\")"),
    )
    .await;
}

/// Waits for the banner of `kind` (`error`, `ok`) and returns its text.
async fn banner(s: &Session, kind: &str) -> String {
    s.wait_js(
        20,
        &format!("a {kind} banner"),
        &format!("document.querySelector('#flash .msg.{kind}') && document.querySelector('#flash .msg.{kind} span').innerText"),
    )
    .await
    .as_str()
    .unwrap_or_default()
    .to_string()
}

/// Clicks what `css` finds (through JavaScript: also inside a folded menu or a closed
/// `<details>`).
async fn press(s: &Session, css: &str) {
    s.wait(css).await;
    s.js(
        "document.querySelector(arguments[0]).click();",
        vec![json!(css)],
    )
    .await;
}

async fn typed(s: &Session, css: &str, text: &str) {
    let el = s.wait(css).await;
    s.type_into(&el, text).await;
}

/// What a person reads on the page that is not in the page's language: the JavaScript below
/// returns one line per problem.
const CHECK_WORDS: &str = r#"
const done = arguments[arguments.length - 1];
const [codes, lng] = arguments;
import('/console/i18n.js').then(({ dictionaries }) => {
  const d = dictionaries();
  const same = d[lng], other = d[lng === 'vi' ? 'en' : 'vi'];
  const sameVals = new Set(Object.values(same)), otherVals = new Set(Object.values(other));
  const keys = new Set([...Object.keys(same), ...Object.keys(other)]);
  // Proper names and formats that are the same in every language.
  const allow = new Set(['gatecast', 'English', 'Tiếng Việt', GATE_NAME]);
  const problems = [];
  const texts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const p = n.parentElement;
    if (!p || p.closest('script, style, noscript, code, pre, .mono, [hidden]')) continue;
    if (p.tagName !== 'OPTION' && p.getClientRects().length === 0) continue;
    // Content marked as another language (an alert template's English text) is not the console's words.
    const own = p.closest('[lang]');
    if (own && own !== document.documentElement && !own.getAttribute('lang').startsWith(lng)) continue;
    const s = n.textContent.trim();
    if (s) texts.push(s + '\u0000' + p.outerHTML.slice(0, 160));
  }
  for (const el of document.querySelectorAll('[placeholder], [aria-label], [title]')) {
    if (el.closest('[hidden]')) continue;
    for (const a of ['placeholder', 'aria-label']) { const v = el.getAttribute(a); if (v) texts.push(v.trim() + '\u0000' + a + ' of ' + el.outerHTML.slice(0, 160)); }
  }
  const english = /\b(the|is|are|not|must|of|and|was|please|failed|exists|field|before|after|unknown|invalid|cannot)\b/i;
  for (const entry of texts) {
    const [s, where] = entry.split('\u0000');
    const before = problems.length;
    if (allow.has(s)) continue;
    if (otherVals.has(s) && !sameVals.has(s)) problems.push('other language: ' + s);
    if (codes.includes(s)) problems.push('raw error code: ' + s);
    if (keys.has(s)) problems.push('i18n key: ' + s);
    if (/\b[0-9a-f]{64}\b/.test(s)) problems.push('hash: ' + s);
    if (/\{[a-z_]+\}/.test(s)) problems.push('unfilled: ' + s);
    if (lng === 'vi') {
      if (/^(v|P|seq|null|h|min|s)$/.test(s) || /^(v|P)\d+$/.test(s) || /^\d+([.,]\d+)?\s?(s|h|min)$/.test(s)) problems.push('untranslated unit or header: ' + s);
      const words = s.split(/\s+/);
      if (words.length >= 3 && !/[À-ỹđĐ]/.test(s) && english.test(s)) problems.push('English sentence: ' + s);
    }
    for (let i = before; i < problems.length; i++) problems[i] += '   (in ' + where + ')';
  }
  done([...new Set(problems)]);
}).catch((e) => done(['check failed: ' + e]));
"#;

async fn words_problems(s: &Session, lng: &str) -> Vec<String> {
    let codes: Vec<&str> = gatecast_controller::api::ERROR_CODES.to_vec();
    let script = CHECK_WORDS.replace("GATE_NAME", &serde_json::to_string(GATE).unwrap());
    let v = s.js_async(&script, vec![json!(codes), json!(lng)]).await;
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|x| x.as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_else(|| vec![format!("check returned {v}")])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_words_no_overwrite_edits_and_every_page_in_both_languages() {
    let test = "console_words_no_overwrite_edits_and_every_page_in_both_languages";
    if !browser_available(test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let c = start_controller(dir.path(), |_| {}).await;
    let (base, admin) = (c.base.clone(), c.admin.clone());

    // Setup through the API: two labelled tokens, a screen, a slide, a playlist, an entry.
    let mut tokens = Vec::new();
    for (role, label) in [("operator", "Biên tập A"), ("auditor", "Kiểm toán")] {
        let (st, v) = api(
            &base,
            &admin,
            "POST",
            "/api/v1/tokens",
            json!({"role": role, "label": label}),
        )
        .await;
        assert_eq!(st, 201, "{v}");
        tokens.push(v);
    }
    let operator = tokens[0]["token"].as_str().unwrap().to_string();
    let auditor = tokens[1]["token"].as_str().unwrap().to_string();
    let (st, v) = api(&base, &admin, "POST", "/api/v1/screens",
        json!({"id": "lc-hk-1", "name": "Sảnh xuất cảnh", "gate": GATE, "languages": ["vi", "en", "zh-Hans"], "timezone": "Asia/Ho_Chi_Minh"})).await;
    assert_eq!(st, 201, "{v}");
    let up = reqwest::Client::new()
        .post(format!(
            "{base}/api/v1/media?kind=slide&lang=vi&title=Ch%C3%A0o%20m%E1%BB%ABng"
        ))
        .bearer_auth(&admin)
        .header("content-type", "image/png")
        .body(slide_png(640, 360))
        .send()
        .await
        .unwrap();
    assert_eq!(up.status(), 201);
    let sha = serde_json::from_str::<Value>(&up.text().await.unwrap()).unwrap()["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let (st, v) = api(&base, &admin, "POST", "/api/v1/playlists",
        json!({"id": "demo-morning", "name": "Buổi sáng", "items": [{"media": sha, "duration_ms": 10000}]})).await;
    assert_eq!(st, 201, "{v}");
    let (st, v) = api(&base, &admin, "POST", "/api/v1/schedules",
        json!({"id": "sang-hang-ngay", "playlist": "demo-morning", "targets": {"gates": [GATE]}, "priority": 10})).await;
    assert_eq!(st, 201, "{v}");
    // The API's answer to a taken id: 409 with its code, field and id.
    let (st, v) = api(&base, &admin, "POST", "/api/v1/playlists",
        json!({"id": "demo-morning", "name": "Khác", "items": [{"media": sha, "duration_ms": 5000}]})).await;
    assert_eq!(
        (st, &v["error"], &v["field"], &v["id"]),
        (
            409,
            &json!("id_exists"),
            &json!("id"),
            &json!("demo-morning")
        ),
        "{v}"
    );

    let (_driver, s, _downloads) = open_browser(dir.path(), 1366, 768).await;
    sign_in(&s, &base, &admin).await;

    edits_of_playlists_and_schedules(&s, &base, &admin, &sha).await;
    edits_of_screens_tokens_media(&s, &base, &admin, &sha, &tokens).await;
    every_page(
        &s,
        &base,
        [
            ("admin", &admin),
            ("operator", &operator),
            ("auditor", &auditor),
        ],
    )
    .await;
}

/// A GET of the API as the admin.
async fn get(base: &str, admin: &str, path: &str) -> Value {
    api(base, admin, "GET", path, json!(null)).await.1
}

/// Playlists and schedule entries: a taken id changes nothing, edits work, banners close.
async fn edits_of_playlists_and_schedules(s: &Session, base: &str, admin: &str, sha: &str) {
    // --- playlists: the id is suggested from the name; a taken id changes nothing ----------
    open(s, "playlists").await;
    press(s, "#new-playlist").await;
    typed(s, "#playlist-form input[name='name']", "Quốc khánh 2/9").await;
    assert_eq!(
        s.js(
            "return document.querySelector(\"#playlist-form input[name='id']\").value",
            vec![]
        )
        .await,
        json!("quoc-khanh-2-9"),
        "the id suggested from the name, Vietnamese folded to ASCII"
    );
    typed(s, "#playlist-form input[name='id']", "demo-morning").await;
    s.set_value("#playlist-form select[name='add-media']", sha)
        .await;
    press(s, "#add-item").await;
    press(s, "#playlist-form button[type='submit']").await;
    let err = banner(s, "error").await;
    assert!(
        err.contains("“demo-morning” đã có") && err.contains("Không có gì bị thay đổi"),
        "{err}"
    );
    s.wait("#playlist-form input[name='id'][aria-invalid='true'] + .field-error")
        .await;
    let pl = get(base, admin, "/api/v1/playlists/demo-morning").await;
    assert_eq!(
        (pl["name"].as_str(), pl["items"][0]["duration_ms"].as_u64()),
        (Some("Buổi sáng"), Some(10000)),
        "{pl}"
    );
    // Editing the existing one: the success replaces the error banner.
    s.js("[...document.querySelectorAll('.pl-list button')].find(b => b.innerText === 'Buổi sáng').click();", vec![]).await;
    s.wait_js(
        10,
        "the playlist opened for editing",
        "document.querySelector(\"#playlist-form input[name='id']\").readOnly",
    )
    .await;
    typed(s, "#playlist-form input[name='name']", "Buổi sáng mới").await;
    press(s, "#playlist-form button[type='submit']").await;
    let ok = banner(s, "ok").await;
    assert!(ok.contains("Buổi sáng mới"), "{ok}");
    assert_eq!(
        s.js(
            "return document.querySelectorAll('#flash .msg').length",
            vec![]
        )
        .await,
        json!(1),
        "banners never stack"
    );
    assert_eq!(
        get(base, admin, "/api/v1/playlists/demo-morning").await["name"],
        json!("Buổi sáng mới")
    );

    // --- schedule: a taken id changes nothing; edit an entry ------------------------------
    open(s, "schedule").await;
    s.wait("#schedule-form").await;
    assert!(
        s.js(
            "return document.querySelector('#flash').children.length",
            vec![]
        )
        .await
            == json!(0),
        "a page change closes the banner"
    );
    typed(s, "#schedule-form input[name='id']", "sang-hang-ngay").await;
    s.js(
        &format!(
            "document.querySelector(\"#schedule-form input[name='gate'][value='{GATE}']\").click()"
        ),
        vec![],
    )
    .await;
    typed(s, "#schedule-form input[name='priority']", "50").await;
    press(s, "#schedule-form button[type='submit']").await;
    let err = banner(s, "error").await;
    assert!(err.contains("“sang-hang-ngay” đã có"), "{err}");
    assert_eq!(
        get(base, admin, "/api/v1/schedules/sang-hang-ngay").await["priority"],
        json!(10)
    );
    press(
        s,
        "tr[data-schedule='sang-hang-ngay'] button[data-action='edit-schedule']",
    )
    .await;
    s.wait_js(
        10,
        "the entry in the form",
        "document.querySelector(\"#schedule-form input[name='id']\").readOnly",
    )
    .await;
    typed(s, "#schedule-form input[name='priority']", "20").await;
    press(s, "#schedule-form button[type='submit']").await;
    banner(s, "ok").await;
    assert_eq!(
        get(base, admin, "/api/v1/schedules/sang-hang-ngay").await["priority"],
        json!(20)
    );
}

/// Screens, tokens and media: a taken id (label) changes nothing, edits work and are in the
/// action log in words; the language switch keeps what is typed.
async fn edits_of_screens_tokens_media(
    s: &Session,
    base: &str,
    admin: &str,
    sha: &str,
    tokens: &[Value],
) {
    // --- screens: a taken id changes nothing; edit a screen --------------------------------
    open(s, "manage").await;
    s.js("document.querySelector('#register').open = true", vec![])
        .await;
    typed(s, "#screen-new input[name='name']", "Cổng nhập cảnh").await;
    typed(s, "#screen-new input[name='id']", "lc-hk-1").await;
    typed(s, "#screen-new input[name='gate']", GATE).await;
    press(s, "#screen-new button[type='submit']").await;
    let err = banner(s, "error").await;
    assert!(err.contains("“lc-hk-1” đã có"), "{err}");
    assert_eq!(
        get(base, admin, "/api/v1/screens/lc-hk-1").await["name"],
        json!("Sảnh xuất cảnh")
    );
    press(s, "tr[data-screen='lc-hk-1'] button.secondary").await;
    typed(s, "#screen-edit input[name='name']", "Sảnh xuất cảnh A").await;
    press(s, "#screen-edit button[type='submit']").await;
    banner(s, "ok").await;
    assert_eq!(
        get(base, admin, "/api/v1/screens/lc-hk-1").await["name"],
        json!("Sảnh xuất cảnh A")
    );
    // A Vietnamese sentence for a field error, the field marked.
    press(s, "tr[data-screen='lc-hk-1'] button.secondary").await;
    typed(s, "#screen-edit input[name='timezone']", "Hanoi").await;
    press(s, "#screen-edit button[type='submit']").await;
    let err = banner(s, "error").await;
    assert!(err.contains("không phải múi giờ hợp lệ"), "{err}");
    s.wait("#screen-edit input[name='timezone'][aria-invalid='true']")
        .await;

    // --- tokens: a taken label changes nothing; rename one --------------------------------
    let before = get(base, admin, "/api/v1/tokens")
        .await
        .as_array()
        .unwrap()
        .len();
    open(s, "tokens").await;
    typed(s, "#token-new input[name='label']", "Biên tập A").await;
    press(s, "#token-new button[type='submit']").await;
    let err = banner(s, "error").await;
    assert!(err.contains("“Biên tập A” đã có"), "{err}");
    assert_eq!(
        get(base, admin, "/api/v1/tokens")
            .await
            .as_array()
            .unwrap()
            .len(),
        before
    );
    let aud_id = tokens[1]["id"].as_str().unwrap();
    press(s, &format!("tr[data-token='{aud_id}'] button.secondary")).await;
    typed(
        s,
        &format!("tr[data-token='{aud_id}'] input[name='label']"),
        "Kiểm toán sở",
    )
    .await;
    press(
        s,
        &format!("tr[data-token='{aud_id}'] form button[type='submit']"),
    )
    .await;
    banner(s, "ok").await;
    let labels: Vec<Value> = get(base, admin, "/api/v1/tokens")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["label"].clone())
        .collect();
    assert!(labels.contains(&json!("Kiểm toán sở")), "{labels:?}");

    // --- media: rename --------------------------------------------------------------------
    open(s, "media").await;
    press(
        s,
        &format!("tr[data-sha='{sha}'] button[data-action='edit-media']"),
    )
    .await;
    typed(s, "#media-edit input[name='title']", "Chào mừng du khách").await;
    press(s, "#media-edit button[type='submit']").await;
    banner(s, "ok").await;
    assert_eq!(
        get(base, admin, &format!("/api/v1/media/{sha}")).await["title"],
        json!("Chào mừng du khách")
    );

    // --- switching the language keeps what is typed ------------------------------------------
    open(s, "tokens").await;
    typed(s, "#token-new input[name='label']", "Màn hình sảnh B").await;
    press(s, "#lang-switch").await;
    s.wait_js(20, "the English page", "document.querySelector(\"section[data-page='tokens'][data-ready='1'] h1\") && document.querySelector('section h1').innerText === 'API tokens'").await;
    assert_eq!(
        s.js(
            "return document.querySelector(\"#token-new input[name='label']\").value",
            vec![]
        )
        .await,
        json!("Màn hình sảnh B")
    );
    press(s, "#lang-switch").await;
    s.wait_js(20, "the Vietnamese page", "document.querySelector(\"section[data-page='tokens'][data-ready='1'] h1\") && document.querySelector('section h1').innerText === 'Mã truy cập API'").await;

    // --- every edit is in the action log, in words ----------------------------------------
    let actions = get(base, admin, "/api/v1/actions").await;
    for a in [
        "playlist.update",
        "schedule.update",
        "screen.update",
        "token.update",
        "media.update",
    ] {
        assert!(
            actions.as_array().unwrap().iter().any(|x| x["action"] == a),
            "{a} missing from {actions}"
        );
    }
    open(s, "actions").await;
    let text = s.text().await;
    for w in [
        "Sửa danh sách phát",
        "Sửa mục lịch",
        "Sửa màn hình",
        "Đổi nhãn mã truy cập",
        "Sửa thông tin nội dung",
    ] {
        assert!(
            text.contains(w),
            "{w} missing from the action log page:\n{text}"
        );
    }
    let first = s
        .js(
            "return document.querySelector('tr[data-seq]').dataset.action",
            vec![],
        )
        .await;
    assert_eq!(first, json!("media.update"), "newest first");
    assert!(js_errors(s).await.is_empty());
}

/// Every page of the three roles in both languages and at three widths (see the module doc),
/// then the folded menu at 390 px.
async fn every_page(s: &Session, base: &str, roles: [(&str, &str); 3]) {
    // --- every page, three roles, two languages, three widths ------------------------------
    let shots = shots_dir();
    let mut problems = Vec::new();
    for (role, token) in roles {
        for lng in ["vi", "en"] {
            s.goto(&format!("{base}/")).await;
            s.js(
                "sessionStorage.clear(); localStorage.setItem('gatecast.lang', arguments[0]);",
                vec![json!(lng)],
            )
            .await;
            sign_in(s, base, token).await;
            let pages: Vec<String> = serde_json::from_value(
                s.js(
                    "return [...document.querySelectorAll('#nav a')].map(a => a.dataset.page)",
                    vec![],
                )
                .await,
            )
            .unwrap();
            assert!(pages.len() >= 10, "{role}: {pages:?}");
            for (w, h) in [(1366, 768), (768, 1024), (390, 844)] {
                if lng == "en" && w != 1366 {
                    continue;
                }
                s.size(w, h).await;
                for page in &pages {
                    open(s, page).await;
                    if w == 1366 {
                        for p in words_problems(s, lng).await {
                            problems.push(format!("{role} {lng} {page}: {p}"));
                        }
                    }
                    if w == 390 {
                        let wide = s
                            .js(
                                "return [document.documentElement.scrollWidth, innerWidth]",
                                vec![],
                            )
                            .await;
                        if wide[0].as_u64() > wide[1].as_u64() {
                            problems.push(format!(
                                "{role} {lng} {page}: {wide} wider than the window at 390 px"
                            ));
                        }
                    }
                    for e in js_errors(s).await {
                        problems.push(format!("{role} {lng} {page} {w}px: JS error {e}"));
                    }
                    s.screenshot(&shots.join(format!("{role}-{lng}-{w}-{page}.png")))
                        .await;
                }
            }
            s.size(1366, 768).await;
        }
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );

    // At 390 px the menu folds behind its button; choosing a page closes it.
    s.size(390, 844).await;
    open(s, "schedule").await;
    let shown = "getComputedStyle(document.querySelector('#nav')).display !== 'none'";
    assert_eq!(
        s.js(&format!("return {shown}"), vec![]).await,
        json!(false),
        "folded at 390 px"
    );
    press(s, "#menu-button").await;
    s.wait_js(10, "the open menu", shown).await;
    s.screenshot(&shots.join("menu-open-390.png")).await;
    press(s, "#nav a[data-page='log']").await;
    s.wait_js(
        10,
        "the menu closed after choosing",
        &format!("!({shown}) && document.querySelector(\"section[data-page='log']\")"),
    )
    .await;
    assert_eq!(
        s.js(
            "return document.querySelector('#menu-button').getAttribute('aria-expanded')",
            vec![]
        )
        .await,
        json!("false")
    );
}

#[test]
fn every_error_code_has_a_sentence_in_both_languages() {
    let words = include_str!("../../console/words.js");
    let (vi, en) = words
        .split_once("export const en")
        .expect("words.js has vi then en");
    let missing: Vec<String> = gatecast_controller::api::ERROR_CODES
        .iter()
        .flat_map(|c| {
            let key = format!("'err.{c}':");
            [("vi", vi), ("en", en)]
                .into_iter()
                .filter(move |(_, d)| !d.contains(&key))
                .map(move |(l, _)| format!("{l}: err.{c}"))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "error codes without a sentence: {missing:?}"
    );
}

/// `docs/security.md` §3 row 83: a token label (and a gate name, a screen name) with markup is
/// shown as text on the admin pages and in the action log; nothing of it runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_console_label_markup_is_shown_as_text() {
    let test = "attack_console_label_markup_is_shown_as_text";
    if !browser_available(test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let c = start_controller(dir.path(), |_| {}).await;
    let evil = "<img src=x onerror=\"window.__pwned=1\">";
    let (st, v) = api(
        &c.base,
        &c.admin,
        "POST",
        "/api/v1/tokens",
        json!({"role": "auditor", "label": evil}),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let (st, v) = api(&c.base, &c.admin, "POST", "/api/v1/screens",
        json!({"id": "lc-x", "name": evil, "gate": GATE, "languages": ["vi"], "timezone": "Asia/Ho_Chi_Minh"})).await;
    assert_eq!(st, 201, "{v}");
    let (st, v) = api(
        &c.base,
        &c.admin,
        "PUT",
        &format!("/api/v1/gates/{}", urlencode(GATE)),
        json!({"name": evil}),
    )
    .await;
    assert_eq!((st, &v["name"]), (200, &json!(evil)), "{v}");
    let (_driver, s, _downloads) = open_browser(dir.path(), 1366, 768).await;
    sign_in(&s, &c.base, &c.admin).await;
    for page in ["tokens", "manage", "actions"] {
        open(&s, page).await;
        let seen = s
            .js("return [document.querySelectorAll('#main img').length, window.__pwned === undefined, document.querySelector('#main').innerText.includes(arguments[0]) || [...document.querySelectorAll('#main input')].some(i => i.value === arguments[0])]", vec![json!(evil)])
            .await;
        assert_eq!(
            seen,
            json!([0, true, true]),
            "{page}: [img elements, not run, shown as text]"
        );
    }
    assert!(js_errors(&s).await.is_empty());
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
