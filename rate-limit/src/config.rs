//! [`RateLimitConfig`]: the `rate_limit` configuration section, its
//! per-environment defaults, validation and policy rules.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use appenv_config::{Check, SecretUrl};
use http::HeaderName;
use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;
use crate::route::RouteQuota;

/// The default deadline of one Redis decision's round trip
/// (`redis_timeout_ms`); see the crate docs for how it was sized.
pub const DEFAULT_REDIS_TIMEOUT_MS: u64 = 1_000;

/// The default deadline for connecting to Redis
/// (`redis_connect_timeout_ms`).
pub const DEFAULT_REDIS_CONNECT_TIMEOUT_MS: u64 = 2_000;

/// The rate-limit section, registered by services at the key `rate_limit`.
///
/// | key | variable | local | staging | production |
/// |---|---|---|---|---|
/// | `enabled` | `DISABLE_RATE_LIMITING` (inverted), `RATE_LIMIT_ENABLED` | off | on | on |
/// | `window_ms` | `RATE_LIMIT_WINDOW_MS` | 60000 | 60000 | 60000 |
/// | `max` | `RATE_LIMIT_MAX` | 100 | 100 | 100 |
/// | `burst` | `RATE_LIMIT_BURST` | 0 (= `max`) | 0 | 0 |
/// | `key` | `RATE_LIMIT_KEY` (`ip`, `global`, `header:<name>`, or parts joined by `+`: `ip+header:x-tenant`) | `ip` | `ip` | `ip` |
/// | `allow` | `RATE_LIMIT_ALLOW` (comma-separated: CIDRs, `key:<value>`, `hdr:`/`id:` digests) | empty | empty | empty |
/// | `routes` | `RATE_LIMIT_ROUTES` (`pattern=max/window[/burst]`, comma-separated) or `[rate_limit.routes]` | empty | empty | empty |
/// | `trusted_proxies` | `RATE_LIMIT_TRUSTED_PROXIES` | moved: must stay empty | | |
/// | `backend` | `RATE_LIMIT_BACKEND` | `memory` | `memory` | `memory` |
/// | `redis_url` | `RATE_LIMIT_REDIS_URL` (`redis://`, `rediss://`; several comma-separated node URLs: a Redis Cluster) | empty | empty | empty |
/// | `redis_ca_file` | `RATE_LIMIT_REDIS_CA_FILE` (PEM; trusted instead of the system roots for `rediss://`) | empty | empty | empty |
/// | `redis_timeout_ms` | `RATE_LIMIT_REDIS_TIMEOUT_MS` | 1000 | 1000 | 1000 |
/// | `redis_connect_timeout_ms` | `RATE_LIMIT_REDIS_CONNECT_TIMEOUT_MS` | 2000 | 2000 | 2000 |
/// | `redis_prefix` | `RATE_LIMIT_REDIS_PREFIX` | `appenv-rl` | `appenv-rl` | `appenv-rl` |
/// | `failure_mode` | `RATE_LIMIT_FAILURE_MODE` | `open` | `open` | `local` |
/// | `max_tracked_keys` | `RATE_LIMIT_MAX_TRACKED_KEYS` | 100000 | 100000 | 100000 |
/// | `overflow` | `RATE_LIMIT_OVERFLOW` | `pass` | `pass` | `shared` |
/// | `header_style` | `RATE_LIMIT_HEADER_STYLE` | `ietf` | `ietf` | `ietf` |
/// | `shadow` | `RATE_LIMIT_SHADOW` | off | off | off |
/// | `policy` | `RATE_LIMIT_POLICY` | `default` | `default` | `default` |
///
/// The quota is `max` requests per `window_ms`, replenished smoothly (GCRA:
/// one request every `window_ms / max`), with up to `burst` requests at once
/// (`0` means `burst = max`, so a fresh client gets exactly `max` requests in
/// a burst).
///
/// Policy rules (ids are stable; waive with `policy.allow`):
///
/// | rule | when | level |
/// |---|---|---|
/// | `rate-limit.invalid` | an `allow` entry or a `routes` pattern or quota that does not parse or is out of range, zero `max`/`window_ms`/`max_tracked_keys`/timeouts, `burst` above 10×`max`, `backend = "redis"` without a URL or without the `redis` feature, a Redis URL this build cannot use (a scheme other than `redis://`/`rediss://`, `rediss://` without the `redis-tls` feature, several nodes without `redis-cluster`, nodes of mixed schemes, an unreadable `redis_ca_file` or one without a certificate), `trusted_proxies` set (moved to the server section) | refused everywhere, not waivable |
/// | `rate-limit.invalid` | a `rediss://` URL that turns certificate verification off (`#insecure`) | refused in production (not waivable), a warning elsewhere |
/// | `rate-limit.disabled` | rate limiting off | violation (refused in production) |
/// | `rate-limit.shadow` | `shadow` on | violation |
/// | `rate-limit.fail-open` | `failure_mode = "open"` | violation |
/// | `rate-limit.overflow-pass` | `overflow = "pass"` | violation |
/// | `rate-limit.header-key` | a `key` of request headers alone (`header:x-api-key`, `header:a+header:b`): clients choose their own keys | warning |
///
/// Trusted proxies are a server setting (`server.trusted_proxies` /
/// `TRUSTED_PROXIES`, `server.client_ip_header` / `CLIENT_IP_HEADER`, with
/// the rule `server.trust-all`), shared with telemetry through
/// [`ClientAddrResolver`](appenv_config::ClientAddrResolver) and handed to
/// the layer with [`RateLimitBuilder::client_addr`](crate::RateLimitBuilder::client_addr).
/// The old `rate_limit.trusted_proxies` (`RATE_LIMIT_TRUSTED_PROXIES`) is
/// refused with a message naming the new variable rather than read, so the
/// rate limiter and telemetry can never disagree about the client.
///
/// Violations are refused in production and warnings elsewhere, so staging
/// may run with `overflow = "pass"` and `failure_mode = "open"` (its
/// defaults) while production may not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, appenv_config::Section)]
#[serde(deny_unknown_fields)]
#[config(rule(id = "rate-limit.invalid", check = invalid))]
#[config(rule(id = "rate-limit.disabled", check = disabled))]
#[config(rule(id = "rate-limit.shadow", check = shadow))]
#[config(rule(id = "rate-limit.fail-open", check = fail_open))]
#[config(rule(id = "rate-limit.header-key", check = header_key))]
#[config(rule(id = "rate-limit.overflow-pass", check = overflow_pass))]
pub struct RateLimitConfig {
    /// Whether requests are limited at all. When off, the layer passes every
    /// request through untouched.
    #[config(
        alias_inverted = "DISABLE_RATE_LIMITING",
        default = true,
        local = false
    )]
    pub enabled: bool,
    /// The quota window in milliseconds.
    #[config(default = 60_000)]
    pub window_ms: u64,
    /// Requests allowed per window.
    #[config(default = 100)]
    pub max: u32,
    /// Requests allowed at once; `0` means `max`.
    pub burst: u32,
    /// What identifies a client.
    #[config(default = KeyKind::Ip)]
    pub key: KeyKind,
    /// Clients never limited: addresses or CIDRs of the client, `key:<value>`
    /// for a header value or supplied identity, `hdr:<hex>`/`id:<hex>` for a
    /// key by the digest logs show (see
    /// [`RateLimitBuilder::allow`](crate::RateLimitBuilder::allow)).
    #[serde(default, deserialize_with = "appenv_config::deserialize_string_list")]
    pub allow: Vec<String>,
    /// Per-route quotas: route pattern → quota (see [`RouteQuota`] for the
    /// forms and the crate docs for how patterns match).
    #[serde(default, deserialize_with = "crate::route::deserialize_routes")]
    pub routes: BTreeMap<String, RouteQuota>,
    /// Moved to `server.trusted_proxies` (`TRUSTED_PROXIES`): any value here
    /// is refused by `rate-limit.invalid` with a message naming the new
    /// setting. Kept so that the old variable gets that message instead of
    /// an "unknown variable" warning.
    #[serde(deserialize_with = "appenv_config::deserialize_trusted_proxies")]
    pub trusted_proxies: Vec<IpNet>,
    /// Where the limiter state lives.
    #[config(default = StateStore::Memory)]
    pub backend: StateStore,
    /// The Redis URL for `backend = "redis"`; its password is redacted in
    /// every output.
    #[config(alias = "RATE_LIMIT_REDIS_URL")]
    pub redis_url: SecretUrl,
    /// A PEM file of the CA certificates that sign the Redis server's
    /// certificate (`rediss://` only), trusted instead of the system roots;
    /// empty for the system roots.
    pub redis_ca_file: String,
    /// Deadline for one Redis decision's round trip, in milliseconds
    /// (connecting is bounded by `redis_connect_timeout_ms` instead).
    #[config(default = DEFAULT_REDIS_TIMEOUT_MS)]
    pub redis_timeout_ms: u64,
    /// Deadline for making a Redis connection (and loading the script), in
    /// milliseconds.
    #[config(default = DEFAULT_REDIS_CONNECT_TIMEOUT_MS)]
    pub redis_connect_timeout_ms: u64,
    /// Prefix of every Redis key the limiter writes.
    #[config(default = "appenv-rl")]
    pub redis_prefix: String,
    /// What happens when Redis cannot answer.
    #[config(default = FailureMode::Open, production = FailureMode::Local)]
    pub failure_mode: FailureMode,
    /// Hard cap on client keys tracked in memory.
    #[config(default = 100_000)]
    pub max_tracked_keys: usize,
    /// What happens to requests that cannot be identified, and to new keys
    /// beyond `max_tracked_keys`.
    #[config(default = Overflow::Pass, production = Overflow::Shared)]
    pub overflow: Overflow,
    /// Which rate-limit response headers are sent.
    #[config(default = HeaderStyle::Ietf)]
    pub header_style: HeaderStyle,
    /// Count and log decisions but never reject.
    pub shadow: bool,
    /// The policy name used in `RateLimit`/`RateLimit-Policy` and in Redis
    /// keys; give each route group its own.
    #[config(default = "default")]
    pub policy: String,
}

