//! Polled CAP feeds (`[[cap.feeds]]`, `docs/protocol.md` §22): fetching one feed URL and
//! finding the CAP 1.2 documents it offers, safely.
//!
//! A feed answers either one CAP `<alert>` or an Atom feed / RSS channel whose entries link to
//! CAP documents. Every answer is read with a size limit and a deadline, redirects and links
//! are followed only to the feed's own host or a host in its `allow_hosts`, and at most
//! [`MAX_ENTRIES`] linked documents are fetched per poll. What the documents say is checked by
//! the same intake as `POST /api/v1/cap` ([`crate::cap::parse`]); this module only fetches.

use std::collections::VecDeque;
use std::time::Duration;

use reqwest::header::{HeaderMap, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED, LOCATION};
use reqwest::{StatusCode, Url};
use serde::{Deserialize, Serialize};

/// Largest feed document (Atom/RSS or a single CAP message) read: 1 MiB.
pub const FEED_MAX_BYTES: usize = 1024 * 1024;
/// Most linked CAP documents fetched per poll of one feed.
pub const MAX_ENTRIES: usize = 10;
/// Default time between polls of a feed: 120 s.
pub const DEFAULT_EVERY_SECS: u64 = 120;
/// Default deadline of one whole HTTP exchange (connect, headers and body): 20 s.
pub const DEFAULT_TIMEOUT_SECS: u64 = 20;
/// Most redirects followed for one document.
const MAX_REDIRECTS: usize = 3;
/// How many linked documents a feed remembers as taken, so they are not fetched again.
const REMEMBERED_LINKS: usize = 500;
/// Most XML nodes of a feed document.
const MAX_NODES: u32 = 50_000;
const ATOM_NS: &str = "http://www.w3.org/2005/Atom";

/// One `[[cap.feeds]]` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedSettings {
    /// The feed's `http://` or `https://` URL.
    pub url: String,
    /// Seconds between polls (default [`DEFAULT_EVERY_SECS`], at least 1).
    #[serde(default)]
    pub every_secs: Option<u64>,
    /// Deadline of one HTTP exchange in seconds (default [`DEFAULT_TIMEOUT_SECS`]).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// Hosts besides the feed's own that redirects and entry links may lead to.
    #[serde(default)]
    pub allow_hosts: Vec<String>,
}

impl FeedSettings {
    /// The poll interval in force.
    pub fn every(&self) -> Duration {
        Duration::from_secs(self.every_secs.unwrap_or(DEFAULT_EVERY_SECS).max(1))
    }

    /// The deadline of one exchange in force.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS).max(1))
    }
}

/// Why a feed (or one document it links to) could not be read. `code()` names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedError {
    /// No connection or no HTTP answer.
    #[error("cannot reach {url}: {message}")]
    Unreachable {
        /// The URL fetched.
        url: String,
        /// The client's reason.
        message: String,
    },
    /// An HTTP status other than 200 or 304.
    #[error("{url} answered HTTP {status}")]
    Status {
        /// The URL fetched.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The body passed the size limit; it was cut off there.
    #[error("{url} sent more than {limit} bytes; cut off")]
    TooLarge {
        /// The URL fetched.
        url: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// The exchange did not finish within the deadline; it was cut off.
    #[error("{url} did not finish its answer within {secs} s; cut off")]
    Timeout {
        /// The URL fetched.
        url: String,
        /// The deadline in seconds.
        secs: u64,
    },
    /// A redirect or an entry link leads to a host that is neither the feed's nor allowed,
    /// or there are too many redirects.
    #[error("{url} leads to {to}: {why}; not followed")]
    Refused {
        /// The URL fetched.
        url: String,
        /// Where it leads.
        to: String,
        /// Why it is not followed.
        why: String,
    },
    /// The document has a `<!DOCTYPE>`.
    #[error("{url}: the document has a document type declaration (<!DOCTYPE>); DTDs and entities are refused")]
    Dtd {
        /// The URL fetched.
        url: String,
    },
    /// Not XML, or neither a CAP alert nor an Atom feed nor an RSS channel.
    #[error("{url}: {message}")]
    Malformed {
        /// The URL fetched.
        url: String,
        /// What is wrong.
        message: String,
    },
}

impl FeedError {
    /// A short code: `feed_unreachable`, `feed_http_status`, `feed_too_large`, `feed_timeout`,
    /// `feed_refused_host`, `feed_dtd_refused`, `feed_malformed`.
    pub fn code(&self) -> &'static str {
        match self {
            FeedError::Unreachable { .. } => "feed_unreachable",
            FeedError::Status { .. } => "feed_http_status",
            FeedError::TooLarge { .. } => "feed_too_large",
            FeedError::Timeout { .. } => "feed_timeout",
            FeedError::Refused { .. } => "feed_refused_host",
            FeedError::Dtd { .. } => "feed_dtd_refused",
            FeedError::Malformed { .. } => "feed_malformed",
        }
    }
}

