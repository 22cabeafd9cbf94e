//! Shared helpers of the `console_*` browser tests: a minimal W3C WebDriver client over reqwest
//! (chromedriver on localhost speaks plain HTTP + JSON, so no WebDriver crate or TLS stack is
//! needed), chromedriver/Chromium start-up, a generated PNG slide, and condition waits.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use gatecast_testkit::ChildGuard;
use serde_json::{json, Value};

/// The W3C element reference key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Polls `f` every 50 ms until it returns `Some`, or panics with `what` after `secs`.
pub async fn wait_for<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A chromedriver process. Its guard kills chromedriver's whole process group on drop, so
/// that a failed test leaves no Chromium behind (chromedriver alone being killed would orphan
/// its browser).
pub struct Driver {
    _child: ChildGuard,
    /// `http://127.0.0.1:port`.
    pub url: String,
}

/// The browser's timezone: UTC−12, so that for 19 hours of every day its date lags the date
/// at the gates (UTC+7). Date handling that takes the browser's day for the gate's day fails
/// there (a CI run at 17:10 UTC once found such a bug).
pub const BROWSER_TZ: &str = "Etc/GMT+12";

/// Starts chromedriver on a free port (its Chromium in [`BROWSER_TZ`]) and waits until it
/// answers `/status`.
pub async fn start_driver(log: &Path) -> Driver {
    let port = gatecast_testkit::free_port();
    let child = ChildGuard::spawn(
        "chromedriver",
        Command::new("chromedriver")
            .env("TZ", BROWSER_TZ)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display())),
        &log.with_extension("out"),
    );
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let status = format!("{url}/status");
    wait_for(30, "chromedriver to answer /status", || {
        let r = http.get(&status).send();
        async move {
            let v: Value = serde_json::from_str(&r.await.ok()?.text().await.ok()?).ok()?;
            v["value"]["ready"].as_bool().filter(|r| *r)
        }
    })
    .await;
    Driver { _child: child, url }
}

/// One browser session.
pub struct Session {
    http: reqwest::Client,
    base: String,
}

/// A found element.
#[derive(Clone, Debug)]
pub struct El(String);

impl Session {
    /// Opens headless Chromium with `profile` as its user data directory and `downloads` as the
    /// download directory, with the window at `w`x`h`.
    pub async fn new(driver: &Driver, profile: &Path, downloads: &Path, w: u32, h: u32) -> Session {
        Session::with_args(driver, profile, downloads, w, h, &[]).await
    }