/// What identifies a client. Written `ip`, `global`, `header:<name>`
/// (for example `header:x-api-key`), or parts joined by `+`
/// (`ip+header:x-tenant`).
///
/// A service can also supply its own key function instead
/// ([`RateLimitBuilder::key_with`](crate::RateLimitBuilder::key_with)),
/// for example to key by the user an authentication middleware verified.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyKind {
    /// The client IP: the peer address, or the address found by walking
    /// `Forwarded` / `X-Forwarded-For` through trusted proxies. IPv6
    /// addresses are grouped by their /64.
    Ip,
    /// The value of a request header, such as an API key. The value is
    /// hashed before it is stored or logged.
    Header(HeaderName),
    /// One quota shared by every request.
    Global,
    /// Several parts, all of which must be present: one bucket per
    /// combination (for example per client address and tenant). Kept as a
    /// digest, so header values never show.
    Composite(Vec<KeyPart>),
}

/// One part of a [`KeyKind::Composite`] key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyPart {
    /// The client IP, as for [`KeyKind::Ip`].
    Ip,
    /// A request header's value.
    Header(HeaderName),
}

impl fmt::Display for KeyPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyPart::Ip => f.write_str("ip"),
            KeyPart::Header(name) => write!(f, "header:{name}"),
        }
    }
}

