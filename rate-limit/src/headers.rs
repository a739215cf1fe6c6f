//! The rate-limit response fields and the problem document.
//!
//! Field syntax follows draft-ietf-httpapi-ratelimit-headers (RFC 9651
//! structured fields, serialized with `sfv`):
//!
//! | field | when | value |
//! |---|---|---|
//! | `RateLimit-Policy` | every limited response and every allowed one | `"<policy>";q=<quota>;w=<window seconds>` |
//! | `RateLimit` | every limited response and every allowed one | `"<policy>";r=<remaining>;t=<seconds>` |
//! | `Retry-After` | `429` and `503` | delay-seconds, rounded up, at least 1 |
//! | `X-RateLimit-Limit` | `header_style = legacy/both` | `max` |
//! | `X-RateLimit-Remaining` | `header_style = legacy/both` | same as `r` |
//! | `X-RateLimit-Reset` | `header_style = legacy/both` | same as `t` (seconds from now, not an epoch) |
//!
//! `t` on an allowed response is the time until the whole burst is
//! available again; on a `429` it equals `Retry-After`, the time until the
//! refused request would pass (`r` is then 0).
//!
//! `w` only takes whole seconds. A window that is a whole number of seconds
//! is sent as is (`q = max`, `w = window`); any other window is sent as the
//! equivalent rate over the window rounded up to whole seconds
//! (`window_ms = 500, max = 10` → `q=20;w=1`).

use bytes::Bytes;
use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderName, HeaderValue};
use sfv::{KeyRef, ListSerializer, StringRef};

use crate::config::HeaderStyle;
use crate::decision::Decision;
use crate::local::QuotaParams;

