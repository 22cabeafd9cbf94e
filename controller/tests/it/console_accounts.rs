//! Named accounts in the web console, in a real headless Chromium against a real controller
//! (docs/operations.md "Accounts", docs/security.md §3 row 81): an admin creates a user with
//! two-factor sign-in on the "Người dùng" page (one-time password, otpauth link and QR code);
//! the user signs in with login, password and a TOTP code computed here; a second tab of the
//! same browser is signed in without typing again and creates a playlist, which the action log
//! names the user for; a forged cross-site form POST from a page of another origin (a tiny HTTP
//! server on port 0) is refused with 403 `csrf` and changes nothing; "Đăng xuất" ends the session
//! and the API refuses the old cookie. No JavaScript errors.

use crate::console_browser::{api, assert_no_js_errors, nav, shot, sign_in};
use crate::console_support::{
    browser_available, open_browser, slide_png, start_controller, TestController,
};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LOGIN: &str = "lan.nguyen";
const NAME: &str = "Nguyễn Thị Lan";

/// Serves one HTML page, to every request, from another origin (`127.0.0.1:<other port>`):
/// the attacker's page.
async fn forged_page_server(html: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let html = html.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{html}",
                    html.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}/")
}

async fn with_cookie(base: &str, method: &str, path: &str, cookie: &str) -> u16 {
    reqwest::Client::new()
        .request(method.parse().unwrap(), format!("{base}{path}"))
        .header("cookie", format!("gatecast_session={cookie}"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_console_accounts_sign_in_two_tabs_forged_post_sign_out() {
    let test = "attack_console_accounts_sign_in_two_tabs_forged_post_sign_out";
    if !browser_available(test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let TestController {
        running: _running,
        base,
        admin,
    } = start_controller(dir.path(), |_| {}).await;
    let resp = reqwest::Client::new()
        .post(format!(
            "{base}/api/v1/media?kind=slide&lang=vi&title=Ch%C3%A0o%20m%E1%BB%ABng"
        ))
        .bearer_auth(&admin)
        .header("content-type", "image/png")
        .body(slide_png(640, 360))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let sha = serde_json::from_str::<Value>(&resp.text().await.unwrap()).unwrap()["sha256"]
        .as_str()
        .unwrap()
        .to_string();

    let (_driver, s, _downloads) = open_browser(dir.path(), 1366, 900).await;

    // --- the admin (API token) creates the user on "Người dùng" ----------------------------
    sign_in(&s, &base, &admin).await;
    nav(&s, "users").await;
    s.type_into(&s.wait("#user-new input[name='login']").await, LOGIN)
        .await;
    s.type_into(&s.wait("#user-new input[name='name']").await, NAME)
        .await;
    s.set_value("#user-new select[name='role']", "operator")
        .await;
    s.click(&s.wait("#user-new button[type='submit']").await)
        .await;
    s.wait(&format!("tr[data-login='{LOGIN}']")).await;
    let password = s
        .wait_js(20, "the one-time password", "document.querySelector(\"[data-once] [data-field='password']\") && document.querySelector(\"[data-once] [data-field='password']\").textContent")
        .await
        .as_str()
        .unwrap()
        .to_string();
    let otpauth = s
        .wait_js(
            20,
            "the otpauth link",
            "document.querySelector(\"[data-once] [data-field='otpauth']\").getAttribute('href')",
        )
        .await
        .as_str()
        .unwrap()
        .to_string();
    assert!(otpauth.starts_with("otpauth://totp/"), "{otpauth}");
    let qr = s
        .wait_js(20, "the QR code image decoded", "(() => { const i = document.querySelector(\"[data-once] img[data-field='qr']\"); return i && i.complete && i.naturalWidth > 0 && [i.naturalWidth, i.getAttribute('src').slice(0, 30)]; })()")
        .await;
    assert!(qr[0].as_u64().unwrap() >= 100, "{qr}");
    assert!(
        qr[1].as_str().unwrap().starts_with("data:image/svg+xml"),
        "{qr}"
    );
    let row = s.text().await;
    assert!(
        row.contains(NAME) && row.contains("Biên tập viên") && row.contains("Bật"),
        "{row}"
    );
    shot(&s, "accounts-01-users").await;
    s.js("document.querySelector(\"[data-once] img[data-field='qr']\").scrollIntoView({block: 'center'});", vec![]).await;
    shot(&s, "accounts-02-qr").await;
    let secret = otpauth
        .split("secret=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_string();
    s.click(&s.wait("#sign-out").await).await;

    // --- the user signs in: wrong password, then the code is asked for, then in -------------
    let login = s.wait("#signin input[name='login']").await;
    shot(&s, "accounts-03-signin-vi").await;
    s.type_into(&login, LOGIN).await;
    let pw = s.wait("#signin input[name='password']").await;
    s.type_into(&pw, "not the password at all").await;
    s.click(&s.wait("#signin button[type='submit']").await)
        .await;
    s.wait_js(20, "the wrong-password message", "document.querySelector('#signin .error-text').textContent.includes('Sai tên đăng nhập, mật khẩu hoặc mã xác thực')").await;
    s.type_into(&pw, &password).await;
    s.click(&s.wait("#signin button[type='submit']").await)
        .await;
    s.wait_js(
        20,
        "the code-needed message",
        "document.querySelector('#signin .error-text').textContent.includes('nhập mã 6 số')",
    )
    .await;
    shot(&s, "accounts-04-signin-code").await;
    let code = gatecast_controller::accounts::totp_now(&secret, LOGIN).expect("a TOTP code");
    s.type_into(&s.wait("#signin input[name='code']").await, &code)
        .await;
    s.click(&s.wait("#signin button[type='submit']").await)
        .await;
    s.wait("#nav a[data-page='screens']").await;
    s.wait_js(
        20,
        "the user's name at the top",
        &format!("document.getElementById('who').textContent.includes('{NAME}')"),
    )
    .await;
    assert!(
        s.find("#nav a[data-page='users']").await.is_none(),
        "an operator sees no users page"
    );
    let first = s.window().await;

    // --- a second tab is signed in by the cookie and creates a playlist -------------------
    s.new_tab().await;
    s.goto(&format!("{base}/#/playlists")).await;
    s.wait("section[data-page='playlists'] h1").await;
    assert!(
        s.find("#signin").await.is_none(),
        "the second tab did not ask to sign in"
    );
    s.type_into(&s.wait("#playlist-form input[name='id']").await, "tab-hai")
        .await;
    s.type_into(
        &s.wait("#playlist-form input[name='name']").await,
        "Thẻ thứ hai",
    )
    .await;
    s.set_value("#playlist-form select[name='add-media']", &sha)
        .await;
    s.click(&s.wait("#add-item").await).await;
    s.wait("#playlist-form ol.items input.secs").await;
    s.click(&s.wait("#playlist-form button[type='submit']").await)
        .await;
    s.wait_js(20, "the saved playlist", "document.querySelector('.pl-list') && document.querySelector('.pl-list').innerText.includes('Thẻ thứ hai')").await;

    // The alert preview (a POST answered by an image, as the console's alert page fetches
    // it) works with the cookie and the CSRF token this tab got from GET /api/v1/session.
    let preview = s
        .js_async(
            "const done = arguments[arguments.length - 1]; import('/console/api.js').then((m) => \
             m.postForBlob('/api/v1/alerts/preview?width=480&height=270&lang=vi', \
             { text: [{ lang: 'vi', text: 'Cửa khẩu tạm đóng' }] })).then((b) => done([b.type, b.size]), \
             (e) => done(['error', e.status]));",
            vec![],
        )
        .await;
    assert_eq!(preview[0], "image/png", "{preview}");
    assert!(preview[1].as_u64().unwrap() > 1000, "{preview}");

    // The action log names the person.
    let (st, log) = api(&base, &admin, "GET", "/api/v1/actions", json!(null)).await;
    assert_eq!(st, 200, "{log}");
    let by_user: Vec<&Value> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["actor"] == LOGIN)
        .collect();
    assert!(
        by_user.iter().any(|a| a["action"]
            .as_str()
            .unwrap_or_default()
            .starts_with("playlist")
            && a["detail"].to_string().contains("tab-hai")),
        "no playlist action by {LOGIN}: {log}"
    );

    // --- a forged cross-site POST from another origin, in the same browser ----------------
    let (_, before) = api(&base, &admin, "GET", "/api/v1/playlists", json!(null)).await;
    let evil = forged_page_server(format!(
        "<!doctype html><meta charset=\"utf-8\"><title>khuyến mãi</title>\
         <form id=\"f\" method=\"POST\" action=\"{base}/api/v1/playlists\" enctype=\"text/plain\">\
         <input name='{{\"id\":\"forged\",\"name\":\"forged\",\"items\":[],\"x\":\"' value='\"}}'></form>\
         <script>document.getElementById('f').submit();</script>"
    ))
    .await;
    s.goto(&evil).await;
    let answer = s
        .wait_js(
            20,
            "the controller's answer to the forged POST",
            &format!(
                "location.href.startsWith('{base}') && document.body && document.body.innerText"
            ),
        )
        .await;
    let answer: Value = serde_json::from_str(answer.as_str().unwrap()).expect("a JSON error");
    assert_eq!(
        answer["error"], "csrf",
        "the cookie went along and the CSRF check refused it: {answer}"
    );
    let (st, _) = api(
        &base,
        &admin,
        "GET",
        "/api/v1/playlists/forged",
        json!(null),
    )
    .await;
    assert_eq!(st, 404, "the forged POST created nothing");
    let (_, after) = api(&base, &admin, "GET", "/api/v1/playlists", json!(null)).await;
    assert_eq!(before, after, "the forged POST changed nothing");

    // --- sign out: back to the sign-in page; the old cookie is refused -----------------------
    s.goto(&format!("{base}/")).await;
    s.wait("#nav a[data-page='screens']").await;
    let cookie = s
        .cookie("gatecast_session")
        .await
        .expect("the session cookie");
    assert_eq!(
        with_cookie(&base, "GET", "/api/v1/session", &cookie).await,
        200
    );
    s.click(&s.wait("#sign-out").await).await;
    s.wait("#signin input[name='login']").await;
    // The sign-in page shows after the DELETE was answered: the session is over.
    assert_eq!(
        with_cookie(&base, "GET", "/api/v1/session", &cookie).await,
        401
    );
    assert_eq!(
        with_cookie(&base, "GET", "/api/v1/playlists", &cookie).await,
        401
    );
    let (st, log) = api(&base, &admin, "GET", "/api/v1/actions", json!(null)).await;
    assert_eq!(st, 200);
    assert!(log.to_string().contains("session.sign_out"), "{log}");
    // The first tab is signed out too.
    s.switch_to(&first).await;
    s.goto(&format!("{base}/")).await;
    s.wait("#signin input[name='login']").await;
    assert_no_js_errors(&s, "the accounts pages").await;
    s.quit().await;
}