    /// [`Session::new`] with more Chromium command-line arguments.
    pub async fn with_args(
        driver: &Driver,
        profile: &Path,
        downloads: &Path,
        w: u32,
        h: u32,
        extra: &[String],
    ) -> Session {
        let http = reqwest::Client::new();
        let mut args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--no-first-run".into(),
            "--disable-extensions".into(),
            "--lang=vi".into(),
            format!("--window-size={w},{h}"),
            format!("--user-data-dir={}", profile.display()),
        ];
        args.extend(extra.iter().cloned());
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "args": args,
                "prefs": {
                    "download.default_directory": downloads.display().to_string(),
                    "download.prompt_for_download": false,
                    "safebrowsing.enabled": false,
                },
            },
        }}});
        let resp: Value = http
            .post(format!("{}/session", driver.url))
            .header("content-type", "application/json")
            .body(caps.to_string())
            .send()
            .await
            .expect("new session request")
            .text()
            .await
            .map(|t| serde_json::from_str(&t).unwrap_or(Value::Null))
            .expect("new session answer");
        let id = resp["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("chromedriver refused the session: {resp}"))
            .to_string();
        let s = Session {
            http,
            base: format!("{}/session/{id}", driver.url),
        };
        // Downloads in headless Chromium need an explicit behaviour.
        let _ = s
            .cmd(
                "POST",
                "/goog/cdp/execute",
                json!({"cmd": "Browser.setDownloadBehavior", "params": {"behavior": "allow", "downloadPath": downloads.display().to_string()}}),
            )
            .await;
        s
    }

    async fn cmd(&self, method: &str, path: &str, body: Value) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        let req = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self
                .http
                .post(url)
                .header("content-type", "application/json")
                .body(body.to_string()),
        };
        let resp = req.send().await.map_err(|e| e.to_string())?;
        let ok = resp.status().is_success();
        let text = resp.text().await.map_err(|e| e.to_string())?;
        let v: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
        if ok {
            Ok(v["value"].clone())
        } else {
            Err(v["value"].to_string())
        }
    }

    async fn must(&self, method: &str, path: &str, body: Value) -> Value {
        self.cmd(method, path, body)
            .await
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
    }

    /// Navigates to `url`; `Err` with the browser's error (e.g. a refused certificate).
    pub async fn try_goto(&self, url: &str) -> Result<Value, String> {
        self.cmd("POST", "/url", json!({ "url": url })).await
    }

    /// Navigates to `url`.
    pub async fn goto(&self, url: &str) {
        self.must("POST", "/url", json!({"url": url})).await;
    }

    /// Runs synchronous JavaScript and returns its value.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.must(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": args}),
        )
        .await
    }

    /// Runs asynchronous JavaScript (the last argument is the callback).
    pub async fn js_async(&self, script: &str, args: Vec<Value>) -> Value {
        self.must(
            "POST",
            "/execute/async",
            json!({"script": script, "args": args}),
        )
        .await
    }

    /// The first element matching `css`, if any.
    pub async fn find(&self, css: &str) -> Option<El> {
        let v = self
            .cmd(
                "POST",
                "/element",
                json!({"using": "css selector", "value": css}),
            )
            .await
            .ok()?;
        v[ELEMENT].as_str().map(|s| El(s.to_string()))
    }

    /// Waits for an element matching `css`.
    pub async fn wait(&self, css: &str) -> El {
        wait_for(20, &format!("element {css}"), || self.find(css)).await
    }

    /// Waits until `script` (a JS expression) is truthy and returns its value.
    pub async fn wait_js(&self, secs: u64, what: &str, expr: &str) -> Value {
        let script = format!("return ({expr});");
        wait_for(secs, what, || {
            let s = script.clone();
            async move {
                let v = self
                    .cmd("POST", "/execute/sync", json!({"script": s, "args": []}))
                    .await
                    .ok()?;
                let truthy = !(v.is_null() || v == json!(false) || v == json!("") || v == json!(0));
                truthy.then_some(v)
            }
        })
        .await
    }

    /// Clicks.
    pub async fn click(&self, el: &El) {
        self.must("POST", &format!("/element/{}/click", el.0), json!({}))
            .await;
    }

    /// Clears and types text (also a file path into an `<input type=file>`).
    pub async fn type_into(&self, el: &El, text: &str) {
        let _ = self
            .cmd("POST", &format!("/element/{}/clear", el.0), json!({}))
            .await;
        self.must(
            "POST",
            &format!("/element/{}/value", el.0),
            json!({"text": text}),
        )
        .await;
    }

    /// Types into a file input (no clear).
    pub async fn send_file(&self, el: &El, path: &Path) {
        self.must(
            "POST",
            &format!("/element/{}/value", el.0),
            json!({"text": path.display().to_string()}),
        )
        .await;
    }

    /// Sets the value of a `<select>` or input through JavaScript and fires `change`.
    pub async fn set_value(&self, css: &str, value: &str) {
        self.wait(css).await;
        let ok = self
            .js(
                "const e = document.querySelector(arguments[0]); e.value = arguments[1]; \
                 e.dispatchEvent(new Event('change', {bubbles: true})); return e.value === arguments[1];",
                vec![json!(css), json!(value)],
            )
            .await;
        assert_eq!(ok, json!(true), "could not set {css} to {value:?}");
    }

    /// The page's visible text.
    pub async fn text(&self) -> String {
        self.js("return document.body.innerText;", vec![])
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Resizes the window.
    pub async fn size(&self, w: u32, h: u32) {
        self.must("POST", "/window/rect", json!({"width": w, "height": h}))
            .await;
    }

    /// Saves a PNG screenshot of the viewport.
    pub async fn screenshot(&self, path: &Path) {
        use base64::Engine as _;
        let v = self.must("GET", "/screenshot", Value::Null).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().expect("screenshot is base64"))
            .expect("screenshot decodes");
        std::fs::write(path, png).expect("writing a screenshot");
    }

    /// The browser console entries (chromedriver's log endpoint), drained.
    pub async fn browser_log(&self) -> Vec<Value> {
        match self
            .cmd("POST", "/se/log", json!({"type": "browser"}))
            .await
        {
            Ok(Value::Array(a)) => a,
            _ => Vec::new(),
        }
    }

    /// Opens a new tab of the same browser (same profile, same cookies) and switches to it;
    /// returns its window handle.
    pub async fn new_tab(&self) -> String {
        let v = self
            .must("POST", "/window/new", json!({"type": "tab"}))
            .await;
        let handle = v["handle"].as_str().expect("new window handle").to_string();
        self.switch_to(&handle).await;
        handle
    }

    /// The handle of the current window.
    pub async fn window(&self) -> String {
        let v = self.must("GET", "/window", Value::Null).await;
        v.as_str().expect("window handle").to_string()
    }

    /// Switches to the window `handle`.
    pub async fn switch_to(&self, handle: &str) {
        self.must("POST", "/window", json!({"handle": handle}))
            .await;
    }

    /// The value of a cookie of the current page (`HttpOnly` ones too: WebDriver sees them).
    pub async fn cookie(&self, name: &str) -> Option<String> {
        let v = self
            .cmd("GET", &format!("/cookie/{name}"), Value::Null)
            .await
            .ok()?;
        v["value"].as_str().map(str::to_string)
    }

    /// Ends the session (the browser quits).
    pub async fn quit(self) {
        let _ = self.cmd("DELETE", "", Value::Null).await;
    }
}