/// `RateLimit-Policy`.
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit`.
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
/// `X-RateLimit-Limit`.
pub const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
/// `X-RateLimit-Remaining`.
pub const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
/// `X-RateLimit-Reset`.
pub const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// The problem type of a `429` (draft-ietf-httpapi-ratelimit-headers).
pub const PROBLEM_QUOTA_EXCEEDED: &str =
    "https://iana.org/assignments/http-problem-types#quota-exceeded";
/// The problem type of a `503` when the backend fails closed.
pub const PROBLEM_REDUCED_CAPACITY: &str =
    "https://iana.org/assignments/http-problem-types#temporary-reduced-capacity";

const PROBLEM_JSON: HeaderValue = HeaderValue::from_static("application/problem+json");

/// The fields one layer writes, with what does not change precomputed.
#[derive(Debug, Clone)]
pub(crate) struct Fields {
    style: HeaderStyle,
    policy_name: String,
    policy: HeaderValue,
    limit: HeaderValue,
}

fn key(name: &str) -> &KeyRef {
    KeyRef::from_str(name).expect("a valid structured-field key")
}

impl Fields {
    /// `policy_name` must be a valid sf-string (checked by config validation).
    pub(crate) fn new(policy_name: &str, params: &QuotaParams, style: HeaderStyle) -> Self {
        let window_ms = params.window.as_millis().max(1);
        let (quota, window_s) = if window_ms.is_multiple_of(1000) {
            (u128::from(params.max), window_ms / 1000)
        } else {
            let window_s = window_ms.div_ceil(1000);
            (
                (u128::from(params.max) * window_s * 1000 / window_ms).max(1),
                window_s,
            )
        };
        let name =
            StringRef::from_str(policy_name).unwrap_or_else(|_| StringRef::constant("default"));
        let mut ser = ListSerializer::new();
        ser.bare_item(name)
            .parameter(key("q"), clamp_int(quota))
            .parameter(key("w"), clamp_int(window_s));
        let policy = ser.finish().unwrap_or_default();
        Fields {
            style,
            policy_name: name.as_str().to_owned(),
            policy: HeaderValue::from_str(&policy)
                .expect("structured fields are valid header values"),
            limit: HeaderValue::from(params.max),
        }
    }

    fn ratelimit(&self, remaining: u64, t: u64) -> HeaderValue {
        let name = StringRef::from_str(&self.policy_name)
            .unwrap_or_else(|_| StringRef::constant("default"));
        let mut ser = ListSerializer::new();
        ser.bare_item(name)
            .parameter(key("r"), clamp_int(u128::from(remaining)))
            .parameter(key("t"), clamp_int(u128::from(t)));
        let value = ser.finish().unwrap_or_default();
        HeaderValue::from_str(&value).expect("structured fields are valid header values")
    }

    fn write(&self, headers: &mut HeaderMap, remaining: u64, t: u64) {
        if self.style.ietf() {
            headers.insert(RATELIMIT_POLICY, self.policy.clone());
            headers.insert(RATELIMIT, self.ratelimit(remaining, t));
        }
        if self.style.legacy() {
            headers.insert(X_RATELIMIT_LIMIT, self.limit.clone());
            headers.insert(X_RATELIMIT_REMAINING, HeaderValue::from(remaining));
            headers.insert(X_RATELIMIT_RESET, HeaderValue::from(t));
        }
    }

    /// Adds `extra` (this layer's fields) to a response that may already
    /// carry fields of an inner layer (a route group's own quota): the
    /// structured fields become lists with one member per policy, inner
    /// first; legacy fields keep the inner, more specific values.
    pub(crate) fn merge(extra: HeaderMap, into: &mut HeaderMap) {
        for (name, value) in extra {
            let Some(name) = name else { continue };
            match into.get(&name) {
                None => {
                    into.insert(name, value);
                }
                Some(existing) if name == RATELIMIT || name == RATELIMIT_POLICY => {
                    let mut joined = existing.as_bytes().to_vec();
                    joined.extend_from_slice(b", ");
                    joined.extend_from_slice(value.as_bytes());
                    if let Ok(joined) = HeaderValue::from_bytes(&joined) {
                        into.insert(name, joined);
                    }
                }
                Some(_) => {}
            }
        }
    }

    /// The fields of an allowed response.
    pub(crate) fn allowed(&self, decision: &Decision) -> HeaderMap {
        let mut headers = HeaderMap::new();
        self.write(
            &mut headers,
            u64::from(decision.remaining),
            decision.reset_secs(),
        );
        headers
    }

    /// The fields and body of a `429`.
    pub(crate) fn limited(&self, decision: &Decision, headers: &mut HeaderMap) -> Bytes {
        let secs = decision.retry_after_secs();
        headers.insert(RETRY_AFTER, HeaderValue::from(secs));
        self.write(headers, 0, secs);
        headers.insert(CONTENT_TYPE, PROBLEM_JSON);
        problem(
            PROBLEM_QUOTA_EXCEEDED,
            "Too Many Requests",
            429,
            &format!(
                "The request quota of policy \"{}\" is exhausted; retry in {secs} second{}.",
                self.policy_name,
                if secs == 1 { "" } else { "s" }
            ),
            secs,
        )
    }

    /// The fields and body of a `503` when the backend fails closed.
    pub(crate) fn unavailable(&self, retry_after_secs: u64, headers: &mut HeaderMap) -> Bytes {
        let secs = retry_after_secs.max(1);
        headers.insert(RETRY_AFTER, HeaderValue::from(secs));
        headers.insert(CONTENT_TYPE, PROBLEM_JSON);
        problem(
            PROBLEM_REDUCED_CAPACITY,
            "Service Unavailable",
            503,
            "The rate limiter cannot reach its backend and refuses requests until it can.",
            secs,
        )
    }
}

fn clamp_int(v: u128) -> sfv::Integer {
    // Structured-field integers hold 15 digits.
    let max = 999_999_999_999_999u64;
    sfv::Integer::try_from(u64::try_from(v).unwrap_or(max).min(max)).unwrap_or(sfv::integer(0))
}

/// An RFC 9457 problem document.
fn problem(kind: &str, title: &str, status: u16, detail: &str, retry_after: u64) -> Bytes {
    let doc = serde_json::json!({
        "type": kind,
        "title": title,
        "status": status,
        "detail": detail,
        "retry_after": retry_after,
    });
    Bytes::from(serde_json::to_vec(&doc).unwrap_or_default())
}