/// A feed's state as the CAP inbox shows it (`GET /api/v1/cap`, `feeds`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FeedStatus {
    /// The feed URL.
    pub url: String,
    /// When it was last fetched (RFC 3339), whatever came of it.
    pub last_fetched: Option<String>,
    /// When it was last read without an error.
    pub last_ok: Option<String>,
    /// The error of the last poll: `{code, message}`; `None` when it went well.
    pub error: Option<FeedErrorView>,
    /// New inbox entries the feed brought so far in this run.
    pub taken: u64,
    /// Failed polls in a row.
    pub failures: u32,
}

/// An error as [`FeedStatus`] shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeedErrorView {
    /// [`FeedError::code`], or a CAP intake code (`cap_invalid`, …) for a linked document.
    pub code: String,
    /// The error in words (English; the console words the code in its own language).
    pub message: String,
}

/// The states of every configured feed, shared by the poll loops and the API.
pub type FeedStates = std::sync::Arc<std::sync::Mutex<Vec<FeedStatus>>>;

/// A CAP document a feed offered.
#[derive(Debug, Clone)]
pub struct FeedDoc {
    /// Where it came from.
    pub url: String,
    /// The exact bytes.
    pub bytes: Vec<u8>,
}

/// What one poll found: the documents, and the linked ones that failed.
#[derive(Debug, Default)]
pub struct Poll {
    /// CAP documents to hand to the intake.
    pub docs: Vec<FeedDoc>,
    /// Linked documents that could not be read.
    pub errors: Vec<FeedError>,
}

/// One feed's fetcher: its client, conditional-GET validators and the links already taken.
pub struct Fetcher {
    settings: FeedSettings,
    url: Url,
    client: reqwest::Client,
    etag: Option<String>,
    last_modified: Option<String>,
    taken_links: VecDeque<String>,
}

fn client() -> reqwest::Client {
    let builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("gatecast-controller/", env!("CARGO_PKG_VERSION")));
    let builder = match gatecast_tls::client_config(&gatecast_tls::ClientTrust::SystemRoots) {
        Ok(c) => builder.use_preconfigured_tls((*c).clone()),
        Err(e) => {
            tracing::warn!("CAP feeds: the machine's CA store could not be loaded ({e}); https feeds will fail");
            builder
        }
    };
    builder.build().unwrap_or_default()
}

