//! The rate-limit response fields and the problem document.
//!
//! Field syntax follows draft-ietf-httpapi-ratelimit-headers (RFC 9651
//! structured fields; `RateLimit-Policy` is serialized with `sfv` once per
//! layer, `RateLimit` per response by a writer whose output is identical to
//! `sfv`'s, checked by a test):
//!
//! | field | when | value |
//! |---|---|---|
//! | `RateLimit-Policy` | every limited response and every allowed one | `"<policy>";q=<burst>;w=<seconds the burst takes to come back>` |
//! | `RateLimit` | every limited response and every allowed one | `"<policy>";r=<remaining>;t=<seconds>` |
//! | `Retry-After` | `429` and `503` | delay-seconds, rounded up, at least 1 |
//! | `X-RateLimit-Limit` | `header_style = legacy/both` | same as `q` |
//! | `X-RateLimit-Remaining` | `header_style = legacy/both` | same as `r` |
//! | `X-RateLimit-Reset` | `header_style = legacy/both` | same as `t` (seconds from now, not an epoch) |
//!
//! `t` on an allowed response is the time until the whole burst is
//! available again; on a `429` it equals `Retry-After`, the time until the
//! refused request would pass (`r` is then 0).
//!
//! `RateLimit-Policy` advertises what a client can actually do at once:
//! `q` is the burst (requests that pass back to back from a fresh state)
//! and `w` the time that burst takes to come back, `burst × window / max`,
//! rounded up to whole seconds (`w` takes no fractions). With the default
//! burst this is `q = max`, `w = window`; `max = 100, window_ms = 60000,
//! burst = 10` is `q=10;w=6`; `max = 10, window_ms = 500` is `q=10;w=1`.
//! Rounding `w` up only ever advertises a slightly lower rate, never more
//! requests at once than would pass (for a `max` that does not divide the
//! window, the interval is rounded up to the nanosecond so the limit is
//! never exceeded, and `w` is a second more: 7 per minute is `q=7;w=61`).
//! The draft's `pk` (partition key) is
//! not sent: for address keys it would echo the address the server sees,
//! for API keys a digest the client can compute itself, and it would cost
//! a serialization on every allowed response.

use bytes::Bytes;
use http::header::Entry;
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

/// Every header the layer may set on a response (with either
/// [`HeaderStyle`]): what a CORS layer lists in `expose_headers` so browser
/// clients can read their quota.
pub const RESPONSE_HEADERS: [HeaderName; 6] = [
    RATELIMIT,
    RATELIMIT_POLICY,
    X_RATELIMIT_LIMIT,
    X_RATELIMIT_REMAINING,
    X_RATELIMIT_RESET,
    RETRY_AFTER,
];

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
    /// `RateLimit-Policy`, the same on every response of the layer.
    policy: HeaderValue,
    /// The serialized policy name (an sf-string, quoted and escaped) that
    /// starts every `RateLimit` value.
    name_item: String,
    limit: HeaderValue,
}

/// The fields added to an allowed response, merged into it by
/// [`AllowedFields::merge_into`].
#[derive(Debug)]
pub(crate) struct AllowedFields {
    /// `RateLimit-Policy` and `RateLimit`.
    ietf: Option<(HeaderValue, HeaderValue)>,
    /// `X-RateLimit-Limit`, `-Remaining` and `-Reset`.
    legacy: Option<[HeaderValue; 3]>,
}

fn key(name: &str) -> &KeyRef {
    KeyRef::from_str(name).expect("a valid structured-field key")
}

/// Structured-field integers hold at most 15 digits.
const SF_INTEGER_MAX: u64 = 999_999_999_999_999;

