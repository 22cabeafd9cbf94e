//! Per-screen change numbers: what the screens list's in-memory cache checks its pieces against
//! (`api::screen_list`), so that it never serves a screen as it was before a write.

use std::collections::HashMap;
use std::sync::Mutex;

use super::Store;

/// A number per screen that changes whenever something the screens list shows of it is
/// written: its record (register, edit, disable/enable, enrolment, delete), its status, its
/// published manifest or its screenshots. Numbers are never reused, even after a delete.
#[derive(Debug, Default)]
pub struct Generations {
    inner: Mutex<(u64, HashMap<String, u64>)>,
}

impl Generations {
    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, HashMap<String, u64>)> {
        // The map holds plain numbers: a writer that panicked left it consistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bump(&self, screen: &str) {
        let mut g = self.lock();
        g.0 += 1;
        let n = g.0;
        g.1.insert(screen.to_string(), n);
    }

    fn get(&self, screen: &str) -> u64 {
        self.lock().1.get(screen).copied().unwrap_or(0)
    }
}

impl Store {
    /// The change number of `screen` (0 when nothing of it was written since the store was
    /// opened). Read it **before** reading the screen's records: a write bumps it only after
    /// it is visible, so a reader that saw number `n` and then read the records read them as
    /// of `n` or later.
    pub fn screen_generation(&self, screen: &str) -> u64 {
        self.generations.get(screen)
    }

    /// Marks `screen` changed; called by every write of its record, status, manifest and
    /// screenshots, after the write.
    pub(super) fn screen_changed(&self, screen: &str) {
        self.generations.bump(screen);
    }

    /// The ids of all screens, in id order, without reading their records.
    pub fn screen_ids(&self) -> super::Result<Vec<String>> {
        self.screens
            .iter()
            .keys()
            .map(|k| Ok(String::from_utf8_lossy(&k?).into_owned()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ScreenRecord;

    #[tokio::test]
    async fn every_write_of_a_screen_changes_its_number_and_no_other() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db")).unwrap();
        let code = |s: &str| super::super::EnrollCode {
            screen: s.into(),
            code_hash: String::new(),
            expires_at: 0,
        };
        store
            .create_screen(&ScreenRecord::for_test("a"), &code("a"))
            .await
            .unwrap();
        store
            .create_screen(&ScreenRecord::for_test("b"), &code("b"))
            .await
            .unwrap();
        let (a0, b0) = (store.screen_generation("a"), store.screen_generation("b"));
        assert_ne!(a0, 0);
        let mut seen = vec![a0];
        let mut check = |what: &str, store: &Store| {
            let n = store.screen_generation("a");
            assert!(
                !seen.contains(&n),
                "{what} did not change screen a's number"
            );
            seen.push(n);
            assert_eq!(
                store.screen_generation("b"),
                b0,
                "{what} changed screen b's"
            );
        };
        store
            .put_screen(&ScreenRecord::for_test("a"))
            .await
            .unwrap();
        check("put_screen", &store);
        let st = super::super::StatusRecord {
            screen: "a".into(),
            status: serde_json::json!({}),
            received_at: "2026-12-07T00:00:00Z".into(),
            online: true,
        };
        store
            .put_status(&st, std::time::Duration::from_secs(90))
            .await
            .unwrap();
        check("put_status", &store);
        let m = super::super::StoredManifest {
            screen: "a".into(),
            version: 1,
            content_hash: String::new(),
            media: Vec::new(),
            issued_at: String::new(),
            expires_at: String::new(),
            envelope: "{}".into(),
        };
        store.put_manifest(&m).await.unwrap();
        check("put_manifest", &store);
        let shot = super::super::screenshots::tests::shot("a");
        store.put_screenshot(shot, &[1], 3).await.unwrap();
        check("put_screenshot", &store);
        store.delete_screen("a").await.unwrap();
        check("delete_screen", &store);
        assert_eq!(store.screen_ids().unwrap(), vec!["b".to_string()]);
    }
}
