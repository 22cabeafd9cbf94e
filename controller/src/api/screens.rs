//! Screens, gates and enrolment.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use warp::http::StatusCode;
use warp::reply::Response;

use super::{json_reply, log_action, ApiError, AppState, Request, ADMIN, READ};
use crate::mqtt::password::{generate_mqtt_password, hash_mqtt_password, login_verifier};
use crate::secrets::random_code;
use crate::store::{EnrollCode, ScreenRecord, StatusRecord, Store};
use crate::tokens::ct_eq;
use playlists::hex::sha256_hex;

#[derive(Deserialize)]
struct RegisterBody {
    id: String,
    name: String,
    gate: String,
    #[serde(default)]
    languages: Vec<String>,
    timezone: String,
}

fn make_code(state: &AppState, screen: &str) -> (String, EnrollCode) {
    let code = random_code(12);
    let expires =
        jiff::Timestamp::now().as_second() + state.config.enrollment_code_lifetime.as_secs() as i64;
    let rec = EnrollCode {
        screen: screen.to_string(),
        code_hash: sha256_hex(code.as_bytes()),
        expires_at: expires,
    };
    (code, rec)
}

/// The hashes a screen reports as `current` while it shows an alert (each text's SHA-256, and
/// the alert's media), to the alert's id, title (its first line in that language) and
/// language. Built once per request from the alerts not cancelled nor expired, so a wall of
/// many screens hashes each text once.
pub struct AlertIndex(pub(super) HashMap<String, serde_json::Value>);

impl AlertIndex {
    /// Indexes the live alerts of the store at `now`.
    pub fn live(state: &AppState, now: jiff::Timestamp) -> Result<AlertIndex, ApiError> {
        let mut map = HashMap::new();
        for a in state.store.alerts()? {
            let expired = a
                .expires_at
                .parse::<jiff::Timestamp>()
                .is_ok_and(|t| t <= now);
            if a.cancelled || expired {
                continue;
            }
            let entry = |lang: &str| serde_json::json!({"kind": "alert", "alert": a.id, "title": a.title(Some(lang)), "lang": lang});
            for t in &a.text {
                map.insert(sha256_hex(t.text.as_bytes()), entry(&t.lang));
            }
            if let (Some(m), Some(first)) = (&a.media, a.text.first()) {
                map.entry(m.clone()).or_insert_with(|| entry(&first.lang));
            }
        }
        Ok(AlertIndex(map))
    }

    /// No alerts (a screen just registered shows nothing).
    pub fn empty() -> AlertIndex {
        AlertIndex(HashMap::new())
    }
}

/// What a screen's `current` hash is, for people (`showing` in the screens API): an alert's
/// title and language, or a media item's title, kind and language, or `unknown`. The console
/// shows this, never the hash.
pub(super) fn showing(
    store: &Store,
    current: &str,
    alerts: &AlertIndex,
) -> Result<serde_json::Value, ApiError> {
    if let Some(v) = alerts.0.get(current) {
        return Ok(v.clone());
    }
    Ok(match store.media(current)? {
        Some(m) => serde_json::json!({
            "kind": m.kind, "title": m.title, "lang": m.lang,
        }),
        None => serde_json::json!({"kind": "unknown"}),
    })
}

/// What a screen's entry in the screens API shows from its stored records alone (its record,
/// last status, published manifest and newest screenshot): every member but the
/// [`live_members`], which depend on the time, the live alerts and the media titles.
pub(super) struct StoredView {
    /// The members.
    pub members: serde_json::Map<String, serde_json::Value>,
    /// The last status without its `status` JSON (which is in `members`).
    pub status: Option<StatusRecord>,
    /// The hash the last status reported as `current`.
    pub current: Option<String>,
}

/// Reads what [`StoredView`] holds of `s`.
pub(super) fn stored_view(store: &Store, s: &ScreenRecord) -> Result<StoredView, ApiError> {
    let status = store.status(&s.id)?;
    let manifest = store.manifest(&s.id)?;
    let current = status
        .as_ref()
        .and_then(|st| st.status.get("current"))
        .and_then(|c| c.as_str())
        .map(str::to_owned);
    let shot = store.latest_screenshot(&s.id)?;
    let v = serde_json::json!({
        "id": s.id, "name": s.name, "gate": s.gate, "languages": s.languages,
        "timezone": s.timezone, "disabled": s.disabled, "device_key": s.device_key,
        "enrolled_at": s.enrolled_at, "created_at": s.created_at,
        "epoch": s.epoch(), "epochs": s.epochs(),
        "last_seen": status.as_ref().map(|st| st.received_at.clone()),
        "status": status.as_ref().map(|st| st.status.clone()),
        "published_version": manifest.map(|m| m.version),
        "screenshot": shot.map(|x| serde_json::json!({
            "seq": x.seq, "taken_at": x.record.taken_at.to_string(),
            "received_at": x.received_at, "request": x.record.request,
        })),
    });
    let serde_json::Value::Object(members) = v else {
        unreachable!("json! of an object is an object")
    };
    Ok(StoredView {
        members,
        status: status.map(|st| StatusRecord {
            status: serde_json::Value::Null,
            ..st
        }),
        current,
    })
}

