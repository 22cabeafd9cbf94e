//! Building, signing, storing and sending each screen's manifest and alert set.
//!
//! Manifest versions: the next version is the stored version + 1, and the new manifest is
//! stored (and flushed) before it is sent, so a version is never reused, also across restarts.
//!
//! Publishing without a content change does **not** bump the version: when the manifest
//! content (everything but `version`, `issued_at` and `expires_at`) hashes to the stored
//! content hash, the stored envelope is sent again unchanged and its version reported, so
//! players do no work. The exception is a manifest past half its lifetime: it is re-issued
//! with a new version and a fresh expiry, so a routine publish keeps screens from expiring.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use playlists::approval::{sign_alerts, sign_manifest, Attachments};
use playlists::keys::SecretKey;
use playlists::manifest::{
    Alert, AlertSet, AlertText, Manifest, ManifestError, MediaRef, Playlist, PlaylistItem,
    ScheduleEntry, SubtitleRef,
};
use playlists::topics::{topic, Kind};

use crate::approvals::Approvals;
use crate::store::{
    AlertRecord, EncodedManifest, MediaRecord, PlaylistRecord, ScheduleRecord, ScreenRecord, Store,
    StoreError, StoredAlertSet, StoredManifest, SubtitleRecord,
};
use playlists::hex::sha256_hex;

/// What [`Outbox::send_all`] returns: one result per message, in order.
pub type SentAll<'a> = Pin<Box<dyn Future<Output = Vec<Result<(), String>>> + Send + 'a>>;

/// Where signed messages go: the controller's MQTT client (retained, QoS 1).
pub trait Outbox: Send + Sync + 'static {
    /// Publishes `payload` retained at QoS 1 on `topic`.
    fn send(
        &self,
        topic: String,
        payload: Vec<u8>,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>>;

    /// Publishes `payload` at QoS 1 on `topic`, **not** retained (acks: a retained ack would
    /// be replayed to a player after every reconnect). The default refuses, so an outbox that
    /// cannot do this fails loudly instead of retaining by mistake.
    fn send_unretained(
        &self,
        topic: String,
        payload: Vec<u8>,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>> {
        let _ = payload;
        Box::pin(async move {
            Err(format!(
                "this outbox cannot publish non-retained messages (topic {topic})"
            ))
        })
    }

    /// Publishes every `(topic, payload)` retained at QoS 1, in order, like [`Outbox::send`]
    /// for each; one result per message. An outbox may hand them all over before waiting for
    /// any answer (the default sends one after the other).
    fn send_all(&self, messages: Vec<(String, Vec<u8>)>) -> SentAll<'_> {
        Box::pin(async move {
            let mut out = Vec::with_capacity(messages.len());
            for (topic, payload) in messages {
                out.push(self.send(topic, payload).await);
            }
            out
        })
    }
}

/// Why a screen could not be published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// No schedule targets the screen.
    #[error("no schedule targets screen {screen:?} (directly or by its gate); create one first")]
    NothingScheduled {
        /// Screen id.
        screen: String,
    },
    /// The content does not form a valid manifest.
    #[error("the content for screen {screen:?} is not publishable: {message}")]
    Invalid {
        /// Screen id.
        screen: String,
        /// What is wrong (names the field).
        message: String,
    },
    /// A new alert breaks the contract's rules for alert sets; nothing was stored.
    #[error("the alert cannot be signed: {message}")]
    AlertRefused {
        /// The request field at fault (`text[1].text`), when one alert's own field is.
        field: Option<String>,
        /// What is wrong (the contract's words).
        message: String,
    },
    /// A new ticker text breaks the contract's rules for ticker sets (`docs/protocol.md` §20);
    /// nothing was stored.
    #[error("the ticker text cannot be signed: {message}")]
    TickerRefused {
        /// The request field at fault (`text[1].text`), when the text's own field is.
        field: Option<String>,
        /// What is wrong (the contract's words).
        message: String,
    },
    /// The approval policy would make the screens refuse it (`docs/protocol.md` §19).
    #[error("Chưa đủ phê duyệt (not approved) for screen {screen:?}: {message}. Approvers: gatecast-approve review, then gatecast-approve sign")]
    NotApproved {
        /// Screen id.
        screen: String,
        /// Which item lacks which approvals.
        message: String,
    },
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The result of publishing to one screen.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Published {
    /// Screen id.
    pub screen: String,
    /// Version now current.
    pub version: u64,
    /// False when the content was unchanged and the stored manifest was re-sent.
    pub changed: bool,
    /// False when handing it to the MQTT client failed (it is stored and will be re-sent
    /// after the next reconnect).
    pub delivered: bool,
}

