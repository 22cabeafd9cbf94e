//! Content: media metadata, playlists and schedules.

use super::{MediaRecord, PlaylistRecord, Result, ScheduleRecord, Store};

impl Store {
    // ---- media ----

    /// Metadata of one media hash (also deleted ones).
    pub fn media(&self, sha: &str) -> Result<Option<MediaRecord>> {
        Self::get(&self.media, "media", sha)
    }

    /// All media that are not deleted.
    pub fn media_list(&self) -> Result<Vec<MediaRecord>> {
        Ok(Self::all::<MediaRecord>(&self.media, "media")?
            .into_iter()
            .filter(|m| !m.deleted)
            .collect())
    }

    /// Stores media metadata.
    pub async fn put_media(&self, m: &MediaRecord) -> Result<()> {
        self.put(&self.media, &m.sha256, m).await
    }

    // ---- playlists ----

    /// One playlist.
    pub fn playlist(&self, id: &str) -> Result<Option<PlaylistRecord>> {
        Self::get(&self.playlists, "playlist", id)
    }

    /// All playlists.
    pub fn playlists(&self) -> Result<Vec<PlaylistRecord>> {
        Self::all(&self.playlists, "playlist")
    }

    /// Creates a playlist (fails if the id exists).
    pub async fn create_playlist(&self, p: &PlaylistRecord) -> Result<()> {
        self.create(&self.playlists, "playlist", &p.id, p).await
    }

    /// Creates or replaces a playlist.
    pub async fn put_playlist(&self, p: &PlaylistRecord) -> Result<()> {
        self.put(&self.playlists, &p.id, p).await
    }

    /// Deletes a playlist; true if it existed.
    pub async fn delete_playlist(&self, id: &str) -> Result<bool> {
        let had = self.playlists.remove(id)?.is_some();
        self.flush().await?;
        Ok(had)
    }

    // ---- schedules ----

    /// One schedule.
    pub fn schedule(&self, id: &str) -> Result<Option<ScheduleRecord>> {
        Self::get(&self.schedules, "schedule", id)
    }

    /// All schedules.
    pub fn schedules(&self) -> Result<Vec<ScheduleRecord>> {
        Self::all(&self.schedules, "schedule")
    }

    /// Creates a schedule (fails if the id exists).
    pub async fn create_schedule(&self, s: &ScheduleRecord) -> Result<()> {
        self.create(&self.schedules, "schedule", &s.id, s).await
    }

    /// Replaces a schedule.
    pub async fn put_schedule(&self, s: &ScheduleRecord) -> Result<()> {
        self.put(&self.schedules, &s.id, s).await
    }

    /// Deletes a schedule; true if it existed.
    pub async fn delete_schedule(&self, id: &str) -> Result<bool> {
        let had = self.schedules.remove(id)?.is_some();
        self.flush().await?;
        Ok(had)
    }
}