/// The members of a screen's entry that depend on the moment: `online`, `silent_since` (when
/// its last status is older than the heartbeat age while the controller listened) and
/// `showing` (what its `current` hash is, [`showing`]).
pub(super) fn live_members(
    status: Option<&StatusRecord>,
    silent: Option<jiff::Timestamp>,
    showing: Option<serde_json::Value>,
) -> [(&'static str, serde_json::Value); 3] {
    [
        // A screen silent for longer than the heartbeat age (while the controller listened) is
        // offline whatever it last said (docs/protocol.md §12).
        (
            "online",
            (status.is_some_and(|st| st.online) && silent.is_none()).into(),
        ),
        ("silent_since", silent.map(|t| t.to_string()).into()),
        ("showing", showing.unwrap_or(serde_json::Value::Null)),
    ]
}

fn screen_json(
    state: &AppState,
    s: &ScreenRecord,
    alerts: &AlertIndex,
) -> Result<serde_json::Value, ApiError> {
    let mut v = stored_view(&state.store, s)?;
    let (now, stale) = (jiff::Timestamp::now(), state.config.status_stale_after);
    let silent = match &v.status {
        Some(st) => state.store.silent_since(st, now, stale)?,
        None => None,
    };
    let showing = v
        .current
        .as_deref()
        .map(|c| showing(&state.store, c, alerts))
        .transpose()?;
    for (k, x) in live_members(v.status.as_ref(), silent, showing) {
        v.members.insert(k.to_string(), x);
    }
    Ok(serde_json::Value::Object(v.members))
}

/// Whether `id` may not be a screen id although it is well formed: a screen's MQTT client id is
/// its screen id, so none may be the controller's client id
/// ([`playlists::topics::CONTROLLER_CLIENT_ID`]; its username `_controller` is not a valid
/// screen id anyway). See `docs/security.md` §3.
pub fn is_reserved_screen_id(id: &str) -> bool {
    id == playlists::topics::CONTROLLER_CLIENT_ID
}

/// Checks what people may change on a screen: name, gate, languages, timezone.
fn check_screen_fields(
    name: &str,
    gate: &str,
    languages: &[String],
    timezone: &str,
) -> Result<(), ApiError> {
    super::edits::check_name("name", name)?;
    if gate.trim().is_empty() || gate.chars().count() > 100 {
        return Err(
            ApiError::field_reason("gate", "text_length", "must be 1-100 characters")
                .with("max", "100"),
        );
    }
    for (i, l) in languages.iter().enumerate() {
        super::edits::check_lang(&format!("languages[{i}]"), l)?;
    }
    if !playlists::manifest::is_valid_timezone(timezone) {
        return Err(ApiError::field_reason(
            "timezone",
            "invalid_timezone",
            format!("{timezone:?} is not a known IANA timezone (e.g. Asia/Ho_Chi_Minh)"),
        )
        .with("value", timezone));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScreenEdit {
    name: Option<String>,
    gate: Option<String>,
    languages: Option<Vec<String>>,
    timezone: Option<String>,
}

/// `PATCH /api/v1/screens/{id} {"name"?, "gate"?, "languages"?, "timezone"?}` (admin): edits
/// what people set on a screen. The id (its MQTT username and the name in its receipts) never
/// changes; the change reaches the screen with the next publish.
pub async fn edit(state: &AppState, mut req: Request, id: &str) -> Result<Response, ApiError> {
    let who = req.authorize(state, ADMIN)?;
    let b: ScreenEdit = req.json().await?;
    let mut s = state
        .store
        .screen(id)?
        .ok_or_else(|| ApiError::not_found("screen", id))?;
    let before = serde_json::json!({"name": s.name, "gate": s.gate, "languages": s.languages, "timezone": s.timezone});
    if let Some(v) = b.name {
        s.name = v.trim().to_string();
    }
    if let Some(v) = b.gate {
        s.gate = v.trim().to_string();
    }
    if let Some(v) = b.languages {
        s.languages = v;
    }
    if let Some(v) = b.timezone {
        s.timezone = v.trim().to_string();
    }
    check_screen_fields(&s.name, &s.gate, &s.languages, &s.timezone)?;
    state.store.put_screen(&s).await?;
    log_action(
        state,
        &who,
        "screen.update",
        serde_json::json!({"id": id, "name": s.name, "gate": s.gate, "languages": s.languages, "timezone": s.timezone, "before": before}),
        vec![],
    )
    .await?;
    let alerts = AlertIndex::live(state, jiff::Timestamp::now())?;
    Ok(json_reply(
        StatusCode::OK,
        &screen_json(state, &s, &alerts)?,
    ))
}

/// `DELETE /api/v1/screens/{id}` (admin): removes a screen that never enrolled (a mistyped
/// registration). A screen that enrolled keeps its record, because its receipts are checked
/// under its device keys: 409 `screen_has_history`; disable it instead.
pub async fn delete(state: &AppState, req: Request, id: &str) -> Result<Response, ApiError> {
    let who = req.authorize(state, ADMIN)?;
    let s = state
        .store
        .screen(id)?
        .ok_or_else(|| ApiError::not_found("screen", id))?;
    if s.device_key.is_some() || !s.epochs.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "screen_has_history",
            format!("screen {id:?} has enrolled and its receipts are kept for the audit; disable it instead of deleting it"),
        )
        .with("id", id));
    }
    let used: Vec<String> = state
        .store
        .schedules()?
        .into_iter()
        .filter(|e| e.targets.screens.iter().any(|x| x == id))
        .map(|e| e.id)
        .collect();
    if !used.is_empty() {
        return Err(ApiError::conflict(format!(
            "screen {id:?} is named by schedule(s) {}; change those first",
            used.join(", ")
        ))
        .with("id", id)
        .with("schedules", used.join(", ")));
    }
    state.store.delete_screen(id).await?;
    if let Some(broker) = &state.broker {
        broker.evict_user(id);
    }
    log_action(
        state,
        &who,
        "screen.delete",
        serde_json::json!({"id": id, "name": s.name, "gate": s.gate}),
        vec![],
    )
    .await?;
    Ok(json_reply(
        StatusCode::OK,
        &serde_json::json!({"deleted": id}),
    ))
}

