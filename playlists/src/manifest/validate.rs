//! The acceptance rules of a manifest and an alert set (the module docs of [`super`]).

use std::collections::{HashMap, HashSet};

use jiff::civil::Time;

use super::*;

/// Whether `s` is a valid screen id: `^[a-z0-9][a-z0-9-]{0,62}$`.
pub fn is_valid_screen_id(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// Whether `s` is a SHA-256 in lowercase hex (exactly 64 characters `0-9a-f`).
pub fn is_valid_sha256_hex(s: &str) -> bool {
    crate::hex::is_lower_hex(s, 32)
}

/// Whether `s` is a valid id for a playlist, schedule entry or alert:
/// `^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`.
pub fn is_valid_id(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_ID_LEN
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'-'))
}

/// Whether `s` is a well-formed BCP 47 language tag (the pragmatic subset documented in the
/// module docs), e.g. `vi`, `en`, `zh-Hans`, `hmn`, `pt-BR`.
pub fn is_valid_lang_tag(s: &str) -> bool {
    if s.is_empty() || s.len() > MAX_LANG_TAG_LEN {
        return false;
    }
    let subtags: Vec<&str> = s.split('-').collect();
    let alpha = |t: &str| t.bytes().all(|c| c.is_ascii_alphabetic());
    let digit = |t: &str| t.bytes().all(|c| c.is_ascii_digit());
    let alnum = |t: &str| t.bytes().all(|c| c.is_ascii_alphanumeric());
    if subtags.iter().any(|t| t.is_empty() || !alnum(t)) {
        return false;
    }
    // language
    let lang = subtags[0];
    let mut i = match lang.len() {
        2 | 3 if alpha(lang) => {
            let mut i = 1;
            // up to three extlang subtags
            let mut ext = 0;
            while ext < 3 && i < subtags.len() && subtags[i].len() == 3 && alpha(subtags[i]) {
                i += 1;
                ext += 1;
            }
            i
        }
        5..=8 if alpha(lang) => 1,
        _ => return false,
    };
    // script
    if i < subtags.len() && subtags[i].len() == 4 && alpha(subtags[i]) {
        i += 1;
    }
    // region
    if i < subtags.len()
        && ((subtags[i].len() == 2 && alpha(subtags[i]))
            || (subtags[i].len() == 3 && digit(subtags[i])))
    {
        i += 1;
    }
    // variants
    while i < subtags.len() {
        let t = subtags[i];
        let is_variant =
            (5..=8).contains(&t.len()) || (t.len() == 4 && t.as_bytes()[0].is_ascii_digit());
        if !is_variant {
            break;
        }
        i += 1;
    }
    // extensions
    while i < subtags.len() && subtags[i].len() == 1 && !subtags[i].eq_ignore_ascii_case("x") {
        i += 1;
        let start = i;
        while i < subtags.len() && (2..=8).contains(&subtags[i].len()) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    // private use
    if i < subtags.len() && subtags[i].eq_ignore_ascii_case("x") {
        i += 1;
        if i == subtags.len() {
            return false;
        }
        // every remaining subtag is 1..=8 alphanumerics (already checked <= 8 below)
        while i < subtags.len() && subtags[i].len() <= 8 {
            i += 1;
        }
    }
    i == subtags.len()
}

/// Whether `s` is an IANA timezone name known to the bundled tz database, spelled exactly as the
/// database spells it (`Asia/Ho_Chi_Minh`, `Europe/Berlin`, `UTC`).
pub fn is_valid_timezone(s: &str) -> bool {
    if s.is_empty()
        || s.len() > MAX_TIMEZONE_LEN
        || !s
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'/' | b'_' | b'-' | b'+'))
    {
        return false;
    }
    match jiff::tz::TimeZone::get(s) {
        Ok(tz) => tz.iana_name() == Some(s),
        Err(_) => false,
    }
}