impl KeyKind {
    /// Whether the client alone chooses the key: headers only, no address.
    /// A client can then take a fresh quota with each new value.
    pub fn is_client_chosen(&self) -> bool {
        match self {
            KeyKind::Header(_) => true,
            KeyKind::Composite(parts) => {
                !parts.is_empty() && parts.iter().all(|p| matches!(p, KeyPart::Header(_)))
            }
            KeyKind::Ip | KeyKind::Global => false,
        }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyKind::Ip => f.write_str("ip"),
            KeyKind::Global => f.write_str("global"),
            KeyKind::Header(name) => write!(f, "header:{name}"),
            KeyKind::Composite(parts) => {
                for (i, part) in parts.iter().enumerate() {
                    if i > 0 {
                        f.write_str("+")?;
                    }
                    write!(f, "{part}")?;
                }
                Ok(())
            }
        }
    }
}

fn parse_header_part(s: &str) -> Option<Result<HeaderName, String>> {
    let name = s
        .strip_prefix("header:")
        .or_else(|| s.strip_prefix("HEADER:"))?;
    Some(
        HeaderName::from_str(name.trim())
            .map_err(|_| format!("`{}` is not a valid header name", name.trim())),
    )
}

impl FromStr for KeyKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.contains('+') {
            let mut parts = Vec::new();
            for part in s.split('+').map(str::trim) {
                if part.eq_ignore_ascii_case("ip") {
                    parts.push(KeyPart::Ip);
                } else if let Some(name) = parse_header_part(part) {
                    parts.push(KeyPart::Header(name?));
                } else {
                    return Err(format!(
                        "`{part}` cannot be part of a composite key `{s}`; parts are `ip` and `header:<name>` (e.g. `ip+header:x-tenant`)"
                    ));
                }
            }
            return Ok(KeyKind::Composite(parts));
        }
        match s.to_ascii_lowercase().as_str() {
            "ip" => return Ok(KeyKind::Ip),
            "global" => return Ok(KeyKind::Global),
            _ => {}
        }
        if let Some(name) = parse_header_part(s) {
            return name.map(KeyKind::Header);
        }
        Err(format!(
            "unknown key kind `{s}`; expected `ip`, `global`, `header:<name>` (e.g. `header:x-api-key`) or parts joined by `+` (`ip+header:x-tenant`)"
        ))
    }
}