fn media_ref(
    store: &Store,
    sha: &str,
    field: &str,
    screen: &str,
) -> Result<MediaRef, PublishError> {
    media_ref_of(
        store.media(sha)?.as_ref(),
        &store.subtitles(sha)?,
        sha,
        field,
        screen,
    )
}

/// The manifest's reference to a stored media item, with its subtitle tracks (§21) in
/// language order.
fn media_ref_of(
    record: Option<&MediaRecord>,
    subtitles: &[SubtitleRecord],
    sha: &str,
    field: &str,
    screen: &str,
) -> Result<MediaRef, PublishError> {
    let invalid = |message: String| PublishError::Invalid {
        screen: screen.to_string(),
        message,
    };
    match record {
        Some(m) if !m.deleted => Ok(MediaRef {
            sha256: m.sha256.clone(),
            bytes: m.bytes,
            mime: m.mime.clone(),
            kind: by_name(&m.kind)
                .ok_or_else(|| invalid(format!("media {sha} has an unknown kind {:?}", m.kind)))?,
            lang: m.lang.clone(),
            title: m.title.clone(),
            duration_ms: m.duration_ms,
            subtitles: subtitles
                .iter()
                .map(|t| SubtitleRef {
                    sha256: t.sha256.clone(),
                    bytes: t.bytes,
                    lang: t.lang.clone(),
                    format: t.format,
                })
                .collect(),
        }),
        _ => Err(invalid(format!(
            "{field} refers to media {sha} which is unknown or deleted"
        ))),
    }
}

/// A contract enum (`MediaKind`, `Weekday`) from its wire name, as the manifest spells it.
fn by_name<T: serde::de::DeserializeOwned>(name: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(name.to_owned())).ok()
}

/// The schedules, playlists and media a publish reads, loaded from the store once so that a
/// publish to N screens does not read and decode every schedule N times.
#[derive(Debug, Clone)]
pub struct ContentIndex {
    /// Every schedule, highest priority first, then by id.
    schedules: Vec<ScheduleRecord>,
    /// The playlists the schedules name (`None`: named but missing).
    playlists: HashMap<String, Option<PlaylistRecord>>,
    /// The media those playlists use (`None`: unknown hash).
    media: HashMap<String, Option<MediaRecord>>,
    /// The subtitle tracks of those media (§21).
    subtitles: HashMap<String, Vec<SubtitleRecord>>,
    /// The approval policy and approvals (`None`: no policy, approvals not required).
    approvals: Option<Approvals>,
    /// Each screen's layout (`docs/protocol.md` §20); a screen without one is full screen.
    layouts: HashMap<String, playlists::manifest::Layout>,
}

impl ContentIndex {
    /// Reads every schedule, the playlists they name and the media those use.
    pub fn load(store: &Store) -> Result<ContentIndex, PublishError> {
        let mut schedules = store.schedules()?;
        schedules.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.id.cmp(&b.id)));
        let mut playlists = HashMap::new();
        let mut media = HashMap::new();
        let mut subtitles = HashMap::new();
        for s in &schedules {
            if playlists.contains_key(&s.playlist) {
                continue;
            }
            let p = store.playlist(&s.playlist)?;
            if let Some(p) = &p {
                for item in &p.items {
                    for sha in std::iter::once(&item.media).chain(&item.variants) {
                        if !media.contains_key(sha) {
                            media.insert(sha.clone(), store.media(sha)?);
                            subtitles.insert(sha.clone(), store.subtitles(sha)?);
                        }
                    }
                }
            }
            playlists.insert(s.playlist.clone(), p);
        }
        let mut layouts = HashMap::new();
        for s in store.screens()? {
            if let Some(l) = store.screen_layout(&s.id)? {
                // Side and logo images are media of the manifest like a playlist's (§20).
                for sha in l.media() {
                    if !media.contains_key(sha) {
                        media.insert(sha.clone(), store.media(sha)?);
                        subtitles.insert(sha.clone(), store.subtitles(sha)?);
                    }
                }
                layouts.insert(s.id, l);
            }
        }
        Ok(ContentIndex {
            schedules,
            playlists,
            media,
            subtitles,
            approvals: Approvals::load(store)?,
            layouts,
        })
    }
}