/// Parses a daily time `HH:MM` (`00:00`..=`23:59`, exactly five characters).
pub fn parse_time_of_day(s: &str) -> Option<Time> {
    let b = s.as_bytes();
    if b.len() != 5 || b[2] != b':' || ![b[0], b[1], b[3], b[4]].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let h = (b[0] - b'0') * 10 + (b[1] - b'0');
    let m = (b[3] - b'0') * 10 + (b[4] - b'0');
    if h > 23 || m > 59 {
        return None;
    }
    Time::new(h as i8, m as i8, 0, 0).ok()
}

pub(super) fn lang_key(tag: &str) -> String {
    tag.to_ascii_lowercase()
}

pub(super) fn check_text(
    field: &str,
    s: &str,
    max: usize,
    allow_newline: bool,
) -> Result<(), ManifestError> {
    if s.len() > max {
        return Err(ManifestError::Text {
            field: field.to_string(),
            problem: format!("{} bytes long, at most {max} allowed", s.len()),
        });
    }
    if s.chars()
        .any(|c| c.is_control() && !(allow_newline && c == '\n'))
    {
        return Err(ManifestError::Text {
            field: field.to_string(),
            problem: "contains control characters; remove them".to_string(),
        });
    }
    Ok(())
}

pub(super) fn check_range(
    field: &str,
    value: u64,
    min: u64,
    max: u64,
) -> Result<(), ManifestError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(ManifestError::OutOfRange {
            field: field.to_string(),
            value,
            min,
            max,
        })
    }
}

pub(super) fn check_count(field: &str, count: usize, max: usize) -> Result<(), ManifestError> {
    if count > max {
        Err(ManifestError::TooMany {
            field: field.to_string(),
            count,
            max,
        })
    } else {
        Ok(())
    }
}

pub(super) fn check_id(field: &str, id: &str) -> Result<(), ManifestError> {
    if is_valid_id(id) {
        Ok(())
    } else {
        Err(ManifestError::Id {
            field: field.to_string(),
            value: id.to_string(),
        })
    }
}

pub(super) fn check_lang(field: &str, tag: &str) -> Result<(), ManifestError> {
    if is_valid_lang_tag(tag) {
        Ok(())
    } else {
        Err(ManifestError::LangTag {
            field: field.to_string(),
            value: tag.to_string(),
        })
    }
}

pub(super) fn check_sha(field: &str, sha: &str) -> Result<(), ManifestError> {
    if is_valid_sha256_hex(sha) {
        Ok(())
    } else {
        Err(ManifestError::Sha256 {
            field: field.to_string(),
            value: sha.to_string(),
        })
    }
}

pub(super) fn check_screen(screen: &str) -> Result<(), ManifestError> {
    if is_valid_screen_id(screen) {
        Ok(())
    } else {
        Err(ManifestError::ScreenId {
            value: screen.to_string(),
        })
    }
}

fn is_valid_mime(s: &str) -> bool {
    if s.is_empty() || s.len() > MAX_MIME_LEN || !s.bytes().all(|c| (0x20..0x7f).contains(&c)) {
        return false;
    }
    let head = s.split(';').next().unwrap_or("").trim();
    let token = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&c))
    };
    match head.split_once('/') {
        Some((ty, sub)) => token(ty) && token(sub),
        None => false,
    }
}