impl Fetcher {
    /// Checks a feed URL: `http://` or `https://` with a host; the error says what is wrong.
    pub fn check_url(url: &str) -> Result<Url, String> {
        let u = Url::parse(url).map_err(|e| format!("feed {url:?} is not a URL ({e})"))?;
        if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
            return Err(format!("feed {url:?} is not an http:// or https:// URL"));
        }
        Ok(u)
    }

    /// A fetcher for `settings`; an error names a URL that is not `http(s)://`.
    pub fn new(settings: FeedSettings) -> Result<Fetcher, String> {
        let url = Self::check_url(&settings.url)?;
        Ok(Fetcher {
            settings,
            url,
            client: client(),
            etag: None,
            last_modified: None,
            taken_links: VecDeque::new(),
        })
    }

    /// The feed URL.
    pub fn url(&self) -> &str {
        &self.settings.url
    }

    /// Forgets the conditional-GET validators, so the next poll reads the feed whole again
    /// (after its document was refused: the refusal is reported again, not hidden by a 304).
    pub fn refetch(&mut self) {
        self.etag = None;
        self.last_modified = None;
    }

    /// Remembers that the linked document `link` was taken in (a later poll skips it).
    pub fn taken(&mut self, link: &str) {
        if self.taken_links.iter().any(|l| l == link) {
            return;
        }
        if self.taken_links.len() >= REMEMBERED_LINKS {
            self.taken_links.pop_front();
        }
        self.taken_links.push_back(link.to_string());
    }

    fn allowed(&self, to: &Url) -> bool {
        let Some(host) = to.host_str() else {
            return false;
        };
        matches!(to.scheme(), "http" | "https")
            && (Some(host) == self.url.host_str()
                || self
                    .settings
                    .allow_hosts
                    .iter()
                    .any(|h| h.eq_ignore_ascii_case(host)))
    }

    fn refused(&self, from: &Url, to: &Url) -> FeedError {
        FeedError::Refused {
            url: from.to_string(),
            to: to.to_string(),
            why: format!(
                "host {:?} is neither the feed's host {:?} nor in its allow_hosts",
                to.host_str().unwrap_or(""),
                self.url.host_str().unwrap_or("")
            ),
        }
    }

    /// Polls the feed once. `Ok` with no documents when it did not change (HTTP 304).
    pub async fn poll(&mut self, cap_max_bytes: usize) -> Result<Poll, FeedError> {
        let url = self.url.clone();
        let Some((final_url, headers, body)) = self.get(&url, FEED_MAX_BYTES, true).await? else {
            return Ok(Poll::default());
        };
        let doc = read_xml(&final_url, &body)?;
        let mut poll = Poll::default();
        match doc {
            Kind::Cap => poll.docs.push(FeedDoc {
                url: final_url.to_string(),
                bytes: body,
            }),
            Kind::Links(links) => {
                for link in links {
                    let to = match final_url.join(&link) {
                        Ok(u) => u,
                        Err(e) => {
                            poll.errors.push(FeedError::Malformed {
                                url: final_url.to_string(),
                                message: format!("entry link {link:?} is not a URL ({e})"),
                            });
                            continue;
                        }
                    };
                    if self.taken_links.iter().any(|l| l == to.as_str()) {
                        continue;
                    }
                    if poll.docs.len() + poll.errors.len() >= MAX_ENTRIES {
                        tracing::info!(feed = %self.settings.url, "CAP feed: more than {MAX_ENTRIES} new entries; the rest wait for the next poll");
                        break;
                    }
                    if !self.allowed(&to) {
                        poll.errors.push(self.refused(&final_url, &to));
                        continue;
                    }
                    match self.get(&to, cap_max_bytes, false).await {
                        Ok(Some((u, _, bytes))) => poll.docs.push(FeedDoc {
                            url: u.to_string(),
                            bytes,
                        }),
                        Ok(None) => {}
                        Err(e) => poll.errors.push(e),
                    }
                }
            }
        }
        // Validators are kept only once the document was read whole and understood.
        self.etag = header(&headers, ETAG);
        self.last_modified = header(&headers, LAST_MODIFIED);
        Ok(poll)
    }

    /// GETs `url` within the deadline, following allowed redirects, reading at most `limit`
    /// bytes. `None` on 304 (only asked for when `conditional`).
    async fn get(
        &self,
        url: &Url,
        limit: usize,
        conditional: bool,
    ) -> Result<Option<(Url, HeaderMap, Vec<u8>)>, FeedError> {
        let secs = self.settings.timeout().as_secs();
        tokio::time::timeout(
            self.settings.timeout(),
            self.get_unbounded(url, limit, conditional),
        )
        .await
        .map_err(|_| FeedError::Timeout {
            url: url.to_string(),
            secs,
        })?
    }

    async fn get_unbounded(
        &self,
        url: &Url,
        limit: usize,
        conditional: bool,
    ) -> Result<Option<(Url, HeaderMap, Vec<u8>)>, FeedError> {
        let mut at = url.clone();
        for hop in 0..=MAX_REDIRECTS {
            let mut req = self.client.get(at.clone());
            if conditional {
                if let Some(e) = &self.etag {
                    req = req.header(IF_NONE_MATCH, e);
                }
                if let Some(m) = &self.last_modified {
                    req = req.header(IF_MODIFIED_SINCE, m);
                }
            }
            let mut resp = req.send().await.map_err(|e| FeedError::Unreachable {
                url: at.to_string(),
                message: gatecast_tls::explain(&e),
            })?;
            let status = resp.status();
            if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
                let to = header(resp.headers(), LOCATION)
                    .and_then(|l| at.join(&l).ok())
                    .ok_or_else(|| FeedError::Status {
                        url: at.to_string(),
                        status: status.as_u16(),
                    })?;
                if !self.allowed(&to) {
                    return Err(self.refused(&at, &to));
                }
                if hop == MAX_REDIRECTS {
                    return Err(FeedError::Refused {
                        url: url.to_string(),
                        to: to.to_string(),
                        why: format!("more than {MAX_REDIRECTS} redirects"),
                    });
                }
                at = to;
                continue;
            }
            if status == StatusCode::NOT_MODIFIED && conditional {
                return Ok(None);
            }
            if status != StatusCode::OK {
                return Err(FeedError::Status {
                    url: at.to_string(),
                    status: status.as_u16(),
                });
            }
            let too_large = || FeedError::TooLarge {
                url: at.to_string(),
                limit,
            };
            if resp.content_length().is_some_and(|n| n > limit as u64) {
                return Err(too_large());
            }
            let headers = resp.headers().clone();
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await.map_err(|e| FeedError::Unreachable {
                url: at.to_string(),
                message: format!("the answer broke off: {}", gatecast_tls::explain(&e)),
            })? {
                if body.len() + chunk.len() > limit {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            return Ok(Some((at, headers, body)));
        }
        unreachable!("the loop returns by its last hop")
    }
}