/// `POST /api/v1/screens` (admin): returns the enrolment code and MQTT password once; 409
/// `id_exists` for a screen id that is taken (nothing is changed).
pub async fn register(state: &AppState, mut req: Request) -> Result<Response, ApiError> {
    let who = req.authorize(state, ADMIN)?;
    let b: RegisterBody = req.json().await?;
    if !playlists::manifest::is_valid_screen_id(&b.id) {
        return Err(ApiError::field_reason(
            "id",
            "invalid_screen_id",
            format!(
                "{:?} is not a valid screen id: use 1-63 characters a-z, 0-9 and '-', starting with a letter or digit",
                b.id.chars().take(80).collect::<String>()
            ),
        ));
    }
    if is_reserved_screen_id(&b.id) {
        return Err(ApiError::field_reason(
            "id",
            "reserved_id",
            format!(
                "{:?} is reserved (the controller's MQTT client id); choose another screen id",
                b.id
            ),
        ));
    }
    check_screen_fields(&b.name, &b.gate, &b.languages, &b.timezone)?;
    if state.store.screen(&b.id)?.is_some() {
        return Err(ApiError::id_exists("screen", &b.id));
    }
    let password = generate_mqtt_password();
    let (code, code_rec) = make_code(state, &b.id);
    let rec = ScreenRecord {
        id: b.id,
        name: b.name,
        gate: b.gate,
        languages: b.languages,
        timezone: b.timezone,
        mqtt_password_hash: hash_mqtt_password(&password),
        mqtt_login_sha256: Some(login_verifier(&password)),
        disabled: false,
        device_key: None,
        enrolled_at: None,
        created_at: jiff::Timestamp::now().to_string(),
        epochs: Vec::new(),
    };
    state.store.create_screen(&rec, &code_rec).await?;
    log_action(
        state,
        &who,
        "screen.register",
        serde_json::json!({"id": rec.id, "gate": rec.gate}),
        vec![],
    )
    .await?;
    let mut v = screen_json(state, &rec, &AlertIndex::empty())?;
    v["enrollment_code"] = code.into();
    v["enrollment_code_expires_at"] = jiff::Timestamp::from_second(code_rec.expires_at)
        .map(|t| t.to_string())
        .unwrap_or_default()
        .into();
    v["mqtt_username"] = rec.id.clone().into();
    v["mqtt_password"] = password.into();
    Ok(json_reply(StatusCode::CREATED, &v))
}