impl MediaRef {
    /// Checks one media reference; `field` is its path for error messages (e.g. `media[3]`).
    pub fn validate_at(&self, field: &str) -> Result<(), ManifestError> {
        check_sha(&format!("{field}.sha256"), &self.sha256)?;
        check_range(
            &format!("{field}.bytes"),
            self.bytes,
            MIN_MEDIA_BYTES,
            MAX_MEDIA_BYTES,
        )?;
        if !is_valid_mime(&self.mime) {
            return Err(ManifestError::Mime {
                field: format!("{field}.mime"),
                value: self.mime.clone(),
            });
        }
        check_lang(&format!("{field}.lang"), &self.lang)?;
        check_text(&format!("{field}.title"), &self.title, MAX_TITLE_LEN, false)?;
        if let Some(d) = self.duration_ms {
            check_range(
                &format!("{field}.duration_ms"),
                d,
                MIN_DURATION_MS,
                MAX_DURATION_MS,
            )?;
        }
        check_count(
            &format!("{field}.subtitles"),
            self.subtitles.len(),
            if self.kind == MediaKind::Slide {
                0
            } else {
                MAX_SUBTITLE_TRACKS
            },
        )?;
        let mut langs = HashSet::new();
        for (i, t) in self.subtitles.iter().enumerate() {
            let f = format!("{field}.subtitles[{i}]");
            check_sha(&format!("{f}.sha256"), &t.sha256)?;
            check_range(
                &format!("{f}.bytes"),
                t.bytes,
                1,
                crate::subtitle::MAX_SUBTITLE_BYTES as u64,
            )?;
            check_lang(&format!("{f}.lang"), &t.lang)?;
            if !langs.insert(t.lang.as_str()) {
                return Err(ManifestError::DuplicateLanguage {
                    field: format!("{field}.subtitles"),
                    lang: t.lang.clone(),
                });
            }
        }
        Ok(())
    }
}

impl Manifest {
    /// Parses a manifest from JSON without validating it (use [`verify_manifest`] for anything
    /// that comes from outside).
    pub fn from_json(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        serde_json::from_slice(bytes).map_err(|e| ManifestError::Json(e.to_string()))
    }

