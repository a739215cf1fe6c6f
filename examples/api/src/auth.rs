//! Bearer authentication: an HS256 JWT signed with `JWT_SECRET`, verified
//! with every key of its ring (`JWT_SECRET` and `JWT_SECRET_PREVIOUS`), so a
//! rotated key logs no one out while the old one is still listed.

use appenv_config::KeyRing;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::problem::Problem;

/// The claims example-api reads: the subject (recorded as the event's
/// actor) and the expiry (required).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Claims {
    pub(crate) sub: String,
    pub(crate) exp: u64,
}

/// The verification keys: the ring of `JWT_SECRET`, re-read while the
/// service runs when it comes from `JWT_SECRET_FILE` (and the previous keys
/// from `JWT_SECRET_PREVIOUS_FILE`). `None` when no secret is configured
/// (allowed in local, refused by policy in production): then every bearer
/// token is refused.
#[derive(Clone)]
pub(crate) struct JwtKey(Option<KeyRing>);

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "JwtKey([REDACTED])"
        } else {
            "JwtKey(None)"
        })
    }
}

impl JwtKey {
    pub(crate) fn new(ring: Option<KeyRing>) -> JwtKey {
        JwtKey(ring)
    }

    /// The claims of `token` when any key of the ring verifies it: the
    /// current key first, then the previous ones.
    fn verify(ring: &KeyRing, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        let validation = Validation::new(Algorithm::HS256);
        let mut last = None;
        for key in ring.keys() {
            let key = DecodingKey::from_secret(key.expose().as_bytes());
            match decode::<Claims>(token, &key, &validation) {
                Ok(data) => return Ok(data.claims),
                // Another key may have signed it; expiry and shape errors
                // are the same whichever key is tried.
                Err(err) => last = Some(err),
            }
        }
        Err(last.unwrap_or_else(|| jsonwebtoken::errors::ErrorKind::InvalidSignature.into()))
    }
}

/// An authenticated caller: extracting it answers 401 (problem+json with a
/// `WWW-Authenticate` challenge) unless the request carries a valid token.
#[derive(Debug)]
pub(crate) struct Caller(pub(crate) Claims);

/// Why authentication failed.
#[derive(Debug)]
pub(crate) struct Unauthorized(&'static str);

impl IntoResponse for Unauthorized {
    fn into_response(self) -> Response {
        let mut response = Problem::new(StatusCode::UNAUTHORIZED, self.0).into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        response
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Unauthorized;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(ring) = &state.jwt.0 else {
            return Err(Unauthorized(
                "the server has no JWT_SECRET: bearer tokens cannot be verified",
            ));
        };
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .ok_or(Unauthorized("send Authorization: Bearer <JWT>"))?;
        match JwtKey::verify(ring, token.trim()) {
            Ok(claims) => Ok(Caller(claims)),
            Err(err) => {
                // The token itself is never logged.
                tracing::debug!(reason = %err, "bearer token refused");
                Err(Unauthorized("the bearer token is invalid or expired"))
            }
        }
    }
}