impl Serialize for KeyKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for KeyKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Where limiter state lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum StateStore {
    /// In this process: each replica has its own quota.
    Memory,
    /// In Redis: every replica shares one quota.
    Redis,
}

/// What the Redis backend does when Redis cannot answer in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum FailureMode {
    /// Allow the request (no limit while Redis is down).
    Open,
    /// Refuse the request with `503` and the
    /// `temporary-reduced-capacity` problem type.
    Closed,
    /// Decide with this replica's in-memory limiter (same quota, per
    /// replica) until Redis answers again.
    Local,
}

/// What happens to a request whose client cannot be identified (no peer
/// address, missing key header) and to new keys beyond `max_tracked_keys`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Overflow {
    /// They all share one bucket with the configured quota.
    Shared,
    /// They pass without being limited (counted and logged).
    Pass,
}

/// Which rate-limit headers responses carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum HeaderStyle {
    /// `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers).
    Ietf,
    /// `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset`.
    Legacy,
    /// Both sets.
    Both,
    /// Only `Retry-After` on rejections.
    None,
}

impl HeaderStyle {
    pub(crate) fn ietf(self) -> bool {
        matches!(self, HeaderStyle::Ietf | HeaderStyle::Both)
    }

    pub(crate) fn legacy(self) -> bool {
        matches!(self, HeaderStyle::Legacy | HeaderStyle::Both)
    }
}

impl RateLimitConfig {
    /// The burst actually used (`burst`, or `max` when `burst` is 0).
    pub fn effective_burst(&self) -> u32 {
        if self.burst == 0 {
            self.max
        } else {
            self.burst
        }
    }

    /// The quota window.
    pub fn window(&self) -> Duration {
        Duration::from_millis(self.window_ms)
    }

    /// Checks the values a limiter cannot be built from. The error names
    /// the key (`rate_limit.max`).
    pub fn validate(&self) -> Result<(), Error> {
        if let Some((key, message)) = self.problems(false).into_iter().next() {
            return Err(Error::invalid(key, message));
        }
        Ok(())
    }