/// The manifest of `screen` with `version` and times still to be set (0 and `now`), its content
/// hash (of everything but `version`, `issued_at` and `expires_at`) and the media hashes it uses.
fn build_manifest(
    index: &ContentIndex,
    screen: &ScreenRecord,
    now: jiff::Timestamp,
) -> Result<(Manifest, String, Vec<String>), PublishError> {
    let invalid = |message: String| PublishError::Invalid {
        screen: screen.id.clone(),
        message,
    };
    // Already in priority order (see `ContentIndex::load`).
    let schedules: Vec<&ScheduleRecord> = index
        .schedules
        .iter()
        .filter(|s| s.targets.matches(screen))
        .collect();
    if schedules.is_empty() {
        return Err(PublishError::NothingScheduled {
            screen: screen.id.clone(),
        });
    }
    let mut playlist_ids: Vec<String> = schedules.iter().map(|s| s.playlist.clone()).collect();
    playlist_ids.sort();
    playlist_ids.dedup();
    let mut playlists = Vec::new();
    let mut media: Vec<String> = Vec::new();
    for pid in &playlist_ids {
        let p = index
            .playlists
            .get(pid)
            .and_then(Option::as_ref)
            .ok_or_else(|| {
                invalid(format!(
                    "a schedule refers to playlist {pid:?} which no longer exists"
                ))
            })?;
        for item in &p.items {
            media.push(item.media.clone());
            media.extend(item.variants.iter().cloned());
        }
        playlists.push(Playlist {
            id: p.id.clone(),
            name: p.name.clone(),
            items: p
                .items
                .iter()
                .map(|i| PlaylistItem {
                    media: i.media.clone(),
                    duration_ms: i.duration_ms,
                    variants: i.variants.clone(),
                })
                .collect(),
        });
    }
    let layout = index.layouts.get(&screen.id).cloned();
    let in_playlists: HashSet<String> = media.iter().cloned().collect();
    media.extend(layout.iter().flat_map(|l| l.media().cloned()));
    media.sort();
    media.dedup();
    let media_refs = media
        .iter()
        .map(|sha| {
            let record = index.media.get(sha).and_then(Option::as_ref);
            let subs = index.subtitles.get(sha).map_or(&[][..], Vec::as_slice);
            let what = if in_playlists.contains(sha) {
                "a playlist item"
            } else {
                "a side or logo region of the screen's layout"
            };
            media_ref_of(record, subs, sha, what, &screen.id)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let schedule = schedules
        .iter()
        .map(|s| schedule_entry(s).map_err(invalid))
        .collect::<Result<Vec<_>, _>>()?;
    // Fallback: the lowest-priority unconditional entry's playlist, else the lowest-priority one.
    let unconditional = |s: &&&ScheduleRecord| {
        s.from.is_none() && s.until.is_none() && s.weekdays.is_none() && s.start.is_none()
    };
    let fallback = schedules
        .iter()
        .rev()
        .find(unconditional)
        .or(schedules.last())
        .map(|s| s.playlist.clone())
        .unwrap_or_default();
    let manifest = Manifest {
        screen: screen.id.clone(),
        version: 0,
        issued_at: now,
        expires_at: now,
        timezone: screen.timezone.clone(),
        languages: screen.languages.clone(),
        media: media_refs,
        playlists,
        schedule,
        fallback,
        layout,
    };
    let hash = content_hash(&manifest);
    Ok((manifest, hash, media))
}

/// One schedule record as a manifest schedule entry.
fn schedule_entry(s: &ScheduleRecord) -> Result<ScheduleEntry, String> {
    let date = |field: &str, v: &Option<String>| -> Result<Option<jiff::civil::Date>, String> {
        v.as_deref()
            .map(|d| {
                playlists::manifest::parse_date(d).ok_or_else(|| {
                    format!(
                        "schedule {:?}: {field} {d:?} is not a date \"YYYY-MM-DD\"",
                        s.id
                    )
                })
            })
            .transpose()
    };
    let weekdays = s
        .weekdays
        .as_ref()
        .map(|days| {
            days.iter()
                .map(|d| {
                    by_name(d).ok_or_else(|| format!("schedule {:?}: unknown weekday {d:?}", s.id))
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    Ok(ScheduleEntry {
        id: s.id.clone(),
        playlist: s.playlist.clone(),
        priority: s.priority,
        from: date("from", &s.from)?,
        until: date("until", &s.until)?,
        weekdays,
        start: s.start.clone(),
        end: s.end.clone(),
    })
}

/// The content hash of a manifest: SHA-256 of its JSON with `version`, `issued_at` and
/// `expires_at` set to fixed values, so that only a change of content changes it.
fn content_hash(m: &Manifest) -> String {
    let mut content = m.clone();
    content.version = 0;
    content.issued_at = jiff::Timestamp::UNIX_EPOCH;
    content.expires_at = jiff::Timestamp::UNIX_EPOCH;
    sha256_hex(&content.to_json())
}

/// Builds, signs, stores and sends the manifest of one screen (see the module docs for when
/// the version changes). To publish to many screens use [`publish_manifests`].
pub async fn publish_manifest(
    store: &Store,
    key: &SecretKey,
    outbox: &dyn Outbox,
    screen: &ScreenRecord,
    lifetime: Duration,
    now: jiff::Timestamp,
) -> Result<Published, PublishError> {
    let index = ContentIndex::load(store)?;
    let mut out = publish_manifests(
        store,
        &index,
        key,
        outbox,
        std::slice::from_ref(screen),
        lifetime,
        now,
    )
    .await?;
    Ok(out.pop().expect("one screen in, one result out"))
}

/// A manifest ready to send: its topic, the envelope bytes and what to report.
struct Staged {
    topic: String,
    bytes: Vec<u8>,
    published: Published,
}

/// What [`prepare_manifest`] decided for one screen; nothing of it is stored yet.
enum Prepared {
    /// Unchanged and still fresh: the stored envelope goes out again.
    Unchanged(Staged),
    /// A new version, signed and encoded: `stored` must be stored before `staged` is sent.
    Signed {
        stored: EncodedManifest,
        staged: Staged,
    },
}

/// Builds the manifest of `screen` from `index`; a changed (or renewed) one is signed with the
/// next version, an unchanged one is taken from the store. Only reads the store.
fn prepare_manifest(
    store: &Store,
    index: &ContentIndex,
    key: &SecretKey,
    screen: &ScreenRecord,
    lifetime: Duration,
    now: jiff::Timestamp,
) -> Result<Prepared, PublishError> {
    let (mut manifest, hash, media) = build_manifest(index, screen, now)?;
    let attachments = attachments(index, &manifest, screen, now)?;
    // New approvals or a new policy make a new version even for unchanged content.
    let hash = if attachments.policy.is_empty() {
        hash
    } else {
        sha256_hex(format!("{hash} {}", Approvals::fingerprint(&attachments)).as_bytes())
    };
    let (prev, prev_bytes) = store.manifest_for_update(&screen.id)?.unzip();
    if let Some(p) = &prev {
        if p.content_hash == hash && still_fresh(p, now) {
            return Ok(Prepared::Unchanged(Staged {
                topic: topic(&screen.id, Kind::Manifest),
                bytes: p.envelope.clone().into_bytes(),
                published: Published {
                    screen: screen.id.clone(),
                    version: p.version,
                    changed: false,
                    delivered: false,
                },
            }));
        }
    }
    let version = prev.map_or(1, |p| p.version + 1);
    let expires = now
        .checked_add(jiff::SignedDuration::from_secs(lifetime.as_secs() as i64))
        .map_err(|e| PublishError::Invalid {
            screen: screen.id.clone(),
            message: format!("manifest lifetime out of range: {e}"),
        })?;
    manifest.version = version;
    manifest.expires_at = expires;
    let invalid = |message: String| PublishError::Invalid {
        screen: screen.id.clone(),
        message,
    };
    let env = sign_manifest(&manifest, &attachments, key).map_err(|e| invalid(e.to_string()))?;
    let bytes = env.to_json();
    let stored = StoredManifest {
        screen: screen.id.clone(),
        version,
        content_hash: hash,
        media,
        issued_at: now.to_string(),
        expires_at: expires.to_string(),
        envelope: String::from_utf8(bytes.clone()).expect("envelope JSON is UTF-8"),
    };
    Ok(Prepared::Signed {
        stored: EncodedManifest::new(&stored, prev_bytes),
        staged: Staged {
            topic: topic(&screen.id, Kind::Manifest),
            bytes,
            published: Published {
                screen: screen.id.clone(),
                version,
                changed: true,
                delivered: false,
            },
        },
    })
}

/// Screens below which working on one thread is cheaper than handing work to others.
const PARALLEL_FROM: usize = 64;

/// `f` of every screen, in order, on every core (the blocking pool, so the runtime — the
/// broker, HTTP — keeps running): building, hashing and signing thousands of manifests is CPU
/// work, and each screen's is independent. The screens of a chunk whose worker panicked get
/// an `Invalid` error saying that `doing` failed.
async fn on_all_cores<T, F>(
    screens: &[ScreenRecord],
    doing: &str,
    f: F,
) -> Vec<Result<T, PublishError>>
where
    T: Send + 'static,
    F: Fn(&ScreenRecord) -> Result<T, PublishError> + Send + Sync + 'static,
{
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let workers = cores.min(screens.len().div_ceil(PARALLEL_FROM)).max(1);
    let per = screens.len().div_ceil(workers).max(1);
    let f = std::sync::Arc::new(f);
    let jobs: Vec<_> = screens
        .chunks(per)
        .map(|chunk| {
            let (f, chunk) = (f.clone(), chunk.to_vec());
            tokio::task::spawn_blocking(move || chunk.iter().map(|s| f(s)).collect::<Vec<_>>())
        })
        .collect();
    let mut out = Vec::with_capacity(screens.len());
    for (job, chunk) in jobs.into_iter().zip(screens.chunks(per)) {
        match job.await {
            Ok(done) => out.extend(done),
            Err(e) => out.extend(chunk.iter().map(|s| {
                Err(PublishError::Invalid {
                    screen: s.id.clone(),
                    message: format!("{doing} failed: {e}"),
                })
            })),
        }
    }
    out
}

/// [`prepare_manifest`] for every screen, in order, on every core ([`on_all_cores`]; the
/// store is only read).
async fn prepare_manifests(
    store: &Store,
    index: &ContentIndex,
    key: &SecretKey,
    screens: &[ScreenRecord],
    lifetime: Duration,
    now: jiff::Timestamp,
) -> Vec<Result<Prepared, PublishError>> {
    let (store, index, key) = (store.clone(), index.clone(), key.clone());
    on_all_cores(screens, "preparing the manifest", move |s| {
        prepare_manifest(&store, &index, &key, s, lifetime, now)
    })
    .await
}

/// [`check_publishable_in`] for every screen, in order, on every core ([`on_all_cores`]).
pub async fn check_all_publishable(
    index: &ContentIndex,
    screens: &[ScreenRecord],
) -> Vec<Result<(), PublishError>> {
    let index = index.clone();
    on_all_cores(screens, "checking the manifest", move |s| {
        check_publishable_in(&index, s)
    })
    .await
}

/// Publishes the manifests of `screens` (in order) from one [`ContentIndex`]: builds and signs
/// every changed manifest (on all cores), stores them in order, flushes the store **once**, and
/// only then sends them all, so nothing is sent before its version is durable (see the module
/// docs for when the version changes). If a screen fails, the screens before it are still
/// flushed and sent, the ones after it are not stored or sent, and the error is returned.
pub async fn publish_manifests(
    store: &Store,
    index: &ContentIndex,
    key: &SecretKey,
    outbox: &dyn Outbox,
    screens: &[ScreenRecord],
    lifetime: Duration,
    now: jiff::Timestamp,
) -> Result<Vec<Published>, PublishError> {
    let started = std::time::Instant::now();
    let prepared = prepare_manifests(store, index, key, screens, lifetime, now).await;
    let signed = started.elapsed();
    let mut staged = Vec::with_capacity(screens.len());
    let mut failure = None;
    for p in prepared {
        let stored = match p {
            Ok(Prepared::Unchanged(s)) => Ok(s),
            Ok(Prepared::Signed { stored, staged }) => store
                .put_manifest_replacing(&stored)
                .map(|()| staged)
                .map_err(PublishError::from),
            Err(e) => Err(e),
        };
        match stored {
            Ok(s) => staged.push(s),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let written = started.elapsed();
    if staged.iter().any(|s| s.published.changed) {
        // Durability: one flush covers every manifest staged above, before any is sent.
        store.flush().await?;
    }
    let flushed = started.elapsed();
    let (messages, mut out): (Vec<_>, Vec<_>) = staged
        .into_iter()
        .map(|s| ((s.topic, s.bytes), s.published))
        .unzip();
    let sent = outbox.send_all(messages).await;
    tracing::debug!(
        screens = screens.len(),
        ?signed,
        ?written,
        ?flushed,
        sent = ?started.elapsed(),
        "manifests published (times since the start)"
    );
    for (published, result) in out.iter_mut().zip(sent) {
        published.delivered = result
            .map_err(|e| {
                if published.changed {
                    tracing::warn!(screen = %published.screen, "sending manifest failed: {e}");
                } else {
                    tracing::warn!(screen = %published.screen, "re-sending manifest failed: {e}");
                }
            })
            .is_ok();
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// Builds, signs, stores and sends the full current alert set of one screen (a new version
/// every time: alert changes are rare and must always reach the screen).
pub async fn publish_alerts(
    store: &Store,
    key: &SecretKey,
    outbox: &dyn Outbox,
    screen: &ScreenRecord,
    now: jiff::Timestamp,
) -> Result<Published, PublishError> {
    let LiveAlerts { alerts, ids, media } = live_alerts(store, screen, now, None)?;
    let prev = store.alert_set(&screen.id)?;
    let version = prev.map(|p| p.version).unwrap_or(0) + 1;
    let invalid = |message: String| PublishError::Invalid {
        screen: screen.id.clone(),
        message,
    };
    let set = AlertSet {
        screen: screen.id.clone(),
        version,
        issued_at: now,
        alerts,
    };
    let att = alert_attachments(store, &set, screen, now)?;
    let bytes = sign_alerts(&set, &att, key)
        .map_err(|e| invalid(e.to_string()))?
        .to_json();
    store
        .put_alert_set(&StoredAlertSet {
            screen: screen.id.clone(),
            version,
            alerts: ids,
            media,
            envelope: String::from_utf8(bytes.clone()).expect("envelope JSON is UTF-8"),
        })
        .await?;
    let delivered = outbox
        .send(topic(&screen.id, Kind::Alert), bytes)
        .await
        .map_err(|e| tracing::warn!(screen = %screen.id, "sending alerts failed: {e}"))
        .is_ok();
    Ok(Published {
        screen: screen.id.clone(),
        version,
        changed: true,
        delivered,
    })
}

/// The signed-form alerts of `screen` at `now` (records not cancelled, not expired, targeting
/// it), in id order, with their ids and media hashes; `extra` is a record not yet stored that
/// is counted in as if it were.
///
/// A stored record the contract refuses on its own (an older build stored records before
/// checking them with the contract's rules) is left out with a logged reason: one bad record
/// must not make every later alert set of its screens, cancellations included, unsignable
/// (docs/security.md §3).
fn live_alerts(
    store: &Store,
    screen: &ScreenRecord,
    now: jiff::Timestamp,
    extra: Option<&AlertRecord>,
) -> Result<LiveAlerts, PublishError> {
    let mut records: Vec<_> = store
        .alerts()?
        .into_iter()
        .filter(|a| extra.is_none_or(|e| e.id != a.id))
        .chain(extra.cloned())
        .filter(|a| !a.cancelled && a.targets.matches(screen))
        .filter_map(|a| {
            let expires = a.expires_at.parse::<jiff::Timestamp>().ok()?;
            (expires > now).then_some((a, expires))
        })
        .collect();
    records.sort_by(|(a, _), (b, _)| a.id.cmp(&b.id));
    let (mut alerts, mut ids, mut media) = (Vec::new(), Vec::new(), Vec::new());
    for (a, expires_at) in records {
        let is_extra = extra.is_some_and(|e| e.id == a.id);
        let alert = alert_of(store, a, expires_at, &screen.id)?;
        if !is_extra {
            if let Err(e) = check_alone(&alert, &screen.id) {
                tracing::warn!(screen = %screen.id, alert = %alert.id,
                    "stored alert left out of the alert set: the contract refuses it ({e}); cancel or replace it");
                continue;
            }
        }
        if let Some(m) = &alert.media {
            media.push(m.sha256.clone());
        }
        ids.push(alert.id.clone());
        alerts.push(alert);
    }
    Ok(LiveAlerts { alerts, ids, media })
}

/// What [`live_alerts`] finds for one screen.
struct LiveAlerts {
    /// The alerts in signed form, in id order.
    alerts: Vec<Alert>,
    /// Their ids.
    ids: Vec<String>,
    /// The media they show.
    media: Vec<String>,
}

/// One alert record in its signed form.
fn alert_of(
    store: &Store,
    a: AlertRecord,
    expires_at: jiff::Timestamp,
    screen: &str,
) -> Result<Alert, PublishError> {
    let media = match &a.media {
        Some(sha) => Some(media_ref(store, sha, &format!("alert {}", a.id), screen)?),
        None => None,
    };
    Ok(Alert {
        id: a.id,
        priority: a.priority,
        expires_at,
        text: a
            .text
            .into_iter()
            .map(|t| AlertText {
                lang: t.lang,
                text: t.text,
            })
            .collect(),
        media,
    })
}

/// The contract's rules for one alert on its own (a one-alert set for `screen`).
fn check_alone(alert: &Alert, screen: &str) -> Result<(), ManifestError> {
    AlertSet {
        screen: screen.to_string(),
        version: 1,
        issued_at: jiff::Timestamp::UNIX_EPOCH,
        alerts: vec![alert.clone()],
    }
    .validate()
}

/// Checks a new or replaced alert record with the contract's own rules
/// ([`AlertSet::validate`]: text length in bytes, control characters, distinct languages, the
/// number of alerts per set) before it is stored: alone, and within the alert set of every
/// screen it targets. What cannot be signed is never stored (docs/security.md §3).
pub fn check_alert(
    store: &Store,
    rec: &AlertRecord,
    now: jiff::Timestamp,
) -> Result<(), PublishError> {
    let refused = |e: ManifestError| {
        let text = e.to_string();
        let field = text
            .split_once(": ")
            .and_then(|(f, _)| f.strip_prefix("alerts[0]."))
            .map(str::to_string);
        PublishError::AlertRefused {
            field,
            message: text,
        }
    };
    let expires_at =
        rec.expires_at
            .parse::<jiff::Timestamp>()
            .map_err(|e| PublishError::AlertRefused {
                field: Some("expires_at".into()),
                message: e.to_string(),
            })?;
    let screens = store.screens()?;
    let placeholder = screens.first().map_or("screen", |s| s.id.as_str());
    check_alone(
        &alert_of(store, rec.clone(), expires_at, placeholder)?,
        placeholder,
    )
    .map_err(refused)?;
    for screen in screens.iter().filter(|s| rec.targets.matches(s)) {
        let alerts = live_alerts(store, screen, now, Some(rec))?.alerts;
        AlertSet {
            screen: screen.id.clone(),
            version: 1,
            issued_at: now,
            alerts,
        }
        .validate()
        .map_err(|e| PublishError::AlertRefused {
            field: None,
            message: format!("screen {:?}: {e}", screen.id),
        })?;
        let set = AlertSet {
            screen: screen.id.clone(),
            version: 1,
            issued_at: now,
            alerts: vec![alert_of(store, rec.clone(), expires_at, &screen.id)?],
        };
        alert_attachments(store, &set, screen, now)?;
    }
    Ok(())
}

/// Whether the stored manifest `p` is younger than half its lifetime at `now` (an unchanged
/// publish re-sends it; an older one is re-issued with a new version and expiry).
fn still_fresh(p: &StoredManifest, now: jiff::Timestamp) -> bool {
    match (
        p.issued_at.parse::<jiff::Timestamp>(),
        p.expires_at.parse::<jiff::Timestamp>(),
    ) {
        (Ok(i), Ok(e)) => {
            let half = jiff::SignedDuration::from_secs((e.as_second() - i.as_second()) / 2);
            now < i.checked_add(half).unwrap_or(e)
        }
        _ => false,
    }
}

/// The manifest `screen` would get now, with a placeholder version and times, validated
/// against the contract; and its content hash.
fn draft_manifest(
    index: &ContentIndex,
    screen: &ScreenRecord,
    now: jiff::Timestamp,
) -> Result<(Manifest, String), PublishError> {
    let (mut manifest, hash, _) = build_manifest(index, screen, now)?;
    manifest.version = 1;
    manifest.expires_at = now
        .checked_add(jiff::SignedDuration::from_hours(1))
        .unwrap_or(now);
    let invalid = |message: String| PublishError::Invalid {
        screen: screen.id.clone(),
        message,
    };
    manifest.validate().map_err(|e| invalid(e.to_string()))?;
    Ok((manifest, hash))
}

/// Whether `screen` has publishable content: builds its manifest with a placeholder version
/// and times and runs the contract's validation, so that a request naming several screens
/// either publishes all of them or none.
pub fn check_publishable(store: &Store, screen: &ScreenRecord) -> Result<(), PublishError> {
    check_publishable_in(&ContentIndex::load(store)?, screen)
}

/// [`check_publishable`] against an already loaded [`ContentIndex`] (one load per publish).
pub fn check_publishable_in(
    index: &ContentIndex,
    screen: &ScreenRecord,
) -> Result<(), PublishError> {
    let now = jiff::Timestamp::now();
    let (manifest, _) = draft_manifest(index, screen, now)?;
    attachments(index, &manifest, screen, now).map(|_| ())
}

/// The policy chain and approvals a manifest for `screen` carries (none without a policy), or
/// `NotApproved` naming the first item the screens would refuse.
fn attachments(
    index: &ContentIndex,
    manifest: &Manifest,
    screen: &ScreenRecord,
    now: jiff::Timestamp,
) -> Result<Attachments, PublishError> {
    match &index.approvals {
        None => Ok(Attachments::default()),
        Some(a) => {
            a.for_manifest(manifest, &screen.gate, now)
                .map_err(|e| PublishError::NotApproved {
                    screen: screen.id.clone(),
                    message: e.to_string(),
                })
        }
    }
}

/// As [`attachments`] for an alert set.
fn alert_attachments(
    store: &Store,
    set: &AlertSet,
    screen: &ScreenRecord,
    now: jiff::Timestamp,
) -> Result<Attachments, PublishError> {
    match Approvals::load(store)? {
        None => Ok(Attachments::default()),
        Some(a) => a
            .for_alerts(set, &screen.gate, now)
            .map_err(|e| PublishError::NotApproved {
                screen: screen.id.clone(),
                message: e.to_string(),
            }),
    }
}

/// A media item added to or removed from a screen's manifest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MediaChange {
    /// SHA-256 of the media.
    pub sha256: String,
    /// Its title (may be empty).
    pub title: String,
}

/// What publishing to one screen would do now (the publish dry run): nothing is signed,
/// stored or sent to compute it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PlanEntry {
    /// Screen id.
    pub screen: String,
    /// Version of the stored (last published) manifest; `None` if never published.
    pub current_version: Option<u64>,
    /// Version a publish would issue; `None` when it would re-send the current one.
    pub next_version: Option<u64>,
    /// Whether the content differs from the current manifest (always true for a first publish).
    pub changed: bool,
    /// Content unchanged but the current manifest is past half its lifetime: a publish
    /// re-issues it with a new version and a fresh expiry.
    pub renews_expiry: bool,
    /// Media the screen would newly have to download.
    pub added_media: Vec<MediaChange>,
    /// Media no longer in the screen's manifest.
    pub removed_media: Vec<MediaChange>,
    /// Ids of playlists added, removed or edited (name, items, durations, variants).
    pub playlists_changed: Vec<String>,
    /// Whether the schedule entries or the fallback playlist differ.
    pub schedule_changed: bool,
    /// Whether the screen's timezone or language rotation differ.
    pub settings_changed: bool,
}

/// Computes what [`publish_manifest`] would do to `screen` at `now`, without signing, storing
/// or sending anything (it takes no key and no outbox). Fails like a publish would (nothing
/// scheduled, invalid content).
pub fn plan_manifest(
    store: &Store,
    screen: &ScreenRecord,
    now: jiff::Timestamp,
) -> Result<PlanEntry, PublishError> {
    let (next, hash) = draft_manifest(&ContentIndex::load(store)?, screen, now)?;
    let prev = store.manifest(&screen.id)?;
    // The stored envelope is the controller's own output; its payload is the manifest JSON.
    let prev_manifest = prev.as_ref().and_then(|p| {
        playlists::envelope::Envelope::parse(p.envelope.as_bytes())
            .ok()
            .and_then(|e| Manifest::from_json(&e.payload).ok())
    });
    let changed = prev.as_ref().is_none_or(|p| p.content_hash != hash);
    let renews_expiry = !changed && prev.as_ref().is_some_and(|p| !still_fresh(p, now));
    let current_version = prev.as_ref().map(|p| p.version);
    let next_version = (changed || renews_expiry).then(|| current_version.unwrap_or(0) + 1);

    let title_of = |sha: &str| -> String {
        store
            .media(sha)
            .ok()
            .flatten()
            .map(|m| m.title)
            .unwrap_or_default()
    };
    let prev_media: Vec<MediaChange> = match (&prev_manifest, &prev) {
        (Some(m), _) => m
            .media
            .iter()
            .map(|r| MediaChange {
                sha256: r.sha256.clone(),
                title: r.title.clone(),
            })
            .collect(),
        (None, Some(p)) => p
            .media
            .iter()
            .map(|sha| MediaChange {
                sha256: sha.clone(),
                title: title_of(sha),
            })
            .collect(),
        (None, None) => Vec::new(),
    };
    let added_media = next
        .media
        .iter()
        .filter(|r| !prev_media.iter().any(|p| p.sha256 == r.sha256))
        .map(|r| MediaChange {
            sha256: r.sha256.clone(),
            title: r.title.clone(),
        })
        .collect();
    let removed_media = prev_media
        .iter()
        .filter(|p| !next.media.iter().any(|r| r.sha256 == p.sha256))
        .cloned()
        .collect();

    let (playlists_changed, schedule_changed, settings_changed) = match &prev_manifest {
        Some(pm) => {
            let mut ids: Vec<String> = next
                .playlists
                .iter()
                .filter(|p| pm.playlist(&p.id) != Some(*p))
                .map(|p| p.id.clone())
                .chain(
                    pm.playlists
                        .iter()
                        .filter(|p| next.playlist(&p.id).is_none())
                        .map(|p| p.id.clone()),
                )
                .collect();
            ids.sort();
            ids.dedup();
            (
                ids,
                pm.schedule != next.schedule || pm.fallback != next.fallback,
                pm.timezone != next.timezone || pm.languages != next.languages,
            )
        }
        // Never published (or the stored envelope is unreadable): everything is new.
        None => (
            next.playlists.iter().map(|p| p.id.clone()).collect(),
            true,
            prev.is_none(),
        ),
    };
    Ok(PlanEntry {
        screen: screen.id.clone(),
        current_version,
        next_version,
        changed,
        renews_expiry,
        added_media,
        removed_media,
        playlists_changed,
        schedule_changed,
        settings_changed,
    })
}
