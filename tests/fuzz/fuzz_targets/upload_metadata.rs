//! The controller's upload metadata parsers, through the controller library:
//! `api::parse_query` (the `kind`/`lang`/`title`/`duration_ms` query of
//! `POST /api/v1/media`), the Content-Type normalisation and `blobs::family_of`,
//! `blobs::sniff`/`blobs::check_magic` (magic bytes), `blobs::parse_range` (the `Range` header
//! of `GET /media/{sha256}`) and `Blobs::path` (the hash in a media path).
//!
//! Input: newline-separated fields `query \n content-type \n range \n file length \n sha \n head
//! bytes` (the last field is raw bytes and may contain newlines).
//!
//! The query checks mirror `controller/src/api/media.rs::upload`, which does its validation
//! inline; extracting it into a `pub fn parse_upload_meta` would let this target call the real
//! code (asked for in docs/security.md / the fuzz results).
//!
//! Invariants: nothing panics; percent-encoding a decoded query map and parsing it again gives
//! the same map; a language tag's validity is ASCII-case-insensitive and valid tags are short
//! ASCII; `check_magic` accepts exactly when `sniff` matches the declared family, and `sniff`
//! only looks at the first 16 bytes (all the upload checks); a parsed range lies inside the file
//! (`start <= end < len`) and canonical ranges mean what RFC 9110 says; `Blobs::path` only
//! accepts 64 lowercase hex characters and never leaves the media directory.
#![no_main]

use std::collections::HashMap;
use std::sync::OnceLock;

use gatecast_controller::api::parse_query;
use gatecast_controller::blobs::{check_magic, family_of, parse_range, sniff, Blobs, RangeReq};
use libfuzzer_sys::fuzz_target;
use playlists::manifest::{is_valid_lang_tag, is_valid_sha256_hex};

const KINDS: [&str; 3] = ["video", "slide", "clip"];

fn blobs() -> &'static Blobs {
    static B: OnceLock<Blobs> = OnceLock::new();
    B.get_or_init(|| {
        Blobs::open(&std::env::temp_dir().join("gatecast-fuzz-blobs")).expect("temp dir")
    })
}

fn encode(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

/// The query checks of `upload`, in its order; `Err(field)` names the rejected field.
fn upload_query(q: &HashMap<String, String>) -> Result<(), &'static str> {
    let kind = q.get("kind").ok_or("kind")?;
    if !KINDS.contains(&kind.as_str()) {
        return Err("kind");
    }
    let lang = q.get("lang").ok_or("lang")?;
    if !is_valid_lang_tag(lang) {
        return Err("lang");
    }
    let title = q.get("title").cloned().unwrap_or_default();
    if title.chars().count() > 200 {
        return Err("title");
    }
    if let Some(d) = q.get("duration_ms") {
        d.parse::<u64>().map_err(|_| "duration_ms")?;
    }
    Ok(())
}

fn check_lang(tag: &str) {
    let ok = is_valid_lang_tag(tag);
    assert_eq!(ok, is_valid_lang_tag(&tag.to_ascii_uppercase()));
    assert_eq!(ok, is_valid_lang_tag(&tag.to_ascii_lowercase()));
    if ok {
        assert!(tag.len() <= 64);
        assert!(tag.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'));
        assert!(!tag.starts_with('-') && !tag.ends_with('-') && !tag.contains("--"));
    }
}

fn check_range(header: &str, len: u64) {
    match parse_range(Some(header), len) {
        RangeReq::Partial(s, e) => {
            assert!(s <= e && e < len, "range {header:?} of {len} gave {s}-{e}");
        }
        RangeReq::Unsatisfiable | RangeReq::Full => {}
    }
}

fn canonical_ranges(a: u64, b: u64, len: u64) {
    let last = len.checked_sub(1);
    let want = |start: u64, end: u64| match last {
        Some(l) if start <= l => RangeReq::Partial(start, end.min(l)),
        _ => RangeReq::Unsatisfiable,
    };
    let got = parse_range(Some(&format!("bytes={a}-{b}")), len);
    if a <= b {
        assert_eq!(got, want(a, b), "bytes={a}-{b} of {len}");
    } else {
        assert_eq!(got, RangeReq::Full, "bytes={a}-{b} (invalid) of {len}");
    }
    assert_eq!(
        parse_range(Some(&format!("bytes={a}-")), len),
        want(a, u64::MAX)
    );
    let suffix = parse_range(Some(&format!("bytes=-{b}")), len);
    if b == 0 || len == 0 {
        assert_eq!(suffix, RangeReq::Unsatisfiable);
    } else {
        assert_eq!(suffix, RangeReq::Partial(len - b.min(len), len - 1));
    }
    assert_eq!(parse_range(None, len), RangeReq::Full);
}

fuzz_target!(|data: &[u8]| {
    let mut f = data.splitn(6, |b| *b == b'\n');
    let mut field = || f.next().unwrap_or_default();
    let (query, ctype, range, len, sha, head) =
        (field(), field(), field(), field(), field(), field());

    // Query string (warp hands the raw query over as text).
    if let Ok(qs) = std::str::from_utf8(query) {
        let q = parse_query(qs);
        let re: String = q
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        assert_eq!(parse_query(&re), q, "query map does not survive encoding");
        let _ = upload_query(&q);
        if let Some(lang) = q.get("lang") {
            check_lang(lang);
        }
        check_lang(qs);
    }

    // Content-Type, as `upload` normalises it, and the magic bytes.
    if let Ok(ct) = std::str::from_utf8(ctype) {
        let mime = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let fam = family_of(&mime);
        let magic = check_magic(&mime, head);
        assert_eq!(magic.is_ok(), fam.is_some_and(|f| f == sniff(head)));
        let first16 = &head[..head.len().min(16)];
        assert_eq!(sniff(head), sniff(first16), "sniff looks past 16 bytes");
    }

    // Range header against a file length.
    let len = std::str::from_utf8(len)
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(len.len() as u64);
    if let Ok(r) = std::str::from_utf8(range) {
        check_range(r, len);
        check_range(r, 0);
        check_range(r, u64::MAX);
    }
    let num = |b: &[u8]| {
        let mut x = [0u8; 8];
        let n = b.len().min(8);
        x[..n].copy_from_slice(&b[..n]);
        u64::from_le_bytes(x)
    };
    let (a, b) = (num(head), num(head.get(8..).unwrap_or_default()));
    canonical_ranges(a, b, len);
    canonical_ranges(a % 64, b % 64, len % 64);

    // A hash from a URL path.
    if let Ok(s) = std::str::from_utf8(sha) {
        let p = blobs().path(s);
        assert_eq!(p.is_some(), is_valid_sha256_hex(s));
        if let Some(p) = p {
            assert_eq!(p.file_name().and_then(|n| n.to_str()), Some(s));
            assert!(s.len() == 64 && s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')));
        }
    }
});