    /// What `rate-limit.invalid` refuses; with `production`, also what is
    /// only refused there (a Redis URL that turns certificate verification
    /// off). The constructor checks without it, so it never refuses what
    /// `config check` accepted in any environment.
    #[cfg_attr(not(feature = "redis"), allow(unused_variables))]
    fn problems(&self, production: bool) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.max == 0 {
            out.push((
                "max",
                "must be at least 1 request per window (to turn limiting off, set enabled = false)"
                    .to_owned(),
            ));
        }
        if self.window_ms == 0 {
            out.push(("window_ms", "must be at least 1 millisecond".to_owned()));
        }
        if self.max > 0 && u64::from(self.burst) > u64::from(self.max) * 10 {
            out.push((
                "burst",
                format!(
                    "{} is more than 10 times max ({}); a burst that large defeats the limit",
                    self.burst, self.max
                ),
            ));
        }
        if self.max_tracked_keys == 0 {
            out.push(("max_tracked_keys", "must be at least 1".to_owned()));
        }
        if self.redis_timeout_ms == 0 {
            out.push((
                "redis_timeout_ms",
                "must be at least 1 millisecond".to_owned(),
            ));
        }
        if self.redis_connect_timeout_ms == 0 {
            out.push((
                "redis_connect_timeout_ms",
                "must be at least 1 millisecond".to_owned(),
            ));
        }
        if self.backend == StateStore::Redis && self.redis_url.is_empty() {
            out.push((
                "redis_url",
                "backend is `redis` but no URL is set; set RATE_LIMIT_REDIS_URL".to_owned(),
            ));
        }
        if self.backend == StateStore::Redis && !cfg!(feature = "redis") {
            out.push((
                "backend",
                "`redis` needs the Redis client, which this build of appenv-rate-limit leaves out: \
                 enable its `redis` feature (or set RATE_LIMIT_BACKEND=memory)"
                    .to_owned(),
            ));
        }
        #[cfg(feature = "redis")]
        if self.backend == StateStore::Redis && !self.redis_url.is_empty() {
            out.extend(crate::redis_url::problems(
                &self.redis_url,
                &self.redis_ca_file,
                production,
            ));
        }
        if !self.trusted_proxies.is_empty() {
            out.push((
                "trusted_proxies",
                "moved to the server section so the rate limiter and telemetry agree on the client: \
                 set TRUSTED_PROXIES (server.trusted_proxies), and CLIENT_IP_HEADER if your proxy \
                 does not write X-Forwarded-For, then remove RATE_LIMIT_TRUSTED_PROXIES"
                    .to_owned(),
            ));
        }
        out.extend(crate::allow::problems(&self.allow));
        out.extend(crate::route::problems(&self.routes, &self.policy));
        if self.policy.is_empty() || sfv::StringRef::from_str(&self.policy).is_err() {
            out.push((
                "policy",
                "must be a non-empty printable ASCII name (e.g. `default`, `search`)".to_owned(),
            ));
        }
        out
    }
}

/// Rule `rate-limit.invalid`.
fn invalid(check: &mut Check<'_>, cfg: &RateLimitConfig) -> Result<(), appenv_config::Error> {
    let production = check.env().is_production();
    for (key, message) in cfg.problems(production) {
        check.forbid(key, message, "fix the value; see RateLimitConfig docs");
    }
    #[cfg(feature = "redis")]
    if !production && cfg.backend == StateStore::Redis {
        for shown in crate::redis_url::insecure_nodes(&cfg.redis_url) {
            check.warn(
                "redis_url",
                crate::redis_url::insecure_message(&shown),
                "refused in production; remove `#insecure`",
            );
        }
    }
    Ok(())
}

/// Rule `rate-limit.disabled`.
fn disabled(check: &mut Check<'_>, cfg: &RateLimitConfig) -> Result<(), appenv_config::Error> {
    if !cfg.enabled {
        check.violation(
            "enabled",
            "rate limiting is off",
            "unset DISABLE_RATE_LIMITING (or set it to false)",
        );
    }
    Ok(())
}

/// Rule `rate-limit.shadow`.
fn shadow(check: &mut Check<'_>, cfg: &RateLimitConfig) -> Result<(), appenv_config::Error> {
    if cfg.enabled && cfg.shadow {
        check.violation(
            "shadow",
            "shadow mode logs rate-limit decisions but rejects nothing",
            "set RATE_LIMIT_SHADOW=false once the quotas are tuned",
        );
    }
    Ok(())
}

/// Rule `rate-limit.fail-open`.
fn fail_open(check: &mut Check<'_>, cfg: &RateLimitConfig) -> Result<(), appenv_config::Error> {
    if cfg.enabled && cfg.backend == StateStore::Redis && cfg.failure_mode == FailureMode::Open {
        check.violation(
            "failure_mode",
            "when Redis fails every request passes unlimited",
            "set RATE_LIMIT_FAILURE_MODE=local (per-replica fallback) or closed",
        );
    }
    Ok(())
}

/// Rule `rate-limit.header-key`.
fn header_key(check: &mut Check<'_>, cfg: &RateLimitConfig) -> Result<(), appenv_config::Error> {
    // Also while limiting is off (the local default): the developer
    // sees what production will say.
    if cfg.key.is_client_chosen() {
        check.warn(
                        "key",
                        format!(
                            "the key `{}` is made of request headers alone, which the client chooses: a client that sends a new value with each request gets a new quota each time (in memory until max_tracked_keys, then the shared overflow bucket; in Redis without bound)",
                            cfg.key
                        ),
                        "verify the header first (an API key, a token) and key by the verified identity with RateLimitBuilder::key_with; `ip+header:<name>` at least keeps the new quotas to the client's own address",
                    );
    }
    Ok(())
}