fn header(h: &HeaderMap, name: reqwest::header::HeaderName) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// What a feed document is.
#[derive(Debug, PartialEq)]
enum Kind {
    /// A CAP `<alert>`: the intake reads it.
    Cap,
    /// An Atom feed or RSS channel: its entries' links, in document order.
    Links(Vec<String>),
}

fn read_xml(url: &Url, body: &[u8]) -> Result<Kind, FeedError> {
    let malformed = |message: String| FeedError::Malformed {
        url: url.to_string(),
        message,
    };
    let text = std::str::from_utf8(body).map_err(|e| malformed(format!("not UTF-8 ({e})")))?;
    let opts = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
    };
    let doc = roxmltree::Document::parse_with_options(text, opts).map_err(|e| match e {
        roxmltree::Error::DtdDetected => FeedError::Dtd {
            url: url.to_string(),
        },
        e => malformed(format!("not well-formed XML: {e}")),
    })?;
    let root = doc.root_element();
    let name = root.tag_name().name();
    let ns = root.tag_name().namespace();
    if name == "alert" && ns == Some(super::CAP_NS) {
        return Ok(Kind::Cap);
    }
    if name == "feed" && ns == Some(ATOM_NS) {
        return Ok(Kind::Links(
            root.children()
                .filter(|c| c.is_element() && c.tag_name().name() == "entry")
                .filter_map(atom_link)
                .collect(),
        ));
    }
    if name == "rss" {
        return Ok(Kind::Links(
            root.descendants()
                .filter(|c| c.is_element() && c.tag_name().name() == "item")
                .filter_map(rss_link)
                .collect(),
        ));
    }
    Err(malformed(format!(
        "neither a CAP 1.2 <alert> nor an Atom <feed> nor an RSS <rss> document (root <{name}>)"
    )))
}