/// Online/offline transitions inline in `GET /api/v1/screens/{id}` (the newest ones; the
/// whole history is paged by `GET /api/v1/screens/{id}/history`).
pub const INLINE_HISTORY: usize = 100;

/// `GET /api/v1/screens/{id}` (with its newest [`INLINE_HISTORY`] online/offline transitions,
/// oldest first, and `history_truncated` when older ones exist; a silent screen's ends with the
/// `offline` transition at `silent_since`, [`crate::store::Store::silence_transition`]).
pub fn get(state: &AppState, req: Request, id: &str) -> Result<Response, ApiError> {
    req.authorize(state, READ)?;
    let s = state
        .store
        .screen(id)?
        .ok_or_else(|| ApiError::not_found("screen", id))?;
    let alerts = AlertIndex::live(state, jiff::Timestamp::now())?;
    let mut v = screen_json(state, &s, &alerts)?;
    let (mut rows, truncated) = state.store.status_history_newest(id, INLINE_HISTORY)?;
    // A silent screen's history ends offline, as `online` says (and as the compliance report
    // counts it).
    let (now, stale) = (jiff::Timestamp::now(), state.config.status_stale_after);
    rows.extend(state.store.silence_transition(id, now, stale)?);
    v["history"] = serde_json::to_value(rows).unwrap_or_default();
    v["history_truncated"] = truncated.into();
    Ok(json_reply(StatusCode::OK, &v))
}

/// `GET /api/v1/screens/{id}/history?limit=&cursor=`: the screen's online/offline transitions,
/// oldest first, paged like the receipts (`next_cursor` while more follow).
pub fn history(state: &AppState, req: Request, id: &str) -> Result<Response, ApiError> {
    use crate::audit::query::{check_known, IdPage, DEFAULT_LIMIT, ID_PAGE_PARAMS};
    req.authorize(state, READ)?;
    check_known(&req.query, &[ID_PAGE_PARAMS])?;
    let page = IdPage::from_query(&req.query, DEFAULT_LIMIT)?;
    if state.store.screen(id)?.is_none() {
        return Err(ApiError::not_found("screen", id));
    }
    let mut p = state
        .store
        .status_history_page(id, page.after, page.limit)?;
    if p.next.is_none() {
        // The last page of a silent screen ends offline, as in `GET /api/v1/screens/{id}`.
        let (now, stale) = (jiff::Timestamp::now(), state.config.status_stale_after);
        p.rows
            .extend(state.store.silence_transition(id, now, stale)?);
    }
    Ok(json_reply(
        StatusCode::OK,
        &serde_json::json!({
            "history": p.rows,
            "next_cursor": p.next.map(|n| n.to_string()),
        }),
    ))
}

/// `POST /api/v1/screens/{id}/disable|enable` (admin). A disabled screen is refused by the
/// embedded broker (its live session evicted at once), skipped by publish, and its receipts
/// and status are refused by ingest.
pub async fn set_disabled(
    state: &AppState,
    req: Request,
    id: &str,
    disabled: bool,
) -> Result<Response, ApiError> {
    let who = req.authorize(state, ADMIN)?;
    let mut s = state
        .store
        .screen(id)?
        .ok_or_else(|| ApiError::not_found("screen", id))?;
    s.disabled = disabled;
    state.store.put_screen(&s).await?;
    if disabled {
        // After the store write: a reconnect racing with this is refused by the login check.
        if let Some(broker) = &state.broker {
            broker.evict_user(id);
        }
    }
    let action = if disabled {
        "screen.disable"
    } else {
        "screen.enable"
    };
    log_action(state, &who, action, serde_json::json!({"id": id}), vec![]).await?;
    Ok(json_reply(
        StatusCode::OK,
        &screen_json(state, &s, &AlertIndex::live(state, jiff::Timestamp::now())?)?,
    ))
}

