//! The few controller calls the approver's tool makes (`docs/protocol.md` §17): what waits for
//! approval, a media file, and the upload of one signed approval.

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// A media item waiting for approval.
#[derive(Debug, Clone, Deserialize)]
pub struct PendingMedia {
    /// SHA-256 of the file.
    pub sha256: String,
    /// Title.
    pub title: String,
    /// Language tag.
    pub lang: String,
    /// `video`, `slide` or `clip`.
    pub kind: playlists::manifest::MediaKind,
    /// MIME type.
    #[serde(default)]
    pub mime: String,
    /// Size.
    #[serde(default)]
    pub bytes: u64,
    /// Who approved it so far.
    #[serde(default)]
    pub approved_by: Vec<Approved>,
}

/// One approver who approved an item.
#[derive(Debug, Clone, Deserialize)]
pub struct Approved {
    /// Key id.
    pub key_id: String,
    /// Name in the policy.
    #[serde(default)]
    pub name: String,
}

/// `GET /api/v1/approvals/pending`.
#[derive(Debug, Clone, Deserialize)]
pub struct Pending {
    /// The policy version in force at the controller.
    pub policy_version: Option<u64>,
    /// Distinct approvals each media item needs.
    #[serde(default)]
    pub media_threshold: u32,
    /// The items.
    pub media: Vec<PendingMedia>,
}

/// A controller with a token.
pub struct Controller {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Controller {
    /// `base` must be an `http://` URL.
    pub fn new(base: &str, token: &str) -> Result<Controller> {
        let base = base.trim_end_matches('/').to_owned();
        if !base.starts_with("http://") && !base.starts_with("https://") {
            bail!("--controller {base:?} must be an http:// URL");
        }
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(15))
            .build()?;
        Ok(Controller {
            base,
            token: token.to_owned(),
            http,
        })
    }

    async fn check(resp: reqwest::Response, what: &str) -> Result<Vec<u8>> {
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .with_context(|| format!("{what}: reading the answer"))?;
        if !status.is_success() {
            bail!(
                "{what}: the controller answered {status}: {}",
                String::from_utf8_lossy(&body)
                    .chars()
                    .take(400)
                    .collect::<String>()
            );
        }
        Ok(body.to_vec())
    }

    /// What waits for approval.
    pub async fn pending(&self) -> Result<Pending> {
        let url = format!("{}/api/v1/approvals/pending", self.base);
        let resp = self
            .http
            .get(&url)
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        let body = Self::check(resp, "listing what waits for approval").await?;
        serde_json::from_slice(&body)
            .context("the list of what waits for approval is not valid JSON")
    }

    /// One media file (checked by the caller).
    pub async fn media(&self, sha256: &str) -> Result<Vec<u8>> {
        let url = format!("{}/media/{sha256}", self.base);
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        Self::check(resp, &format!("downloading {sha256}")).await
    }

    /// Upload one approval envelope; returns the controller's answer.
    pub async fn upload(&self, envelope: Vec<u8>) -> Result<serde_json::Value> {
        let url = format!("{}/api/v1/approvals", self.base);
        let resp = self
            .http
            .post(&url)
            .bearer_auth(&self.token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(envelope)
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        let body = Self::check(resp, "uploading the approval").await?;
        Ok(serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null))
    }
}
