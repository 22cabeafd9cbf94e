//! Screenshots (`docs/protocol.md` §18): per screen the newest `screenshots_kept`, each with
//! its signed record (exact envelope bytes) and its image.
//!
//! Two trees: `screenshots` holds the [`StoredScreenshot`] metadata and `screenshot_images` the
//! image bytes, both under the key `screen \0 seq` (seq big-endian, so a prefix scan is in
//! arrival order). Record and image are written together in one sled batch per tree and
//! flushed before the upload is answered; the oldest beyond the cap are removed in the same
//! write, so a screen never holds more than the cap.

use serde::{Deserialize, Serialize};

use super::{decode, encode, Result, Store};

/// One stored screenshot (the image itself is read with [`Store::screenshot_image`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StoredScreenshot {
    /// Arrival number within the screen (1, 2, …).
    pub seq: u64,
    /// The screen.
    pub screen: String,
    /// When the controller stored it (RFC 3339).
    pub received_at: String,
    /// The signed record's payload, verified (`playlists::screenshot::ScreenshotRecord`).
    pub record: playlists::screenshot::ScreenshotRecord,
    /// The exact envelope bytes of the record, as text (a DSSE envelope is JSON).
    pub envelope: String,
    /// The key id of the device key it verified under.
    pub key_id: String,
}

fn screen_prefix(screen: &str) -> Vec<u8> {
    let mut k = screen.as_bytes().to_vec();
    k.push(0);
    k
}

fn key(screen: &str, seq: u64) -> Vec<u8> {
    let mut k = screen_prefix(screen);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

impl Store {
    /// The newest screenshot of `screen`.
    pub fn latest_screenshot(&self, screen: &str) -> Result<Option<StoredScreenshot>> {
        match self
            .screenshots
            .scan_prefix(screen_prefix(screen))
            .next_back()
        {
            Some(kv) => Ok(Some(decode("screenshot", &kv?.1)?)),
            None => Ok(None),
        }
    }

    /// The screenshots of `screen`, newest first, at most `limit`.
    pub fn screenshots(&self, screen: &str, limit: usize) -> Result<Vec<StoredScreenshot>> {
        self.screenshots
            .scan_prefix(screen_prefix(screen))
            .rev()
            .take(limit)
            .map(|kv| decode("screenshot", &kv?.1))
            .collect()
    }

    /// The image of screenshot `seq` of `screen`.
    pub fn screenshot_image(&self, screen: &str, seq: u64) -> Result<Option<Vec<u8>>> {
        Ok(self
            .screenshot_images
            .get(key(screen, seq))?
            .map(|v| v.to_vec()))
    }

    /// Stores a verified screenshot as the screen's newest (its `seq` is assigned here) and
    /// deletes the oldest beyond `keep`; flushed before it returns.
    pub async fn put_screenshot(
        &self,
        mut shot: StoredScreenshot,
        image: &[u8],
        keep: usize,
    ) -> Result<StoredScreenshot> {
        let _guard = self.screenshot_lock.lock().await;
        let prefix = screen_prefix(&shot.screen);
        shot.seq = match self.screenshots.scan_prefix(&prefix).next_back() {
            Some(kv) => decode::<StoredScreenshot>("screenshot", &kv?.1)?.seq + 1,
            None => 1,
        };
        let mut meta = sled::Batch::default();
        let mut images = sled::Batch::default();
        let k = key(&shot.screen, shot.seq);
        meta.insert(k.clone(), encode(&shot));
        images.insert(k, image);
        // The newest `keep - 1` stay beside the new one; everything older goes.
        for old in self
            .screenshots
            .scan_prefix(&prefix)
            .keys()
            .rev()
            .skip(keep.saturating_sub(1))
        {
            let old = old?;
            meta.remove(old.clone());
            images.remove(old);
        }
        // Image first: a crash between the two leaves an image without a record (never read,
        // overwritten by the next upload of that seq), never a record without its image.
        self.screenshot_images.apply_batch(images)?;
        self.screenshots.apply_batch(meta)?;
        self.screen_changed(&shot.screen);
        self.flush().await?;
        Ok(shot)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use playlists::screenshot::{ImageFormat, ScreenshotRecord};

    pub(in crate::store) fn shot(screen: &str) -> StoredScreenshot {
        StoredScreenshot {
            seq: 0,
            screen: screen.into(),
            received_at: "2026-12-07T03:00:00Z".into(),
            record: ScreenshotRecord {
                screen: screen.into(),
                sha256: "0".repeat(64),
                taken_at: "2026-12-07T03:00:00Z".parse().unwrap(),
                width: 1,
                height: 1,
                bytes: 1,
                format: ImageFormat::Jpeg,
                request: None,
            },
            envelope: "{}".into(),
            key_id: "k".into(),
        }
    }

    #[tokio::test]
    async fn screenshots_keep_the_newest_per_screen() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for i in 0..5u8 {
            store.put_screenshot(shot("lc-a1"), &[i], 3).await.unwrap();
        }
        store.put_screenshot(shot("lc-a10"), &[9], 3).await.unwrap();
        let list = store.screenshots("lc-a1", 100).unwrap();
        assert_eq!(list.iter().map(|s| s.seq).collect::<Vec<_>>(), [5, 4, 3]);
        assert_eq!(store.latest_screenshot("lc-a1").unwrap().unwrap().seq, 5);
        assert_eq!(store.screenshot_image("lc-a1", 5).unwrap(), Some(vec![4]));
        assert_eq!(store.screenshot_image("lc-a1", 2).unwrap(), None);
        // A screen whose id starts with another's is its own.
        assert_eq!(store.screenshots("lc-a10", 100).unwrap().len(), 1);
    }
}