impl Fields {
    /// `policy_name` must be a valid sf-string (checked by config validation).
    pub(crate) fn new(policy_name: &str, params: &QuotaParams, style: HeaderStyle) -> Self {
        let (quota, window_s) = advertised(params);
        let name =
            StringRef::from_str(policy_name).unwrap_or_else(|_| StringRef::constant("default"));
        let mut ser = ListSerializer::new();
        ser.bare_item(name)
            .parameter(key("q"), clamp_int(quota))
            .parameter(key("w"), clamp_int(window_s));
        let policy = ser.finish().unwrap_or_default();
        let mut ser = ListSerializer::new();
        ser.bare_item(name);
        let name_item = ser.finish().unwrap_or_default();
        Fields {
            style,
            policy_name: name.as_str().to_owned(),
            policy: HeaderValue::from_str(&policy)
                .expect("structured fields are valid header values"),
            name_item,
            limit: HeaderValue::from(params.burst),
        }
    }

    /// The `RateLimit` value: `"<policy>";r=<remaining>;t=<seconds>`,
    /// byte for byte what `sfv` serializes, written without it.
    fn ratelimit(&self, remaining: u64, t: u64) -> HeaderValue {
        let mut r_digits = itoa::Buffer::new();
        let mut t_digits = itoa::Buffer::new();
        let parts: [&[u8]; 5] = [
            self.name_item.as_bytes(),
            b";r=",
            r_digits.format(remaining.min(SF_INTEGER_MAX)).as_bytes(),
            b";t=",
            t_digits.format(t.min(SF_INTEGER_MAX)).as_bytes(),
        ];
        // Exactly sized: `Bytes` then takes the buffer over without a
        // second allocation.
        let mut out = Vec::with_capacity(parts.iter().map(|part| part.len()).sum());
        for part in parts {
            out.extend_from_slice(part);
        }
        HeaderValue::from_maybe_shared(Bytes::from(out))
            .expect("structured fields are valid header values")
    }

    fn fields(&self, remaining: u64, t: u64) -> AllowedFields {
        AllowedFields {
            ietf: self
                .style
                .ietf()
                .then(|| (self.policy.clone(), self.ratelimit(remaining, t))),
            legacy: self.style.legacy().then(|| {
                [
                    self.limit.clone(),
                    HeaderValue::from(remaining),
                    HeaderValue::from(t),
                ]
            }),
        }
    }

    fn write(&self, headers: &mut HeaderMap, remaining: u64, t: u64) {
        let fields = self.fields(remaining, t);
        if let Some((policy, ratelimit)) = fields.ietf {
            headers.insert(RATELIMIT_POLICY, policy);
            headers.insert(RATELIMIT, ratelimit);
        }
        if let Some([limit, remaining, reset]) = fields.legacy {
            headers.insert(X_RATELIMIT_LIMIT, limit);
            headers.insert(X_RATELIMIT_REMAINING, remaining);
            headers.insert(X_RATELIMIT_RESET, reset);
        }
    }

