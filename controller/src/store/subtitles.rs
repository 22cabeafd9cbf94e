//! Subtitle tracks of videos (`docs/protocol.md` §21): tree `subtitles`, keyed by
//! `<video sha256>/<lang>`, one track per language of a video. The files themselves are blobs
//! beside the media (`media/sha256/<hex>`), served by `GET /media/{sha256}` like media.

use serde::{Deserialize, Serialize};

use super::{Result, Store};

/// One subtitle track of a video.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubtitleRecord {
    /// The video's SHA-256.
    pub video: String,
    /// BCP 47 language of the track.
    pub lang: String,
    /// SHA-256 of the subtitle file.
    pub sha256: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// `srt` or `vtt`.
    pub format: playlists::subtitle::SubtitleFormat,
    /// Number of cues.
    pub cues: usize,
    /// RFC 3339 upload time.
    pub uploaded_at: String,
}

fn key(video: &str, lang: &str) -> String {
    format!("{video}/{lang}")
}

impl Store {
    /// The subtitle tracks of a video, by language.
    pub fn subtitles(&self, video: &str) -> Result<Vec<SubtitleRecord>> {
        self.subtitles
            .scan_prefix(format!("{video}/"))
            .values()
            .map(|v| super::decode("subtitle track", &v?))
            .collect()
    }

    /// Stores (or replaces) the track of `r.video` in `r.lang` (flushed).
    pub async fn put_subtitle(&self, r: &SubtitleRecord) -> Result<()> {
        self.put(&self.subtitles, &key(&r.video, &r.lang), r).await
    }

    /// Removes a track (flushed); false when there was none.
    pub async fn delete_subtitle(&self, video: &str, lang: &str) -> Result<bool> {
        let had = self.subtitles.remove(key(video, lang))?.is_some();
        self.flush().await?;
        Ok(had)
    }

    /// Whether any track uses the file `sha256`.
    pub fn subtitle_file_used(&self, sha256: &str) -> Result<bool> {
        for v in self.subtitles.iter().values() {
            let r: SubtitleRecord = super::decode("subtitle track", &v?)?;
            if r.sha256 == sha256 {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
