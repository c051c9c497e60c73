//! One error type for every HTTP answer that is not a success.
//!
//! A client's mistake goes back with its message and details; an internal
//! failure goes back as a generic 500 and is logged in full.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use epochd_store::{ManifestError, StoreError};
use serde_json::{json, Value};

/// An error answer: status, a short machine-readable code, a message a person
/// can act on, and optional details.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Option<Value>,
}

impl ApiError {
    /// A client error with `status`.
    pub fn client(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }

    /// An internal failure: logged in full, answered as a generic 500.
    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %e, "internal error answering a request");
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: "internal error; the node's log has the details".into(),
            details: None,
        }
    }

    /// Adds structured details (e.g. the refused events).
    pub fn with_details(mut self, details: Value) -> ApiError {
        self.details = Some(details);
        self
    }

    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Its machine-readable code and its message.
    pub fn code_and_message(&self) -> (&'static str, &str) {
        (self.code, &self.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        let message = e.to_string();
        match e {
            StoreError::BadBatch { rejections, total } => {
                let listed: Vec<Value> = rejections
                    .iter()
                    .map(|r| json!({"position": r.position, "reason": r.error.to_string()}))
                    .collect();
                ApiError::client(StatusCode::BAD_REQUEST, "bad_batch", message)
                    .with_details(json!({"refused": total, "rejections": listed}))
            }
            StoreError::BodyTooLarge { .. } => {
                ApiError::client(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", message)
            }
            StoreError::Overloaded { .. } => {
                ApiError::client(StatusCode::SERVICE_UNAVAILABLE, "overloaded", message)
            }
            StoreError::Name(_) => ApiError::client(StatusCode::BAD_REQUEST, "bad_name", message),
            StoreError::Manifest(m) => match *m {
                ManifestError::Conflict(_) => {
                    ApiError::client(StatusCode::CONFLICT, "manifest_conflict", message)
                }
                _ => ApiError::client(StatusCode::UNPROCESSABLE_ENTITY, "bad_manifest", message),
            },
            StoreError::ChunkConflict(_) => {
                ApiError::client(StatusCode::CONFLICT, "chunk_conflict", message)
            }
            StoreError::BadChunk { .. } => {
                ApiError::client(StatusCode::UNPROCESSABLE_ENTITY, "bad_chunk", message)
            }
            StoreError::CommitWaitTimeout(_) => {
                ApiError::client(StatusCode::ACCEPTED, "commit_pending", message)
            }
            StoreError::DiskFull { .. } => {
                ApiError::client(StatusCode::INSUFFICIENT_STORAGE, "disk_full", message)
            }
            StoreError::Unavailable { .. } => {
                ApiError::client(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
            }
            StoreError::Failed { .. } => {
                ApiError::client(StatusCode::SERVICE_UNAVAILABLE, "store_failed", message)
            }
            StoreError::DurabilityUnknown { .. } => ApiError::client(
                StatusCode::SERVICE_UNAVAILABLE,
                "durability_unknown",
                message,
            ),
            StoreError::Closed => {
                ApiError::client(StatusCode::SERVICE_UNAVAILABLE, "shutting_down", message)
            }
            StoreError::EpochOutOfBounds { .. } => {
                ApiError::client(StatusCode::BAD_REQUEST, "epoch_out_of_range", message)
            }
            StoreError::BadIdempotencyKey(_) => {
                ApiError::client(StatusCode::BAD_REQUEST, "bad_idempotency_key", message)
            }
            StoreError::IdempotencyKeyReused { .. } => ApiError::client(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                message,
            ),
            StoreError::IdempotencyKeyInFlight { .. } => {
                ApiError::client(StatusCode::CONFLICT, "idempotency_key_in_flight", message)
            }
            other => ApiError::internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"error": self.code, "message": self.message});
        if let Some(details) = self.details {
            body["details"] = details;
        }
        let mut response = (self.status, Json(body)).into_response();
        // A passing fault: tell well-behaved producers when to come back.
        let retry_after = match self.status {
            StatusCode::SERVICE_UNAVAILABLE => Some("1"),
            StatusCode::INSUFFICIENT_STORAGE => Some("5"),
            // The first request with the key is being stored: its answer
            // is due within moments.
            _ if self.code == "idempotency_key_in_flight" => Some("1"),
            _ => None,
        };
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static(secs));
        }
        response
    }
}

/// Runs blocking work (a database read) off the async threads; its
/// failure, or the task's, is an internal error (logged, not shown).
pub async fn read_blocking<T: Send + 'static, E: std::fmt::Display + Send + 'static>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
}
