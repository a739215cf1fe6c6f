//! `GET /v1/events` and `POST /v1/events`.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::Caller;
use crate::db::Event;
use crate::problem::{FieldError, Problem};

/// Longest accepted event type.
const MAX_TYPE_LEN: usize = 100;
/// Largest accepted payload, serialized.
const MAX_PAYLOAD_BYTES: usize = 16 * 1024;
/// Default and largest page size of `GET /v1/events`.
const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 500;

#[derive(Debug, Deserialize)]
pub(crate) struct ListParams {
    limit: Option<i64>,
}

/// The newest events, newest first (`?limit=` between 1 and 500, default 50).
pub(crate) async fn list(
    State(state): State<AppState>,
    Query(params): Query<ListParams>,
) -> Result<Json<Value>, Problem> {
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("limit must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let events = state
        .db
        .recent_events(limit)
        .await
        .map_err(|e| Problem::internal(&e))?;
    Ok(Json(json!({ "events": events })))
}

/// Stores an event `{"type": "signup", "payload": {...}}` for the
/// authenticated caller and answers 201 with it.
pub(crate) async fn create(
    State(state): State<AppState>,
    Caller(claims): Caller,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, Problem> {
    let Json(body) =
        body.map_err(|rejection| Problem::new(rejection.status(), rejection.body_text()))?;
    let (kind, payload) = validate(&body).map_err(Problem::invalid)?;
    let event = Event {
        id: uuid::Uuid::new_v4().to_string(),
        kind,
        payload,
        actor: claims.sub,
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    };
    state
        .db
        .insert_event(&event)
        .await
        .map_err(|e| Problem::internal(&e))?;
    tracing::info!(event.id = %event.id, event.type = %event.kind, "event stored");
    Ok((StatusCode::CREATED, Json(event)).into_response())
}

/// Checks the body; returns the type and the serialized payload, or every
/// problem found.
fn validate(body: &Value) -> Result<(String, String), Vec<FieldError>> {
    let mut errors = Vec::new();
    let Some(object) = body.as_object() else {
        return Err(vec![FieldError {
            pointer: String::new(),
            detail: "the body must be a JSON object".into(),
        }]);
    };
    let kind = match object.get("type") {
        Some(Value::String(kind)) => {
            let valid = !kind.is_empty()
                && kind.len() <= MAX_TYPE_LEN
                && kind
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            if !valid {
                errors.push(FieldError {
                    pointer: "/type".into(),
                    detail: format!("must be 1 to {MAX_TYPE_LEN} letters, digits, `.`, `_` or `-`"),
                });
            }
            kind.clone()
        }
        Some(_) => {
            errors.push(FieldError {
                pointer: "/type".into(),
                detail: "must be a string".into(),
            });
            String::new()
        }
        None => {
            errors.push(FieldError {
                pointer: "/type".into(),
                detail: "is required".into(),
            });
            String::new()
        }
    };
    let payload = match object.get("payload") {
        None => "{}".to_owned(),
        Some(value @ Value::Object(_)) => {
            let text = value.to_string();
            if text.len() > MAX_PAYLOAD_BYTES {
                errors.push(FieldError {
                    pointer: "/payload".into(),
                    detail: format!("must be at most {MAX_PAYLOAD_BYTES} bytes of JSON"),
                });
            }
            text
        }
        Some(_) => {
            errors.push(FieldError {
                pointer: "/payload".into(),
                detail: "must be a JSON object".into(),
            });
            String::new()
        }
    };
    for key in object.keys() {
        if key != "type" && key != "payload" {
            errors.push(FieldError {
                pointer: format!("/{key}"),
                detail: "unknown field (expected `type` and `payload`)".into(),
            });
        }
    }
    if errors.is_empty() {
        Ok((kind, payload))
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_event_passes() {
        let (kind, payload) =
            validate(&json!({"type": "user.signup", "payload": {"plan": "pro"}})).unwrap();
        assert_eq!(kind, "user.signup");
        assert_eq!(payload, r#"{"plan":"pro"}"#);
    }

    #[test]
    fn every_problem_is_reported() {
        let errors = validate(&json!({"type": "", "payload": [1], "extra": true})).unwrap_err();
        let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(pointers, ["/type", "/payload", "/extra"]);
    }
}
