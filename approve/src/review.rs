//! `review` and `sign`: what the approver sees, and what they sign.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use gatecast_support::fs::write_atomic;
use jiff::{SignedDuration, Timestamp};
use playlists::approval::{Approval, ApprovedMedia, ApprovedText, Scope};
use playlists::hex::sha256_hex;

use crate::client::{Controller, PendingMedia};
use crate::keys::read_secret;

fn file_name(m: &PendingMedia) -> String {
    let ext = match m.mime.split(';').next().unwrap_or("").trim() {
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "video/mp4" => "mp4",
        "video/webm" => "webm",
        _ => "bin",
    };
    format!("{}.{ext}", m.sha256)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `review`: download every waiting file, check its SHA-256, save it and a contact sheet.
pub async fn review(controller: &str, token: &str, out: &Path) -> Result<()> {
    let c = Controller::new(controller, token)?;
    let pending = c.pending().await?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut html = String::from("<!doctype html><html lang=\"vi\"><meta charset=\"utf-8\"><title>Chờ duyệt — gatecast</title>\n<style>body{font-family:sans-serif}figure{display:inline-block;width:320px;margin:8px;vertical-align:top}img,video{max-width:320px}code{word-break:break-all}</style>\n");
    let _ = writeln!(html, "<h1>Chờ duyệt (waiting for approval)</h1><p>chính sách phê duyệt phiên bản {} (policy version), cần {} người duyệt cho mỗi nội dung (approvals needed per media item)</p>", pending.policy_version.map_or_else(|| "—".to_owned(), |v| v.to_string()), pending.media_threshold);
    for m in &pending.media {
        let bytes = c.media(&m.sha256).await?;
        let got = sha256_hex(&bytes);
        if got != m.sha256 {
            bail!("media {} came with SHA-256 {got}: not the file waiting for approval; nothing saved for it", m.sha256);
        }
        let name = file_name(m);
        write_atomic(&out.join(&name), &bytes, 0o644)?;
        let tag = if m.mime.starts_with("video/") {
            format!("<video src=\"{name}\" controls></video>")
        } else {
            format!("<img src=\"{name}\" alt=\"\">")
        };
        let by: Vec<_> = m
            .approved_by
            .iter()
            .map(|a| format!("{} ({})", escape(&a.name), a.key_id))
            .collect();
        let _ = writeln!(html, "<figure>{tag}<figcaption><b>{}</b> ({}, {})<br><code>{}</code><br>đã duyệt: {}</figcaption></figure>",
            escape(&m.title), escape(&m.lang), escape(&format!("{:?}", m.kind).to_lowercase()), m.sha256,
            if by.is_empty() { "chưa ai".to_owned() } else { by.join(", ") });
        println!(
            "{}  {:?} ({}, {} bytes) checked, saved as {}",
            m.sha256,
            m.title,
            m.lang,
            m.bytes,
            out.join(&name).display()
        );
    }
    let sheet = out.join("review.html");
    write_atomic(&sheet, html.as_bytes(), 0o644)?;
    println!(
        "{} item(s) waiting; contact sheet {}",
        pending.media.len(),
        sheet.display()
    );
    Ok(())
}

/// The flags of `sign`.
pub struct SignArgs {
    pub key: PathBuf,
    pub controller: String,
    pub token: String,
    pub alert_texts: Vec<String>,
    pub gates: Vec<String>,
    pub days: u32,
    pub note: Option<String>,
    pub reviewed: Option<PathBuf>,
    pub sha256: Vec<String>,
}

/// `sign`: sign the named waiting media (or all, or the given alert texts) and upload the
/// approval. The key never leaves this computer.
pub async fn sign(a: SignArgs) -> Result<()> {
    let key = read_secret(&a.key)?;
    let c = Controller::new(&a.controller, &a.token)?;
    let mut texts = Vec::new();
    for t in &a.alert_texts {
        let (lang, text) = t
            .split_once('=')
            .with_context(|| format!("--alert-text {t:?}: write LANG=TEXT"))?;
        texts.push(ApprovedText::of(lang, text));
    }
    let mut media = Vec::new();
    if !a.sha256.is_empty() || texts.is_empty() {
        let pending = c.pending().await?;
        for m in &pending.media {
            if !a.sha256.is_empty() && !a.sha256.contains(&m.sha256) {
                continue;
            }
            if let Some(dir) = &a.reviewed {
                let bytes = std::fs::read(dir.join(file_name(m))).with_context(|| {
                    format!(
                        "{} was not reviewed (no file in {})",
                        m.sha256,
                        dir.display()
                    )
                })?;
                if sha256_hex(&bytes) != m.sha256 {
                    bail!(
                        "the reviewed file of {} has another SHA-256; review again",
                        m.sha256
                    );
                }
            }
            media.push(ApprovedMedia {
                sha256: m.sha256.clone(),
                title: m.title.clone(),
                lang: m.lang.clone(),
                kind: m.kind,
            });
        }
        for s in &a.sha256 {
            if !media.iter().any(|m| &m.sha256 == s) {
                bail!("{s} is not waiting for approval at this controller (run `gatecast-approve review` to see what is)");
            }
        }
    }
    if media.is_empty() && texts.is_empty() {
        println!("nothing waits for approval");
        return Ok(());
    }
    let now = Timestamp::now();
    let approval = Approval {
        media,
        texts,
        not_before: now - SignedDuration::from_mins(5),
        not_after: now + SignedDuration::from_hours(24 * i64::from(a.days.max(1))),
        scope: if a.gates.is_empty() {
            Scope::everywhere()
        } else {
            Scope {
                all: false,
                gates: a.gates.clone(),
            }
        },
        note: a.note.clone(),
    };
    approval.validate()?;
    let env = approval.sign(&key);
    let answer = c.upload(env.to_json()).await?;
    for m in &approval.media {
        println!("approved media {} {:?} ({})", m.sha256, m.title, m.lang);
    }
    for t in &approval.texts {
        println!("approved alert text {} ({})", t.sha256, t.lang);
    }
    println!(
        "uploaded the signature of key {}; controller: {answer}",
        key.key_id()
    );
    Ok(())
}