    /// The fields of an allowed response.
    pub(crate) fn allowed(&self, decision: &Decision) -> AllowedFields {
        self.fields(u64::from(decision.remaining), decision.reset_secs())
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

/// What `RateLimit-Policy` advertises: `q` = the burst, the requests a
/// client can actually send at once, and `w` = the time the burst takes to
/// come back (`burst × window / max`), rounded up to whole seconds. With
/// the default burst (`max`) that is exactly `max` per window; a smaller or
/// larger burst, or a sub-second window, is advertised as the same or a
/// slightly lower rate, never as more at once than would pass.
fn advertised(params: &QuotaParams) -> (u128, u128) {
    let burst = u128::from(params.burst.max(1));
    // The limiter's own interval (window / max rounded up to the
    // nanosecond), so `w` is when the burst is really back.
    let back_ns = burst * params.interval.as_nanos().max(1);
    let window_s = back_ns.div_ceil(1_000_000_000).max(1);
    (burst, window_s)
}

fn clamp_int(v: u128) -> sfv::Integer {
    sfv::Integer::try_from(
        u64::try_from(v)
            .unwrap_or(SF_INTEGER_MAX)
            .min(SF_INTEGER_MAX),
    )
    .unwrap_or(sfv::integer(0))
}

impl AllowedFields {
    /// Adds these fields (this layer's) to a response that may already
    /// carry fields of an inner layer (a route group's own quota): the
    /// structured fields become lists with one member per policy, inner
    /// first; legacy fields keep the inner, more specific values.
    pub(crate) fn merge_into(self, into: &mut HeaderMap) {
        if let Some((policy, ratelimit)) = self.ietf {
            join(into, RATELIMIT_POLICY, policy);
            join(into, RATELIMIT, ratelimit);
        }
        if let Some([limit, remaining, reset]) = self.legacy {
            for (name, value) in [
                (X_RATELIMIT_LIMIT, limit),
                (X_RATELIMIT_REMAINING, remaining),
                (X_RATELIMIT_RESET, reset),
            ] {
                if let Entry::Vacant(entry) = into.entry(name) {
                    entry.insert(value);
                }
            }
        }
    }
}

/// Sets `name` to `value`, or appends `value` as one more list member when
/// the response has the field already.
fn join(into: &mut HeaderMap, name: HeaderName, value: HeaderValue) {
    match into.entry(name) {
        Entry::Vacant(entry) => {
            entry.insert(value);
        }
        Entry::Occupied(mut entry) => {
            let existing = entry.get().as_bytes();
            let mut joined = Vec::with_capacity(existing.len() + 2 + value.len());
            joined.extend_from_slice(existing);
            joined.extend_from_slice(b", ");
            joined.extend_from_slice(value.as_bytes());
            if let Ok(joined) = HeaderValue::from_maybe_shared(Bytes::from(joined)) {
                entry.insert(joined);
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// What `sfv` serializes for the `RateLimit` field.
    fn sfv_ratelimit(name: &str, remaining: u64, t: u64) -> String {
        let mut ser = ListSerializer::new();
        ser.bare_item(StringRef::from_str(name).unwrap())
            .parameter(key("r"), clamp_int(u128::from(remaining)))
            .parameter(key("t"), clamp_int(u128::from(t)));
        ser.finish().unwrap()
    }

    #[test]
    fn the_ratelimit_field_is_written_exactly_as_sfv_serializes_it() {
        let params = QuotaParams::new(100, Duration::from_secs(60), 100);
        let numbers = [
            0u64,
            1,
            9,
            10,
            99,
            100,
            12_345,
            u64::from(u32::MAX),
            SF_INTEGER_MAX - 1,
            SF_INTEGER_MAX,
            SF_INTEGER_MAX + 1,
            u64::MAX,
        ];
        for name in [
            "default",
            "api",
            "",
            "a b",
            "quote\"d",
            "back\\slash",
            "~!#$%&'()*+,-./:;<=>?@[]^_`{|}",
        ] {
            let fields = Fields::new(name, &params, HeaderStyle::Ietf);
            for &remaining in &numbers {
                for &t in &numbers {
                    assert_eq!(
                        fields.ratelimit(remaining, t).to_str().unwrap(),
                        sfv_ratelimit(name, remaining, t),
                        "policy {name:?}, r={remaining}, t={t}"
                    );
                }
            }
        }
    }

    #[test]
    fn merging_joins_structured_fields_and_keeps_inner_legacy_ones() {
        let params = QuotaParams::new(10, Duration::from_secs(1), 10);
        let outer = Fields::new("outer", &params, HeaderStyle::Both);
        let mut response = HeaderMap::new();
        response.insert(RATELIMIT, HeaderValue::from_static("\"inner\";r=1;t=2"));
        response.insert(X_RATELIMIT_REMAINING, HeaderValue::from_static("1"));
        outer.fields(7, 3).merge_into(&mut response);
        assert_eq!(response[RATELIMIT], "\"inner\";r=1;t=2, \"outer\";r=7;t=3");
        assert_eq!(response[RATELIMIT_POLICY], "\"outer\";q=10;w=1");
        assert_eq!(response[X_RATELIMIT_REMAINING], "1");
        assert_eq!(response[X_RATELIMIT_LIMIT], "10");
        assert_eq!(response[X_RATELIMIT_RESET], "3");
    }
}