/// Rule `rate-limit.overflow-pass`.
fn overflow_pass(check: &mut Check<'_>, cfg: &RateLimitConfig) -> Result<(), appenv_config::Error> {
    if cfg.enabled && cfg.overflow == Overflow::Pass {
        check.violation(
            "overflow",
            "unidentified clients and keys beyond max_tracked_keys pass unlimited",
            "set RATE_LIMIT_OVERFLOW=shared",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use appenv_config::{AppEnv, Section};

    /// Without the `redis` feature, `backend = "redis"` is a configuration
    /// problem naming the feature (so `config check` reports it).
    #[cfg(not(feature = "redis"))]
    #[test]
    fn the_redis_backend_without_its_feature_names_the_feature() {
        let mut cfg = RateLimitConfig::defaults(appenv_config::AppEnv::Production);
        cfg.backend = StateStore::Redis;
        cfg.redis_url = SecretUrl::new("redis://:sup3rs3cretpw@cache:6379");
        let problems = cfg.problems(true);
        assert!(
            problems
                .iter()
                .any(|(key, m)| *key == "backend" && m.contains("`redis` feature")),
            "{problems:?}"
        );
        assert!(cfg.validate().is_err());
    }

    #[test]
    fn defaults_follow_the_environment() {
        let local = RateLimitConfig::defaults(AppEnv::Local);
        let staging = RateLimitConfig::defaults(AppEnv::Staging);
        let prod = RateLimitConfig::defaults(AppEnv::Production);
        assert!(!local.enabled);
        assert!(staging.enabled && prod.enabled);
        assert_eq!(staging.failure_mode, FailureMode::Open);
        assert_eq!(prod.failure_mode, FailureMode::Local);
        assert_eq!(staging.overflow, Overflow::Pass);
        assert_eq!(prod.overflow, Overflow::Shared);
        assert!(!prod.shadow);
        for cfg in [local, staging, prod] {
            cfg.validate().unwrap();
        }
    }

    #[test]
    fn key_kinds_parse_and_print() {
        assert_eq!("ip".parse::<KeyKind>().unwrap(), KeyKind::Ip);
        assert_eq!(" Global ".parse::<KeyKind>().unwrap(), KeyKind::Global);
        let kind: KeyKind = "header:X-Api-Key".parse().unwrap();
        assert_eq!(kind.to_string(), "header:x-api-key");
        let err = "cookie".parse::<KeyKind>().unwrap_err();
        assert!(err.contains("unknown key kind `cookie`"), "{err}");
        assert!("header:bad name".parse::<KeyKind>().is_err());
        let composite: KeyKind = "IP + header:X-Tenant".parse().unwrap();
        assert_eq!(
            composite,
            KeyKind::Composite(vec![
                KeyPart::Ip,
                KeyPart::Header(HeaderName::from_static("x-tenant"))
            ])
        );
        assert_eq!(composite.to_string(), "ip+header:x-tenant");
        let err = "ip+global".parse::<KeyKind>().unwrap_err();
        assert!(err.contains("`global` cannot be part"), "{err}");
    }

    #[test]
    fn the_moved_trusted_proxies_setting_is_refused_naming_the_new_one() {
        let mut cfg = RateLimitConfig::defaults(AppEnv::Staging);
        cfg.trusted_proxies = appenv_config::deserialize_trusted_proxies(serde_json::json!(
            "10.0.0.0/8, 192.168.1.7"
        ))
        .unwrap();
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("rate_limit.trusted_proxies"), "{err}");
        assert!(
            err.contains("TRUSTED_PROXIES (server.trusted_proxies)"),
            "{err}"
        );
    }

    #[test]
    fn validation_names_the_key() {
        let mut cfg = RateLimitConfig::defaults(AppEnv::Production);
        cfg.max = 0;
        let err = cfg.validate().unwrap_err().to_string();
        assert!(
            err.starts_with("invalid value for rate_limit.max:"),
            "{err}"
        );

        let mut cfg = RateLimitConfig::defaults(AppEnv::Production);
        cfg.window_ms = 0;
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("rate_limit.window_ms"), "{err}");

        let mut cfg = RateLimitConfig::defaults(AppEnv::Production);
        cfg.backend = StateStore::Redis;
        let err = cfg.validate().unwrap_err().to_string();
        assert!(err.contains("rate_limit.redis_url"), "{err}");
    }
}
