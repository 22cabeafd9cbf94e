//! JSON errors: `{"error": "<code>", "message": "<sentence>"}` (+ `"field"` when one field is
//! at fault, `"reason"` saying what is wrong with it, and any names the error refers to, e.g.
//! `"id"`), with the right HTTP status. Every code and reason is listed in [`ERROR_CODES`]
//! (the console has a sentence for each; `docs/protocol.md` §17 lists them).

use warp::http::StatusCode;
use warp::reply::Response;
use warp::Reply as _;

use crate::blobs::BlobError;
use crate::store::StoreError;

/// Every `error` code and every `reason` the HTTP API answers with. The console
/// (`controller/console/i18n.js`, keys `err.<code>`) has a Vietnamese and an English sentence
/// for each; a test checks that, and debug builds check that no other code is sent.
pub const ERROR_CODES: &[&str] = &[
    // error codes
    "approval_refused",
    "bad_request",
    "body_error",
    "body_timeout",
    "busy",
    "cap_dtd_refused",
    "cap_expired",
    "cap_invalid",
    "cap_too_large",
    "code_required",
    "conflict",
    "csrf",
    "empty_body",
    "enrollment_refused",
    "forbidden",
    "id_exists",
    "internal",
    "invalid_content",
    "invalid_envelope",
    "invalid_field",
    "invalid_json",
    "media_type_mismatch",
    "method_not_allowed",
    "mqtt_unavailable",
    "no_policy",
    "no_screenshot",
    "not_approved",
    "not_found",
    "nothing_scheduled",
    "policy_refused",
    "preview_failed",
    "range_not_satisfiable",
    "screen_disabled",
    "screen_has_history",
    "screenshot_hash_mismatch",
    "screenshot_invalid",
    "screenshot_record_malformed",
    "screenshot_record_missing",
    "screenshot_signature",
    "screenshot_time",
    "screenshot_too_large",
    "screenshot_wrong_screen",
    "subtitle_empty",
    "subtitle_invalid",
    "subtitle_not_utf8",
    "subtitle_too_large",
    "too_large",
    "too_many_attempts",
    "unauthorized",
    "unsupported_media_type",
    // reasons of `invalid_field`
    "date_order",
    "invalid_date",
    "invalid_id",
    "invalid_language",
    "invalid_screen_id",
    "invalid_time",
    "invalid_timezone",
    "no_targets",
    "reserved_id",
    "required",
    "text_length",
    "time_order",
    "weak_password",
    "unknown_media",
    "unknown_playlist",
    "unknown_screen",
];

/// An error answer of the HTTP API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine-readable code, e.g. `invalid_field` (one of [`ERROR_CODES`]).
    pub code: &'static str,
    /// Human sentence saying what is wrong and what to do.
    pub message: String,
    /// The request field at fault, if any.
    pub field: Option<String>,
    /// What is wrong with the field (one of [`ERROR_CODES`]), e.g. `invalid_timezone`.
    pub reason: Option<&'static str>,
    /// Names the error refers to (`"id"`, `"value"`, …), sent as members of the answer.
    pub names: Vec<(&'static str, String)>,
}

impl ApiError {
    /// Any error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            reason: None,
            names: Vec::new(),
        }
    }

    /// 400: a field is invalid; the message names it.
    pub fn field(field: &str, message: impl std::fmt::Display) -> ApiError {
        let mut e = ApiError::bad_request("invalid_field", format!("field `{field}`: {message}"));
        e.field = Some(field.to_string());
        e
    }

    /// 400: a field is invalid for `reason` (one of [`ERROR_CODES`]), which the console puts
    /// in words.
    pub fn field_reason(
        field: &str,
        reason: &'static str,
        message: impl std::fmt::Display,
    ) -> ApiError {
        let mut e = ApiError::field(field, message);
        e.reason = Some(reason);
        e
    }

    /// Adds a name the error refers to (sent as `"key": value`).
    pub fn with(mut self, key: &'static str, value: impl Into<String>) -> ApiError {
        self.names.push((key, value.into()));
        self
    }

    /// 400: the request as a whole is malformed.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404.
    pub fn not_found(what: &str, id: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} {id:?} does not exist"),
        )
        .with("what", what)
        .with("id", id)
    }

    /// 409.
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 409 `id_exists`: creating `what` with an id that is taken; nothing was changed.
    pub fn id_exists(what: &str, id: &str) -> ApiError {
        let mut e = ApiError::new(
            StatusCode::CONFLICT,
            "id_exists",
            format!("{what} {id:?} already exists; choose another id, or edit the existing one"),
        )
        .with("what", what)
        .with("id", id);
        e.field = Some("id".into());
        e
    }

    /// 500; the details are logged, not sent.
    pub fn internal(context: &str, err: impl std::fmt::Display) -> ApiError {
        tracing::error!("{context}: {err}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("{context} failed; see the controller log"),
        )
    }

    /// The JSON response.
    pub fn into_response(self) -> Response {
        debug_assert!(
            ERROR_CODES.contains(&self.code),
            "error code {:?} is missing from ERROR_CODES",
            self.code
        );
        debug_assert!(
            self.reason.is_none_or(|r| ERROR_CODES.contains(&r)),
            "reason {:?} is missing from ERROR_CODES",
            self.reason
        );
        let mut body = serde_json::json!({"error": self.code, "message": self.message});
        for (k, v) in self.names {
            body[k] = serde_json::Value::String(v);
        }
        if let Some(f) = self.field {
            body["field"] = serde_json::Value::String(f);
        }
        if let Some(r) = self.reason {
            body["reason"] = serde_json::Value::String(r.to_string());
        }
        warp::reply::with_status(warp::reply::json(&body), self.status).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::Exists { what, id } => ApiError::id_exists(what, &id),
            e => ApiError::internal("database access", e),
        }
    }
}

impl From<BlobError> for ApiError {
    fn from(e: BlobError) -> ApiError {
        match &e {
            BlobError::TooLarge { .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.to_string())
            }
            BlobError::UnsupportedType(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                e.to_string(),
            ),
            BlobError::TypeMismatch { .. } => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "media_type_mismatch",
                e.to_string(),
            ),
            BlobError::Empty => ApiError::bad_request("empty_body", e.to_string()),
            BlobError::Body(_) => ApiError::bad_request("body_error", e.to_string()),
            BlobError::Io(_) => ApiError::internal("storing media", e),
        }
    }
}
