//! The web console: static HTML, CSS and ES modules embedded in the binary and served
//! at `/` and `/console/…` with a strict Content-Security-Policy.
//!
//! Nothing is fetched from the internet and nothing is built with Node: the files under
//! `controller/console/` are served as they are. Every answer carries a strong ETag (SHA-256 of
//! the file) and `Cache-Control: no-cache`, so a browser revalidates cheaply and always runs the
//! code of the binary it talks to.

use std::sync::OnceLock;

use warp::http::{header, Method, Response, StatusCode};
use warp::reply::Response as WarpResponse;
use warp::Filter;

/// The Content-Security-Policy of every console answer.
pub const CSP: &str = "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; \
style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; \
base-uri 'none'; form-action 'self'";

/// One embedded file.
struct Asset {
    /// URL path.
    path: &'static str,
    /// Content-Type.
    mime: &'static str,
    /// The bytes.
    body: &'static [u8],
}

macro_rules! asset {
    ($url:literal, $file:literal, $mime:expr) => {
        Asset {
            path: $url,
            mime: $mime,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/console/", $file)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

static ASSETS: &[Asset] = &[
    asset!("/", "index.html", "text/html; charset=utf-8"),
    asset!("/index.html", "index.html", "text/html; charset=utf-8"),
    asset!("/console/style.css", "style.css", "text/css; charset=utf-8"),
    asset!("/console/icon.svg", "icon.svg", "image/svg+xml"),
    asset!("/console/app.js", "app.js", JS),
    asset!("/console/api.js", "api.js", JS),
    asset!("/console/i18n.js", "i18n.js", JS),
    asset!("/console/words.js", "words.js", JS),
    asset!("/console/admin.js", "admin.js", JS),
    asset!("/console/ui.js", "ui.js", JS),
    asset!("/console/screens.js", "screens.js", JS),
    asset!("/console/content.js", "content.js", JS),
    asset!("/console/schedule.js", "schedule.js", JS),
    asset!("/console/publish.js", "publish.js", JS),
    asset!("/console/audit.js", "audit.js", JS),
    asset!("/console/approvals.js", "approvals.js", JS),
    asset!("/console/cap.js", "cap.js", JS),
    asset!("/console/subtitles.js", "subtitles.js", JS),
    asset!("/console/report.js", "report.js", JS),
    asset!("/console/users.js", "users.js", JS),
    asset!("/console/resolve.js", "resolve.js", JS),
    asset!("/console/flow.js", "flow.js", JS),
    asset!("/console/calendar.js", "calendar.js", JS),
    asset!("/console/alerts.js", "alerts.js", JS),
    asset!("/console/ticker.js", "ticker.js", JS),
];

/// Strong ETags, computed once.
fn etags() -> &'static [String] {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| format!("\"{}\"", playlists::hex::sha256_hex(a.body)))
            .collect()
    })
}

/// Builds the answer for `path`, or `None` when the path is not a console file.
pub fn respond(method: &Method, path: &str, if_none_match: Option<&str>) -> Option<WarpResponse> {
    if method != Method::GET && method != Method::HEAD {
        return None;
    }
    let i = ASSETS.iter().position(|a| a.path == path)?;
    let asset = &ASSETS[i];
    let etag = &etags()[i];
    let b = Response::builder()
        .header(header::CONTENT_SECURITY_POLICY, CSP)
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::REFERRER_POLICY, "no-referrer")
        .header(header::X_FRAME_OPTIONS, "DENY")
        .header(header::CACHE_CONTROL, "no-cache")
        .header(header::ETAG, etag.as_str());
    let not_modified =
        if_none_match.is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let resp = if not_modified {
        b.status(StatusCode::NOT_MODIFIED).body(Vec::new().into())
    } else {
        let body = if method == Method::HEAD {
            Vec::new()
        } else {
            asset.body.to_vec()
        };
        b.status(StatusCode::OK)
            .header(header::CONTENT_TYPE, asset.mime)
            .header(header::CONTENT_LENGTH, asset.body.len())
            .body(body.into())
    };
    Some(resp.expect("valid console response"))
}

/// The warp filter: answers console paths, rejects (so the API answers) everything else.
pub fn routes(
) -> impl Filter<Extract = (WarpResponse,), Error = warp::Rejection> + Clone + Send + Sync + 'static
{
    warp::method()
        .and(warp::path::full())
        .and(warp::header::optional::<String>("if-none-match"))
        .and_then(
            |method: Method, path: warp::path::FullPath, inm: Option<String>| async move {
                respond(&method, path.as_str(), inm.as_deref()).ok_or_else(warp::reject::not_found)
            },
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_has_csp_nosniff_and_etag() {
        let r = respond(&Method::GET, "/", None).expect("index is served");
        assert_eq!(r.status(), StatusCode::OK);
        let h = r.headers();
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], CSP);
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(h[header::REFERRER_POLICY], "no-referrer");
        assert!(h[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        let etag = h[header::ETAG].to_str().unwrap().to_string();
        let again = respond(&Method::GET, "/", Some(&etag)).unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    }

    #[test]
    fn unknown_paths_and_methods_fall_through() {
        assert!(respond(&Method::GET, "/api/v1/keys", None).is_none());
        assert!(respond(&Method::GET, "/console/../Cargo.toml", None).is_none());
        assert!(respond(&Method::POST, "/", None).is_none());
    }

    #[test]
    fn every_script_is_a_module_with_the_js_type() {
        for a in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
            assert_eq!(a.mime, JS, "{}", a.path);
            assert!(!a.body.is_empty(), "{} is empty", a.path);
        }
    }

    #[test]
    fn index_has_no_inline_script_or_style() {
        let html = std::str::from_utf8(ASSETS[0].body).unwrap();
        assert!(!html.contains("<script>"), "inline script in index.html");
        assert!(!html.contains("style="), "inline style in index.html");
        assert!(!html.contains("<style"), "style element in index.html");
        assert!(!html.contains("http://") && !html.contains("https://"));
    }
}