/// An Atom entry's CAP link: a `<link>` typed `application/cap+xml` first, else the
/// `alternate` (or untyped) one.
fn atom_link(entry: roxmltree::Node) -> Option<String> {
    let links: Vec<_> = entry
        .children()
        .filter(|c| c.is_element() && c.tag_name().name() == "link")
        .collect();
    links
        .iter()
        .find(|l| l.attribute("type") == Some("application/cap+xml"))
        .or_else(|| {
            links
                .iter()
                .find(|l| l.attribute("rel").is_none_or(|r| r == "alternate"))
        })
        .and_then(|l| l.attribute("href"))
        .map(|h| h.trim().to_string())
}

/// An RSS item's `<link>` text (or an `<enclosure>` typed as CAP).
fn rss_link(item: roxmltree::Node) -> Option<String> {
    let child = |n: &str| {
        item.children()
            .find(move |c| c.is_element() && c.tag_name().name() == n)
    };
    child("enclosure")
        .filter(|e| e.attribute("type") == Some("application/cap+xml"))
        .and_then(|e| e.attribute("url").map(str::to_string))
        .or_else(|| {
            child("link")
                .and_then(|l| l.text())
                .map(|t| t.trim().to_string())
        })
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url() -> Url {
        Url::parse("http://feeds.example.vn/cap.atom").unwrap()
    }

    #[test]
    fn atom_links_prefer_the_cap_typed_link() {
        let atom = r#"<feed xmlns="http://www.w3.org/2005/Atom"><title>x</title>
            <entry><link rel="alternate" type="text/html" href="/page/1"/>
                   <link rel="related" type="application/cap+xml" href="/cap/1.xml"/></entry>
            <entry><link href="https://other.example/cap/2.xml"/></entry></feed>"#;
        assert_eq!(
            read_xml(&url(), atom.as_bytes()).unwrap(),
            Kind::Links(vec![
                "/cap/1.xml".into(),
                "https://other.example/cap/2.xml".into()
            ])
        );
    }

    #[test]
    fn rss_items_and_refusals() {
        let rss =
            r#"<rss version="2.0"><channel><item><link> /a.xml </link></item></channel></rss>"#;
        assert_eq!(
            read_xml(&url(), rss.as_bytes()).unwrap(),
            Kind::Links(vec!["/a.xml".into()])
        );
        let dtd = r#"<!DOCTYPE feed [<!ENTITY a "b">]><feed xmlns="http://www.w3.org/2005/Atom"/>"#;
        assert_eq!(
            read_xml(&url(), dtd.as_bytes()).unwrap_err().code(),
            "feed_dtd_refused"
        );
        let html = "<html><body>maintenance</body></html>";
        let e = read_xml(&url(), html.as_bytes()).unwrap_err();
        assert_eq!(e.code(), "feed_malformed");
        assert!(e.to_string().contains("root <html>"), "{e}");
    }

    #[test]
    fn only_the_feeds_host_or_allowed_hosts() {
        let f = Fetcher::new(FeedSettings {
            url: url().to_string(),
            every_secs: None,
            timeout_secs: None,
            allow_hosts: vec!["cdn.example.vn".into()],
        })
        .unwrap();
        let ok = |s: &str| f.allowed(&Url::parse(s).unwrap());
        assert!(ok("https://feeds.example.vn/x.xml"));
        assert!(ok("http://CDN.example.vn/x.xml"));
        assert!(!ok("http://evil.example/x.xml"));
        assert!(!ok("file:///etc/passwd"));
        assert!(Fetcher::new(FeedSettings {
            url: "ftp://x/y".into(),
            every_secs: None,
            timeout_secs: None,
            allow_hosts: vec![],
        })
        .is_err());
    }
}
