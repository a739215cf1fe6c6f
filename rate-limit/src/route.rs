//! Per-route quotas: a route pattern and the quota its requests are
//! counted against instead of the layer's own.
//!
//! # Matching
//!
//! A pattern is an optional method and a path: `/v1/search`,
//! `POST /v1/login`, `/v1/users/{id}/export`. It is matched against the
//! request path (the URI the layer sees, so it works wherever the layer is
//! placed, with or without axum's routing, and before any handler runs),
//! segment by segment, as a prefix:
//!
//! - a literal segment matches itself only (`/v1/search` matches
//!   `/v1/search` and `/v1/search/saved`, not `/v1/searches`);
//! - `{name}`, `:name` or `*` matches any one segment;
//! - empty segments and a trailing slash are ignored;
//! - with a method, only requests of that method match.
//!
//! When several patterns match, the most specific wins: more segments, then
//! more literal segments, then the one naming a method. Requests matching
//! no pattern count against the layer's own quota. A matched request is
//! counted against its route's quota *only*, with the layer's key,
//! allow-list, backend and header style; its `RateLimit` fields name the
//! route's policy (by default the pattern itself).
//!
//! Patterns are matched on the path rather than on axum's `MatchedPath`
//! because the layer usually wraps a whole router (where no route has
//! matched yet) and because the same configuration then works for tonic
//! and plain tower services.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use http::Method;
use serde::{Deserialize, Deserializer, Serialize};

/// The quota of one route (`[rate_limit.routes]`).
///
/// ```toml
/// [rate_limit.routes]
/// "/v1/search" = { max = 10, window_ms = 60000 }
/// "POST /v1/login" = { max = 5, window_ms = 60000, burst = 2, policy = "login" }
/// ```
///
/// Or in one variable, `pattern=max/window[/burst]` separated by commas,
/// the window in milliseconds or with a unit (`ms`, `s`, `m`, `h`):
/// `RATE_LIMIT_ROUTES="/v1/search=10/60s, POST /v1/login=5/1m/2"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RouteQuota {
    /// Requests allowed per window.
    pub max: u32,
    /// The quota window in milliseconds.
    pub window_ms: u64,
    /// Requests allowed at once; `0` (the default) means `max`.
    #[serde(default)]
    pub burst: u32,
    /// The policy name in `RateLimit`/`RateLimit-Policy` and Redis keys;
    /// empty (the default) means the pattern.
    #[serde(default)]
    pub policy: String,
}

impl RouteQuota {
    /// `max` requests per `window_ms`, burst `max`, the pattern as policy.
    pub fn new(max: u32, window_ms: u64) -> Self {
        RouteQuota {
            max,
            window_ms,
            burst: 0,
            policy: String::new(),
        }
    }

    /// The same quota with `burst` requests at once.
    #[must_use]
    pub fn with_burst(mut self, burst: u32) -> Self {
        self.burst = burst;
        self
    }

    /// The same quota under the policy name `policy`.
    #[must_use]
    pub fn with_policy(mut self, policy: impl Into<String>) -> Self {
        self.policy = policy.into();
        self
    }
}

/// `10/60s`, `5/60000/2`.
fn parse_quota(s: &str) -> Result<RouteQuota, String> {
    let mut parts = s.split('/').map(str::trim);
    let (Some(max), Some(window)) = (parts.next(), parts.next()) else {
        return Err(format!(
            "`{s}` is not a quota; expected max/window[/burst], e.g. 10/60s"
        ));
    };
    let max = max
        .parse::<u32>()
        .map_err(|_| format!("`{max}` is not a number of requests"))?;
    let window_ms = parse_window(window)?;
    let burst = match parts.next() {
        Some(burst) => burst
            .parse::<u32>()
            .map_err(|_| format!("`{burst}` is not a burst size"))?,
        None => 0,
    };
    if let Some(extra) = parts.next() {
        return Err(format!("unexpected `/{extra}` after the burst"));
    }
    Ok(RouteQuota::new(max, window_ms).with_burst(burst))
}