/// `POST /api/v1/screens/{id}/enrollment-code` (admin): a fresh code, replacing any earlier
/// one (for a replaced or reinstalled device).
pub async fn new_code(state: &AppState, req: Request, id: &str) -> Result<Response, ApiError> {
    let who = req.authorize(state, ADMIN)?;
    if state.store.screen(id)?.is_none() {
        return Err(ApiError::not_found("screen", id));
    }
    let (code, rec) = make_code(state, id);
    state.store.put_enroll_code(&rec).await?;
    log_action(
        state,
        &who,
        "screen.enrollment_code",
        serde_json::json!({"id": id}),
        vec![],
    )
    .await?;
    Ok(json_reply(
        StatusCode::CREATED,
        &serde_json::json!({"id": id, "enrollment_code": code}),
    ))
}

/// `GET /api/v1/gates`: gates derived from the screens, each with its display name.
pub fn gates(state: &AppState, req: Request) -> Result<Response, ApiError> {
    req.authorize(state, READ)?;
    let mut gates: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for s in state.store.screens()? {
        gates.entry(s.gate).or_default().push(s.id);
    }
    let mut v = Vec::with_capacity(gates.len());
    for (gate, screens) in gates {
        let name = super::edits::gate_name(state, &gate)?;
        v.push(serde_json::json!({"gate": gate, "name": name, "screens": screens}));
    }
    Ok(json_reply(StatusCode::OK, &v))
}

#[derive(Deserialize)]
struct EnrollBody {
    screen: String,
    code: String,
    device_key: String,
}

/// `POST /api/v1/enroll` (no token: the single-use code is the credential). Records the
/// device key as a new enrolment epoch, drops the screen's MQTT sessions, and issues a fresh
/// MQTT password (the store keeps only hashes, so the password
/// from registration cannot be handed out again; enrolment rotates it).
pub async fn enroll(state: &AppState, mut req: Request) -> Result<Response, ApiError> {
    let b: EnrollBody = req.json().await?;
    if !playlists::manifest::is_valid_screen_id(&b.screen) {
        return Err(ApiError::field("screen", "is not a valid screen id"));
    }
    let device_key = playlists::keys::PublicKey::from_base64(&b.device_key)
        .map_err(|e| ApiError::field("device_key", e))?;
    let refused = || {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "enrollment_refused",
            "the enrolment code is wrong, expired or already used; ask an admin for a new one",
        )
    };
    let code = state.store.enroll_code(&b.screen)?.ok_or_else(refused)?;
    if !ct_eq(&sha256_hex(b.code.trim().as_bytes()), &code.code_hash)
        || jiff::Timestamp::now().as_second() > code.expires_at
    {
        return Err(refused());
    }
    let mut screen = state.store.screen(&b.screen)?.ok_or_else(refused)?;
    if screen.disabled {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "screen_disabled",
            "this screen is disabled; an admin must enable it first",
        ));
    }
    if !state.store.consume_enroll_code(&code).await? {
        return Err(refused());
    }
    let password = generate_mqtt_password();
    screen.mqtt_password_hash = hash_mqtt_password(&password);
    screen.mqtt_login_sha256 = Some(login_verifier(&password));
    // Each enrolment starts a new receipts chain (docs/protocol.md §7, §13).
    let epoch = screen.enrol(device_key.to_base64(), jiff::Timestamp::now().to_string());
    state.store.put_screen(&screen).await?;
    // The previous box's persistent session (subscriptions, queued acks of the old chain) must
    // not outlive its enrolment: the new box starts with a clean one and subscribes. After the
    // store write, so a reconnect racing with this already needs the new password.
    if let Some(broker) = &state.broker {
        broker.evict_user(&screen.id);
    }
    state
        .store
        .log_action(crate::store::ActionRecord {
            seq: 0,
            at: jiff::Timestamp::now().to_string(),
            actor: format!("screen:{}", screen.id),
            role: None,
            action: "screen.enroll".into(),
            detail: serde_json::json!({"id": screen.id, "device_key_id": device_key.key_id(), "epoch": epoch}),
            versions: vec![],
        })
        .await?;
    let pk = state.key.public();
    let mut answer = serde_json::json!({
        "broker": state.public.broker,
        "mqtt_username": screen.id,
        "mqtt_password": password,
        "controller_key": pk.to_base64(),
        "controller_key_id": pk.key_id(),
        "media_base": state.public.media_base,
        "screen": screen.id,
        "epoch": epoch,
        "gate": screen.gate,
        "policy": state.store.policy_chain()?,
    });
    // Only with the embedded broker's mqtts:// listener: the player pins its MQTT link to this
    // key when it enrolled over a checked TLS link (docs/protocol.md §7).
    if let Some(pin) = &state.public.tls_pin {
        answer["tls_pin_sha256"] = serde_json::Value::String((pin.0)());
    }
    Ok(json_reply(StatusCode::OK, &answer))
}