    /// The manifest as compact JSON (the bytes that get signed).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a manifest always serializes to JSON")
    }

    /// Validates the manifest, then signs its JSON as a `manifest` envelope.
    pub fn sign(&self, key: &SecretKey) -> Result<Envelope, ManifestError> {
        self.validate()?;
        Ok(Envelope::sign(MANIFEST_TYPE, self.to_json(), key))
    }

    /// The media item with this SHA-256, if listed.
    pub fn media_by_hash(&self, sha: &str) -> Option<&MediaRef> {
        self.media.iter().find(|m| m.sha256 == sha)
    }

    /// The playlist with this id, if listed.
    pub fn playlist(&self, id: &str) -> Option<&Playlist> {
        self.playlists.iter().find(|p| p.id == id)
    }

    /// Checks every rule of the module docs; the error names the first offending field.
    pub fn validate(&self) -> Result<(), ManifestError> {
        check_screen(&self.screen)?;
        if self.expires_at <= self.issued_at {
            return Err(ManifestError::Expiry {
                issued_at: self.issued_at,
                expires_at: self.expires_at,
            });
        }
        if !is_valid_timezone(&self.timezone) {
            return Err(ManifestError::Timezone {
                value: self.timezone.clone(),
            });
        }

        self.validate_languages()?;
        let media = self.validate_media()?;
        let playlist_ids = self.validate_playlists(&media)?;
        self.validate_schedule(&playlist_ids)?;
        if !playlist_ids.contains(self.fallback.as_str()) {
            return Err(ManifestError::UnknownPlaylist {
                field: "fallback".to_string(),
                id: self.fallback.clone(),
            });
        }
        if let Some(layout) = &self.layout {
            layout.validate("layout")?;
            // A side or logo image is media like any other: listed (so it is downloaded and
            // hash-checked) and a slide (`docs/protocol.md` §20).
            for (i, reg) in layout.regions.iter().enumerate() {
                for (j, sha) in reg.media.iter().enumerate() {
                    let field = format!("layout.regions[{i}].media[{j}]");
                    let m = known_media(&media, &field, sha)?;
                    if m.kind != MediaKind::Slide {
                        return Err(ManifestError::Invalid {
                            field,
                            problem: format!(
                                "media {sha} is a {:?}; a region shows slide images only",
                                m.kind
                            ),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    fn validate_languages(&self) -> Result<(), ManifestError> {
        check_count("languages", self.languages.len(), MAX_LANGUAGES)?;
        let mut langs = HashSet::new();
        for (i, l) in self.languages.iter().enumerate() {
            let field = format!("languages[{i}]");
            check_lang(&field, l)?;
            if !langs.insert(lang_key(l)) {
                return Err(ManifestError::DuplicateLanguage {
                    field,
                    lang: l.clone(),
                });
            }
        }
        Ok(())
    }

    fn validate_media(&self) -> Result<HashMap<&str, &MediaRef>, ManifestError> {
        check_count("media", self.media.len(), MAX_MEDIA)?;
        let mut media: HashMap<&str, &MediaRef> = HashMap::new();
        for (i, m) in self.media.iter().enumerate() {
            let field = format!("media[{i}]");
            m.validate_at(&field)?;
            if media.insert(m.sha256.as_str(), m).is_some() {
                return Err(ManifestError::DuplicateMedia {
                    field: format!("{field}.sha256"),
                    sha256: m.sha256.clone(),
                });
            }
        }
        Ok(media)
    }

    fn validate_playlists(
        &self,
        media: &HashMap<&str, &MediaRef>,
    ) -> Result<HashSet<&str>, ManifestError> {
        check_count("playlists", self.playlists.len(), MAX_PLAYLISTS)?;
        let mut playlist_ids = HashSet::new();
        for (i, p) in self.playlists.iter().enumerate() {
            let field = format!("playlists[{i}]");
            check_id(&format!("{field}.id"), &p.id)?;
            if !playlist_ids.insert(p.id.as_str()) {
                return Err(ManifestError::DuplicatePlaylist {
                    field: format!("{field}.id"),
                    id: p.id.clone(),
                });
            }
            check_text(&format!("{field}.name"), &p.name, MAX_TITLE_LEN, false)?;
            if p.items.is_empty() {
                return Err(ManifestError::Empty {
                    field: format!("{field}.items"),
                });
            }
            check_count(
                &format!("{field}.items"),
                p.items.len(),
                MAX_ITEMS_PER_PLAYLIST,
            )?;
            for (j, item) in p.items.iter().enumerate() {
                let field = format!("{field}.items[{j}]");
                let own = known_media(media, &format!("{field}.media"), &item.media)?;
                if let Some(d) = item.duration_ms {
                    check_range(
                        &format!("{field}.duration_ms"),
                        d,
                        MIN_DURATION_MS,
                        MAX_DURATION_MS,
                    )?;
                }
                check_count(
                    &format!("{field}.variants"),
                    item.variants.len(),
                    MAX_VARIANTS_PER_ITEM,
                )?;
                let mut item_langs = HashSet::from([lang_key(&own.lang)]);
                for (k, v) in item.variants.iter().enumerate() {
                    let vfield = format!("{field}.variants[{k}]");
                    let vm = known_media(media, &vfield, v)?;
                    if *v == item.media {
                        return Err(ManifestError::VariantIsItem {
                            field: vfield,
                            sha256: v.clone(),
                        });
                    }
                    if !item_langs.insert(lang_key(&vm.lang)) {
                        return Err(ManifestError::DuplicateLanguage {
                            field: vfield,
                            lang: vm.lang.clone(),
                        });
                    }
                }
            }
        }
        Ok(playlist_ids)
    }

    fn validate_schedule(&self, playlist_ids: &HashSet<&str>) -> Result<(), ManifestError> {
        check_count("schedule", self.schedule.len(), MAX_SCHEDULE_ENTRIES)?;
        let mut entry_ids = HashSet::new();
        for (i, e) in self.schedule.iter().enumerate() {
            let field = format!("schedule[{i}]");
            check_id(&format!("{field}.id"), &e.id)?;
            if !entry_ids.insert(e.id.as_str()) {
                return Err(ManifestError::DuplicateId {
                    field: format!("{field}.id"),
                    id: e.id.clone(),
                });
            }
            if !playlist_ids.contains(e.playlist.as_str()) {
                return Err(ManifestError::UnknownPlaylist {
                    field: format!("{field}.playlist"),
                    id: e.playlist.clone(),
                });
            }
            if let (Some(from), Some(until)) = (e.from, e.until) {
                if from > until {
                    return Err(ManifestError::DateRange {
                        field: format!("{field}.from"),
                        from,
                        until,
                    });
                }
            }
            if let Some(days) = &e.weekdays {
                if days.is_empty() {
                    return Err(ManifestError::Empty {
                        field: format!("{field}.weekdays"),
                    });
                }
                let mut seen = HashSet::new();
                for d in days {
                    if !seen.insert(*d) {
                        return Err(ManifestError::DuplicateWeekday {
                            field: format!("{field}.weekdays"),
                            day: *d,
                        });
                    }
                }
            }
            match (&e.start, &e.end) {
                (None, None) => {}
                (Some(s), Some(t)) => {
                    if parse_time_of_day(s).is_none() {
                        return Err(ManifestError::TimeOfDay {
                            field: format!("{field}.start"),
                            value: s.clone(),
                        });
                    }
                    if parse_time_of_day(t).is_none() {
                        return Err(ManifestError::TimeOfDay {
                            field: format!("{field}.end"),
                            value: t.clone(),
                        });
                    }
                }
                (Some(_), None) => {
                    return Err(ManifestError::HalfWindow {
                        field: format!("{field}.end"),
                    })
                }
                (None, Some(_)) => {
                    return Err(ManifestError::HalfWindow {
                        field: format!("{field}.start"),
                    })
                }
            }
        }
        Ok(())
    }
}

fn known_media<'a>(
    media: &HashMap<&str, &'a MediaRef>,
    field: &str,
    sha: &str,
) -> Result<&'a MediaRef, ManifestError> {
    check_sha(field, sha)?;
    media
        .get(sha)
        .copied()
        .ok_or_else(|| ManifestError::UnknownMedia {
            field: field.to_string(),
            sha256: sha.to_string(),
        })
}

impl AlertSet {
    /// Parses an alert set from JSON without validating it (use [`verify_alerts`] for anything
    /// that comes from outside).
    pub fn from_json(bytes: &[u8]) -> Result<AlertSet, ManifestError> {
        serde_json::from_slice(bytes).map_err(|e| ManifestError::Json(e.to_string()))
    }

    /// The alert set as compact JSON (the bytes that get signed).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an alert set always serializes to JSON")
    }

    /// Validates the alert set, then signs its JSON as an `alert` envelope.
    pub fn sign(&self, key: &SecretKey) -> Result<Envelope, ManifestError> {
        self.validate()?;
        Ok(Envelope::sign(ALERT_TYPE, self.to_json(), key))
    }

    /// Checks the screen id, alert ids (valid, unique), texts (valid language tags, non-empty,
    /// bounded) and media; the error names the first offending field.
    pub fn validate(&self) -> Result<(), ManifestError> {
        check_screen(&self.screen)?;
        check_count("alerts", self.alerts.len(), MAX_ALERTS)?;
        let mut ids = HashSet::new();
        for (i, a) in self.alerts.iter().enumerate() {
            let field = format!("alerts[{i}]");
            check_id(&format!("{field}.id"), &a.id)?;
            if !ids.insert(a.id.as_str()) {
                return Err(ManifestError::DuplicateId {
                    field: format!("{field}.id"),
                    id: a.id.clone(),
                });
            }
            if a.text.is_empty() && a.media.is_none() {
                return Err(ManifestError::EmptyAlert { field });
            }
            check_count(&format!("{field}.text"), a.text.len(), MAX_ALERT_TEXTS)?;
            let mut langs = HashSet::new();
            for (j, t) in a.text.iter().enumerate() {
                let tfield = format!("{field}.text[{j}]");
                check_lang(&format!("{tfield}.lang"), &t.lang)?;
                if !langs.insert(lang_key(&t.lang)) {
                    return Err(ManifestError::DuplicateLanguage {
                        field: format!("{tfield}.lang"),
                        lang: t.lang.clone(),
                    });
                }
                if t.text.is_empty() {
                    return Err(ManifestError::Empty {
                        field: format!("{tfield}.text"),
                    });
                }
                check_text(&format!("{tfield}.text"), &t.text, MAX_ALERT_TEXT_LEN, true)?;
            }
            if let Some(m) = &a.media {
                m.validate_at(&format!("{field}.media"))?;
            }
        }
        Ok(())
    }
}
