//! RFC 9457 `application/problem+json` error responses.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A problem document. `type` is left at its default (`about:blank`), so
/// `title` is the status phrase.
#[derive(Debug, Serialize)]
pub(crate) struct Problem {
    #[serde(skip)]
    status: StatusCode,
    title: &'static str,
    #[serde(rename = "status")]
    code: u16,
    detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<FieldError>,
}

/// One invalid field of a request body.
#[derive(Debug, Serialize)]
pub(crate) struct FieldError {
    /// JSON pointer to the field (`/type`).
    pub(crate) pointer: String,
    /// What is wrong with it.
    pub(crate) detail: String,
}

impl Problem {
    pub(crate) fn new(status: StatusCode, detail: impl Into<String>) -> Problem {
        Problem {
            status,
            title: status.canonical_reason().unwrap_or("Error"),
            code: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    pub(crate) fn invalid(errors: Vec<FieldError>) -> Problem {
        Problem {
            errors,
            ..Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "the request body is not a valid event",
            )
        }
    }

    /// A 500 that logs the cause and tells the client nothing about it.
    pub(crate) fn internal(err: &dyn std::error::Error) -> Problem {
        tracing::error!(error = %err, "request failed");
        Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status;
        let mut response = (status, Json(self)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}