/// Where screenshots go: `<target>/console-screenshots/`.
pub fn screenshot_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<exe> -> target
    let target = exe
        .ancestors()
        .nth(3)
        .expect("target directory")
        .to_path_buf();
    let dir = target.join("console-screenshots");
    std::fs::create_dir_all(&dir).expect("creating the screenshot directory");
    dir
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xffff_ffffu32;
    for &b in data {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + x as u32) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut c = kind.to_vec();
    c.extend_from_slice(data);
    out.extend_from_slice(&c);
    out.extend_from_slice(&crc32(&c).to_be_bytes());
}

/// A valid `w`x`h` RGB PNG (uncompressed deflate blocks): a teal-to-red gradient with a band,
/// so a thumbnail of it is visible in the screenshots.
pub fn slide_png(w: u32, h: u32) -> Vec<u8> {
    let mut raw = Vec::with_capacity(((w * 3 + 1) * h) as usize);
    for y in 0..h {
        raw.push(0); // filter: none
        for x in 0..w {
            let band = y > h * 2 / 5 && y < h * 3 / 5;
            let (r, g, b) = if band {
                (250, 250, 240)
            } else {
                (
                    (x * 200 / w + 11) as u8,
                    (93 - (x * 80 / w)) as u8,
                    (107 - (y * 60 / h)) as u8,
                )
            };
            raw.extend_from_slice(&[r, g, b]);
        }
    }
    let mut z = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65535).collect();
    for (i, blk) in blocks.iter().enumerate() {
        z.push(u8::from(i + 1 == blocks.len()));
        let len = blk.len() as u16;
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&(!len).to_le_bytes());
        z.extend_from_slice(blk);
    }
    z.extend_from_slice(&adler32(&raw).to_be_bytes());
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &z);
    chunk(&mut png, b"IEND", &[]);
    png
}

/// Whether Chromium and chromedriver are installed (else the `SKIPPED:` line, or a failure
/// under `GATECAST_REQUIRE_EXTERNAL=1`).
pub fn browser_available(test: &str) -> bool {
    gatecast_tests::require_program(test, "chromium", "chromium")
        && gatecast_tests::require_program(test, "chromedriver", "chromium-driver")
}

/// A controller for a console test: in-process, HTTP and the embedded broker on free ports,
/// its data in a temporary directory, with the admin token it wrote.
pub struct TestController {
    /// The running controller.
    pub running: gatecast_controller::serve::Running,
    /// `http://127.0.0.1:port`.
    pub base: String,
    /// The first admin token.
    pub admin: String,
}

/// Starts a [`TestController`] with its data under `dir/controller`; `tune` changes the
/// configuration first (TLS, limits, …).
pub async fn start_controller(
    dir: &Path,
    tune: impl FnOnce(&mut gatecast_controller::config::Config),
) -> TestController {
    use gatecast_controller::config::{BrokerMode, Config};
    let mut config = Config::with_data_dir(dir.join("controller"));
    config.http_addr = "127.0.0.1:0".parse().unwrap();
    config.broker = BrokerMode::Embedded("127.0.0.1:0".parse().unwrap());
    tune(&mut config);
    let running = gatecast_controller::serve::start(config)
        .await
        .expect("controller starts");
    let base = format!("http://{}", running.http_addr);
    let admin = std::fs::read_to_string(&running.admin_token_path)
        .unwrap()
        .trim()
        .to_string();
    TestController {
        running,
        base,
        admin,
    }
}

/// Starts chromedriver and opens one headless Chromium window of `w`x`h`, its profile in
/// `dir/profile` and its downloads in `dir/downloads` (returned too). Keep the driver alive
/// as long as the session.
pub async fn open_browser(dir: &Path, w: u32, h: u32) -> (Driver, Session, PathBuf) {
    let downloads = dir.join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let driver = start_driver(&dir.join("chromedriver.log")).await;
    let s = Session::new(&driver, &dir.join("profile"), &downloads, w, h).await;
    (driver, s, downloads)
}