fn parse_window(s: &str) -> Result<u64, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{s}` is not a window (60000, 500ms, 60s, 1m, 1h)"))?;
    let scale = match unit.trim() {
        "" | "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return Err(format!("`{s}` is not a window (60000, 500ms, 60s, 1m, 1h)")),
    };
    n.checked_mul(scale)
        .ok_or_else(|| format!("`{s}` is too long a window"))
}

/// Serde helper for `routes`: a table of pattern → quota, or one string
/// `pattern=max/window[/burst], …` (the form an environment variable
/// takes).
pub(crate) fn deserialize_routes<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, RouteQuota>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum TableOrString {
        Table(BTreeMap<String, RouteQuota>),
        String(String),
    }
    match TableOrString::deserialize(deserializer)? {
        TableOrString::Table(table) => Ok(table),
        TableOrString::String(s) => {
            let mut out = BTreeMap::new();
            for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                let Some((pattern, quota)) = item.rsplit_once('=') else {
                    return Err(serde::de::Error::custom(format!(
                        "`{item}` is not a route quota; expected pattern=max/window, e.g. /v1/search=10/60s"
                    )));
                };
                let quota = parse_quota(quota).map_err(|message| {
                    serde::de::Error::custom(format!("route `{}`: {message}", pattern.trim()))
                })?;
                out.insert(pattern.trim().to_owned(), quota);
            }
            Ok(out)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Any,
}

/// A parsed route pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RoutePattern {
    method: Option<Method>,
    segments: Vec<Segment>,
}

impl fmt::Display for RoutePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(method) = &self.method {
            write!(f, "{method} ")?;
        }
        if self.segments.is_empty() {
            return f.write_str("/");
        }
        for segment in &self.segments {
            match segment {
                Segment::Literal(s) => write!(f, "/{s}")?,
                Segment::Any => f.write_str("/*")?,
            }
        }
        Ok(())
    }
}

impl FromStr for RoutePattern {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (method, path) = match s.split_once(char::is_whitespace) {
            Some((method, path)) => {
                let method = Method::from_str(method)
                    .ok()
                    .filter(|m| m.as_str().bytes().all(|b| b.is_ascii_uppercase()))
                    .ok_or_else(|| {
                        format!("`{method}` is not an HTTP method (write it in capitals: POST)")
                    })?;
                (Some(method), path.trim())
            }
            None => (None, s),
        };
        if !path.starts_with('/') {
            return Err("a route pattern is a path starting with `/` (`/v1/search`), optionally after a method (`POST /v1/login`)".to_owned());
        }
        if path.contains(|c: char| c.is_whitespace() || c == '?' || c == '#') {
            return Err("a route pattern is a path only: no spaces, query or fragment".to_owned());
        }
        let segments = path
            .split('/')
            .filter(|segment| !segment.is_empty())
            .map(|segment| {
                let any = segment == "*"
                    || segment.starts_with(':')
                    || (segment.starts_with('{') && segment.ends_with('}'));
                if any {
                    Segment::Any
                } else {
                    Segment::Literal(segment.to_owned())
                }
            })
            .collect();
        Ok(RoutePattern { method, segments })
    }
}

impl RoutePattern {
    /// Whether a request of `method` to `path` falls under this pattern. A
    /// `GET` pattern also covers `HEAD`: routers (axum's `get`) answer HEAD
    /// with the GET handler, so HEAD must not escape the GET quota.
    pub(crate) fn matches(&self, method: &Method, path: &str) -> bool {
        if let Some(m) = &self.method
            && m != method
            && !(m == Method::GET && method == Method::HEAD)
        {
            return false;
        }
        let mut parts = path.split('/').filter(|part| !part.is_empty());
        self.segments.iter().all(|segment| match parts.next() {
            None => false,
            Some(part) => match segment {
                Segment::Any => true,
                Segment::Literal(literal) => literal == part,
            },
        })
    }

    /// Higher is more specific.
    pub(crate) fn specificity(&self) -> (usize, usize, bool) {
        let literals = self
            .segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count();
        (self.segments.len(), literals, self.method.is_some())
    }
}

/// What is wrong with the routes, keyed like the configuration.
pub(crate) fn problems(
    routes: &BTreeMap<String, RouteQuota>,
    layer_policy: &str,
) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let mut seen: Vec<RoutePattern> = Vec::new();
    // Route state is stored under the policy name (Redis keys included), so
    // two routes under one name would share one quota, and a route named
    // like the layer's own policy would share the layer's.
    let mut policies: BTreeMap<&str, &str> = BTreeMap::new();
    for (pattern, quota) in routes {
        match pattern.parse::<RoutePattern>() {
            Err(message) => out.push(("routes", format!("`{pattern}`: {message}"))),
            Ok(parsed) => {
                if seen.contains(&parsed) {
                    out.push((
                        "routes",
                        format!("`{pattern}` is the same route as another pattern ({parsed})"),
                    ));
                }
                seen.push(parsed);
            }
        }
        if quota.max == 0 {
            out.push((
                "routes",
                format!("`{pattern}`: max must be at least 1 request per window"),
            ));
        }
        if quota.window_ms == 0 {
            out.push((
                "routes",
                format!("`{pattern}`: window_ms must be at least 1 millisecond"),
            ));
        }
        if quota.max > 0 && u64::from(quota.burst) > u64::from(quota.max) * 10 {
            out.push((
                "routes",
                format!(
                    "`{pattern}`: burst {} is more than 10 times max ({}); a burst that large defeats the limit",
                    quota.burst, quota.max
                ),
            ));
        }
        let policy = route_policy(pattern, quota);
        if policy.is_empty() || sfv::StringRef::from_str(policy).is_err() {
            out.push((
                "routes",
                format!("`{pattern}`: the policy name must be printable ASCII"),
            ));
        }
        if policy == layer_policy {
            out.push((
                "routes",
                format!(
                    "`{pattern}` has the layer's own policy name `{policy}`: with the Redis backend the route and every other path would share one quota (one Redis key per client), and clients would see two `RateLimit-Policy` entries of one name; give the route its own `policy`"
                ),
            ));
        }
        if let Some(other) = policies.insert(policy, pattern) {
            out.push((
                "routes",
                format!(
                    "`{pattern}` and `{other}` have the same policy name `{policy}`, so they would share one quota (and one Redis key per client); give each route its own `policy`"
                ),
            ));
        }
    }
    out
}

/// The policy name of a route: its own, or the pattern.
pub(crate) fn route_policy<'a>(pattern: &'a str, quota: &'a RouteQuota) -> &'a str {
    if quota.policy.is_empty() {
        pattern.trim()
    } else {
        &quota.policy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(s: &str) -> RoutePattern {
        s.parse().unwrap()
    }

    #[test]
    fn patterns_match_by_segment_prefix() {
        let search = pattern("/v1/search");
        assert!(search.matches(&Method::GET, "/v1/search"));
        assert!(search.matches(&Method::GET, "/v1/search/"));
        assert!(search.matches(&Method::GET, "/v1/search/saved"));
        assert!(search.matches(&Method::GET, "//v1//search"));
        assert!(!search.matches(&Method::GET, "/v1/searches"));
        assert!(!search.matches(&Method::GET, "/v1"));
        let export = pattern("/v1/users/{id}/export");
        assert!(export.matches(&Method::GET, "/v1/users/42/export"));
        assert!(!export.matches(&Method::GET, "/v1/users/42"));
        assert_eq!(pattern("/v1/users/:id/export"), export);
        let login = pattern("POST /v1/login");
        assert!(login.matches(&Method::POST, "/v1/login"));
        assert!(!login.matches(&Method::GET, "/v1/login"));
        // HEAD is answered by GET handlers, so it counts against GET quotas.
        let export_get = pattern("GET /v1/export");
        assert!(export_get.matches(&Method::HEAD, "/v1/export"));
        assert!(!export_get.matches(&Method::POST, "/v1/export"));
        assert!(!login.matches(&Method::HEAD, "/v1/login"));
        assert!(pattern("/").matches(&Method::GET, "/anything"));
        assert!(
            pattern("/v1/users/*/export").specificity()
                < pattern("/v1/users/me/export").specificity()
        );
        assert!(pattern("/v1/login").specificity() < login.specificity());
    }

    #[test]
    fn bad_patterns_and_quotas_are_problems() {
        for bad in ["v1/search", "post /v1/login", "/v1/search?q=1", "GET"] {
            assert!(bad.parse::<RoutePattern>().is_err(), "{bad}");
        }
        let mut routes = BTreeMap::new();
        routes.insert("/v1/a".to_owned(), RouteQuota::new(0, 1000));
        routes.insert("/v1/b".to_owned(), RouteQuota::new(1, 0));
        routes.insert("/v1/c".to_owned(), RouteQuota::new(1, 1000).with_burst(11));
        routes.insert("/v1/d/".to_owned(), RouteQuota::new(1, 1000));
        routes.insert("/v1/d".to_owned(), RouteQuota::new(1, 1000));
        routes.insert(
            "/v1/e".to_owned(),
            RouteQuota::new(1, 1000).with_policy("é"),
        );
        routes.insert(
            "/v1/f".to_owned(),
            RouteQuota::new(1, 1000).with_policy("shared"),
        );
        routes.insert(
            "/v1/g".to_owned(),
            RouteQuota::new(1, 1000).with_policy("shared"),
        );
        routes.insert(
            "/v1/h".to_owned(),
            RouteQuota::new(1, 1000).with_policy("default"),
        );
        let found = problems(&routes, "default");
        assert_eq!(found.len(), 7, "{found:?}");
        assert!(
            found
                .iter()
                .any(|(_, m)| m.contains("`/v1/h` has the layer's own policy name `default`")),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|(_, m)| m.contains("`/v1/g` and `/v1/f` have the same policy name `shared`")),
            "{found:?}"
        );
        assert!(found.iter().all(|(key, _)| *key == "routes"));
    }

    #[test]
    fn the_string_form_parses() {
        let routes = deserialize_routes(serde_json::json!(
            "/v1/search=10/60s, POST /v1/login=5/1m/2,/v1/x=3/500"
        ))
        .unwrap();
        assert_eq!(routes["/v1/search"], RouteQuota::new(10, 60_000));
        assert_eq!(
            routes["POST /v1/login"],
            RouteQuota::new(5, 60_000).with_burst(2)
        );
        assert_eq!(routes["/v1/x"], RouteQuota::new(3, 500));
        for bad in [
            "/v1/search",
            "/v1/search=10",
            "/v1/search=ten/60s",
            "/v1/s=1/60y",
        ] {
            let err = deserialize_routes(serde_json::json!(bad)).unwrap_err();
            assert!(!err.to_string().is_empty());
        }
    }
}
