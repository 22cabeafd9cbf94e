//! JSON errors: `{"error": "<code>", "message": "<sentence>"}` (+ `"field"` when one field is
//! at fault), with the right HTTP status.

use warp::http::StatusCode;
use warp::reply::Response;
use warp::Reply as _;

use crate::blobs::BlobError;
use crate::store::StoreError;

/// An error answer of the HTTP API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine-readable code, e.g. `invalid_field`.
    pub code: &'static str,
    /// Human sentence saying what is wrong and what to do.
    pub message: String,
    /// The request field at fault, if any.
    pub field: Option<String>,
}

impl ApiError {
    /// Any error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    /// 400: a field is invalid; the message names it.
    pub fn field(field: &str, message: impl std::fmt::Display) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_field",
            message: format!("field `{field}`: {message}"),
            field: Some(field.to_string()),
        }
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
    }

    /// 409.
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
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
        let mut body = serde_json::json!({"error": self.code, "message": self.message});
        if let Some(f) = self.field {
            body["field"] = serde_json::Value::String(f);
        }
        warp::reply::with_status(warp::reply::json(&body), self.status).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::Exists { what, id } => {
                ApiError::conflict(format!("{what} {id:?} already exists"))
            }
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
