//! [`ServiceUrl`]: a database, Redis or OTLP URL parsed once — scheme and
//! backend, every host, loopback, database name, TLS mode — and the
//! redaction of URLs and header lists ([`redact_url`],
//! [`redact_header_list`]).
//!
//! The policy rules, the migrator, the rate limiter's Redis backend and
//! telemetry's OTLP checks all read a URL through this module, so they
//! agree on what it points at.

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::secret::REDACTED;
use crate::sensitive::is_sensitive_param;

/// The kind of service a URL scheme names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UrlBackend {
    /// `postgres://`, `postgresql://`.
    Postgres,
    /// `mysql://`, `mariadb://`.
    MySql,
    /// `sqlite:`.
    Sqlite,
    /// `redis://`, `rediss://`, `redis+unix://`, `unix://`.
    Redis,
    /// `http://`, `https://` (OTLP endpoints).
    Http,
    /// Any other scheme: hosts and the database name are still read.
    Other,
}

impl UrlBackend {
    /// The backend a scheme names, case-insensitively.
    ///
    /// ```
    /// use appenv_config::UrlBackend;
    ///
    /// assert_eq!(UrlBackend::from_scheme("postgresql"), UrlBackend::Postgres);
    /// assert_eq!(UrlBackend::from_scheme("MariaDB"), UrlBackend::MySql);
    /// assert_eq!(UrlBackend::from_scheme("rediss"), UrlBackend::Redis);
    /// assert_eq!(UrlBackend::from_scheme("ftp"), UrlBackend::Other);
    /// ```
    pub fn from_scheme(scheme: &str) -> UrlBackend {
        match scheme.to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" => UrlBackend::Postgres,
            "mysql" | "mariadb" => UrlBackend::MySql,
            "sqlite" => UrlBackend::Sqlite,
            "redis" | "rediss" | "redis+unix" | "unix" => UrlBackend::Redis,
            "http" | "https" => UrlBackend::Http,
            _ => UrlBackend::Other,
        }
    }

    /// A lowercase name (`postgres`, `mysql`, `sqlite`, `redis`, `http`,
    /// `other`).
    pub fn as_str(self) -> &'static str {
        match self {
            UrlBackend::Postgres => "postgres",
            UrlBackend::MySql => "mysql",
            UrlBackend::Sqlite => "sqlite",
            UrlBackend::Redis => "redis",
            UrlBackend::Http => "http",
            UrlBackend::Other => "other",
        }
    }
}

impl fmt::Display for UrlBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a URL asks of TLS, as the driver reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Tls {
    /// No TLS: `sslmode=disable`, `ssl-mode=DISABLED`, `redis://`,
    /// `http://`.
    Off,
    /// TLS if the server offers it, so anyone on the path can downgrade it:
    /// no setting (libpq's and sqlx's default is `prefer`, MySQL's
    /// `PREFERRED`), `allow`, `prefer`, `PREFERRED`.
    Optional,
    /// TLS required, the certificate not verified: `require`, `REQUIRED`,
    /// `rediss://…#insecure`.
    Required,
    /// TLS with the certificate verified: `verify-ca`, `verify-full`,
    /// `VERIFY_CA`, `VERIFY_IDENTITY`, `rediss://`, `https://`.
    Verified,
    /// Not a network connection: SQLite, a Redis Unix socket.
    NotApplicable,
    /// A scheme this module does not know.
    Unknown,
}

/// One host a URL connects to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Host {
    /// A DNS name, lowercased, without a trailing dot.
    Name(String),
    /// An IP address, in whatever spelling it was written (`127.1`,
    /// `0x7f000001`, `[::ffff:127.0.0.1]`).
    Ip(IpAddr),
    /// A Unix socket path (a socket directory for Postgres) or an abstract
    /// socket (`@name`).
    Socket(String),
    /// No host at all: the driver's default, which is on this machine
    /// (Postgres: the local Unix socket; MySQL and Redis: localhost).
    Default,
}

impl Host {
    /// Reads a host as written in a URL (brackets, percent-encoding) or in
    /// a parameter (`host=/var/run/postgresql`, `host=::1`). `None` when it
    /// cannot be a host (an empty or malformed IPv6 literal, white space or
    /// characters no host name has).
    pub fn parse(text: &str) -> Option<Host> {
        let decoded = percent_encoding::percent_decode_str(text).decode_utf8_lossy();
        let text = decoded.trim();
        if text.is_empty() {
            return Some(Host::Default);
        }
        if text.starts_with('/') || text.starts_with('@') {
            return Some(Host::Socket(text.to_owned()));
        }
        if let Some(inner) = text.strip_prefix('[') {
            let inner = inner.strip_suffix(']')?;
            return parse_ipv6(inner).map(Host::Ip);
        }
        if text.contains(':') {
            return parse_ipv6(text).map(Host::Ip);
        }
        let name = text.strip_suffix('.').unwrap_or(text);
        if let Some(ip) = parse_ipv4_loose(name) {
            return Some(Host::Ip(IpAddr::V4(ip)));
        }
        let valid = name.chars().all(|c| {
            c.is_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | '!' | '$' | '*' | '+')
        });
        (valid && !name.is_empty()).then(|| Host::Name(name.to_lowercase()))
    }

    /// A loopback address in any spelling (`127.0.0.0/8`, `::1`, their
    /// IPv4-mapped forms, the unspecified `0.0.0.0`/`::` that connects to
    /// this machine), or a loopback name (`localhost`, `*.localhost`,
    /// `localhost.localdomain`, Debian's `ip6-localhost`/`ip6-loopback`).
    /// Sockets and [`Host::Default`] are local but not loopback addresses:
    /// see [`Host::is_local`].
    pub fn is_loopback(&self) -> bool {
        match self {
            Host::Ip(ip) => {
                let ip = ip.to_canonical();
                ip.is_loopback() || ip.is_unspecified()
            }
            Host::Name(name) => {
                name == "localhost"
                    || name.ends_with(".localhost")
                    || name == "localhost.localdomain"
                    || name == "ip6-localhost"
                    || name == "ip6-loopback"
            }
            Host::Socket(_) | Host::Default => false,
        }
    }

    /// On this machine: a loopback address or name, a Unix socket, or no
    /// host.
    pub fn is_local(&self) -> bool {
        self.is_loopback() || matches!(self, Host::Socket(_) | Host::Default)
    }

    /// The DNS name, for names.
    pub fn name(&self) -> Option<&str> {
        match self {
            Host::Name(name) => Some(name),
            _ => None,
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(name) => f.write_str(name),
            Host::Ip(IpAddr::V4(ip)) => write!(f, "{ip}"),
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Host::Socket(path) => write!(f, "socket {path}"),
            Host::Default => f.write_str("the default local socket"),
        }
    }
}

/// A host with its port, when the URL gives one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    host: Host,
    port: Option<u16>,
}

impl HostPort {
    /// The host.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The port, when the URL gives one.
    pub fn port(&self) -> Option<u16> {
        self.port
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.host),
            None => write!(f, "{}", self.host),
        }
    }
}

/// Whether `host` (a name, an address in any spelling, with or without
/// brackets) is a loopback host. See [`Host::is_loopback`].
///
/// ```
/// use appenv_config::is_loopback_host;
///
/// for host in ["localhost", "db.localhost", "127.1", "0x7f000001", "2130706433", "[::1]", "::ffff:127.0.0.1"] {
///     assert!(is_loopback_host(host), "{host}");
/// }
/// assert!(!is_loopback_host("db.internal"));
/// ```
pub fn is_loopback_host(host: &str) -> bool {
    Host::parse(host).is_some_and(|h| h.is_loopback())
}

/// Why a URL does not parse. Its messages never contain the URL's
/// password (nor any part of the URL that may be one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlError {
    message: String,
}

impl UrlError {
    fn new(message: impl Into<String>) -> Self {
        UrlError {
            message: message.into(),
        }
    }
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UrlError {}

/// A database, Redis or OTLP URL, parsed once: the scheme and backend,
/// every host (each host of a multi-host libpq URL, libpq's `host=` and
/// `hostaddr=`, MySQL's `socket=`), the percent-decoded database name, the
/// TLS mode as the driver reads it, and the redacted form. It keeps no
/// password: `Debug` and `Display` print the redacted URL.
///
/// Parsing follows the URL standard the drivers use (the `url` crate): the
/// authority ends at the first `/`, `?` or `#`, and the user information at
/// its last `@`. A password holding `#`, `/` or `?` unencoded therefore
/// does not parse (drivers refuse it too); one holding `@`, spaces, quotes
/// or non-ASCII does.
///
/// ```
/// use appenv_config::{ServiceUrl, Tls, UrlBackend};
///
/// let url = ServiceUrl::parse("postgres://app:pw@db1:5432,127.0.0.1:5433/events?sslmode=prefer").unwrap();
/// assert_eq!(url.backend(), UrlBackend::Postgres);
/// assert_eq!(url.hosts().len(), 2);
/// assert!(url.hosts()[1].host().is_loopback());
/// assert_eq!(url.database(), Some("events"));
/// assert_eq!(url.tls(), Tls::Optional);
/// assert_eq!(url.redacted(), "postgres://app:[REDACTED]@db1:5432,127.0.0.1:5433/events?sslmode=prefer");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceUrl {
    scheme: String,
    backend: UrlBackend,
    user: Option<String>,
    has_password: bool,
    hosts: Vec<HostPort>,
    database: Option<String>,
    params: Vec<(String, String)>,
    tls: Tls,
    tls_setting: Option<String>,
    ignored_tls: Vec<String>,
    redacted: String,
}

impl fmt::Debug for ServiceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceUrl")
            .field("url", &self.redacted)
            .field("backend", &self.backend)
            .field("hosts", &self.hosts)
            .field("database", &self.database)
            .field("tls", &self.tls)
            .finish()
    }
}

impl fmt::Display for ServiceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

/// The hint for a URL whose password keeps it from parsing.
const ENCODE_HINT: &str = "if the user name or password holds `#`, `/`, `?` or `@`, percent-encode them (`%23`, `%2F`, `%3F`, `%40`)";

impl ServiceUrl {
    /// Parses `raw` (surrounding white space ignored).
    ///
    /// # Errors
    /// No `scheme:` or no `//` after it (except `sqlite:`), a port that is
    /// not a number up to 65535, a malformed host or IPv6 literal, an empty
    /// host in a host list, a host where the scheme needs one (`http`), or a
    /// TLS mode the driver does not know. The message never shows the
    /// password.
    pub fn parse(raw: &str) -> Result<ServiceUrl, UrlError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(UrlError::new("the URL is empty"));
        }
        let Some((scheme, rest)) = raw.split_once(':') else {
            return Err(UrlError::new(
                "the URL has no `scheme:` (such as `postgres://`)",
            ));
        };
        let valid_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !valid_scheme {
            return Err(UrlError::new(
                "the URL has no valid `scheme://` at its start (such as `postgres://`)",
            ));
        }
        let scheme = scheme.to_ascii_lowercase();
        let backend = UrlBackend::from_scheme(&scheme);
        let redacted = redact_url(raw).into_owned();
        if backend == UrlBackend::Sqlite {
            return Ok(parse_sqlite(scheme, rest, redacted));
        }
        let Some(after) = rest.strip_prefix("//") else {
            return Err(UrlError::new(format!(
                "a {scheme} URL starts with `{scheme}://`"
            )));
        };
        let authority_end = after.find(['/', '?', '#']).unwrap_or(after.len());
        let authority = &after[..authority_end];
        let tail = &after[authority_end..];
        // An '@' after the authority means a password that holds one of
        // the characters that end the authority.
        let suspicious = tail.contains('@') && !authority.contains('@');
        let hint = |message: &str| {
            if suspicious {
                UrlError::new(format!("{message}; {ENCODE_HINT}"))
            } else {
                UrlError::new(message)
            }
        };
        let (userinfo, host_list) = match authority.rfind('@') {
            Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
            None => (None, authority),
        };
        let (user, has_password) = match userinfo {
            None => (None, false),
            Some(info) => {
                let (user, password) = match info.split_once(':') {
                    Some((user, password)) => (user, !password.is_empty()),
                    None => (info, false),
                };
                let user = percent_encoding::percent_decode_str(user)
                    .decode_utf8_lossy()
                    .into_owned();
                ((!user.is_empty()).then_some(user), password)
            }
        };

        let (path_and_query, fragment) = match tail.split_once('#') {
            Some((before, fragment)) => (before, Some(fragment)),
            None => (tail, None),
        };
        let (path, query) = match path_and_query.split_once('?') {
            Some((path, query)) => (path, query),
            None => (path_and_query, ""),
        };
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let param = |name: &str| last_param(&pairs, name);

        let mut hosts = parse_host_list(host_list, backend == UrlBackend::Postgres)
            .map_err(|message| hint(&message))?;
        let mut database = {
            let path = path.strip_prefix('/').unwrap_or(path);
            let decoded = percent_encoding::percent_decode_str(path)
                .decode_utf8_lossy()
                .into_owned();
            (!decoded.is_empty()).then_some(decoded)
        };

        match backend {
            UrlBackend::Postgres => {
                if let Some(list) = param("host").filter(|v| !v.trim().is_empty()) {
                    hosts = list
                        .split(',')
                        .map(|item| {
                            Host::parse(item)
                                .filter(|h| *h != Host::Default)
                                .map(|host| HostPort { host, port: None })
                                .ok_or_else(|| {
                                    UrlError::new("the `host` parameter holds a malformed host")
                                })
                        })
                        .collect::<Result<_, _>>()?;
                }
                if let Some(list) = param("hostaddr").filter(|v| !v.trim().is_empty()) {
                    for item in list.split(',') {
                        match Host::parse(item) {
                            Some(host @ Host::Ip(_)) => hosts.push(HostPort { host, port: None }),
                            _ => {
                                return Err(UrlError::new(
                                    "the `hostaddr` parameter holds something that is not an IP address",
                                ));
                            }
                        }
                    }
                }
                if let Some(name) = param("dbname").filter(|v| !v.is_empty()) {
                    database = Some(name.to_owned());
                }
            }
            UrlBackend::MySql => {
                if let Some(socket) = param("socket").filter(|v| !v.trim().is_empty()) {
                    hosts = vec![HostPort {
                        host: Host::Socket(socket.trim().to_owned()),
                        port: None,
                    }];
                }
            }
            UrlBackend::Redis if matches!(scheme.as_str(), "redis+unix" | "unix") => {
                hosts = vec![HostPort {
                    host: Host::Socket(
                        percent_encoding::percent_decode_str(path)
                            .decode_utf8_lossy()
                            .into_owned(),
                    ),
                    port: None,
                }];
                database = param("db").map(str::to_owned);
            }
            UrlBackend::Http => {
                if hosts.iter().any(|h| h.host == Host::Default) {
                    return Err(hint("an http(s) URL needs a host"));
                }
                database = None;
            }
            _ => {}
        }

        let (tls, tls_setting) = tls_mode(&scheme, backend, fragment, &pairs)?;
        let ignored_tls = ignored_tls_params(backend, &pairs);
        let params = pairs
            .into_iter()
            .map(|(k, v)| {
                let v = if is_sensitive_param(&k) {
                    REDACTED.to_owned()
                } else {
                    v
                };
                (k, v)
            })
            .collect();
        Ok(ServiceUrl {
            scheme,
            backend,
            user,
            has_password,
            hosts,
            database,
            params,
            tls,
            tls_setting,
            ignored_tls,
            redacted,
        })
    }

    /// The scheme, lowercased (`mariadb`, `rediss`).
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The backend the scheme names.
    pub fn backend(&self) -> UrlBackend {
        self.backend
    }

    /// The user name, percent-decoded, when the URL gives one.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// `true` when the URL carries a password in its user information.
    pub fn has_password(&self) -> bool {
        self.has_password
    }

    /// Every host the driver may connect to, in order. Postgres: each host
    /// of `h1:5432,h2:5433`, or of the `host=` parameter instead, plus the
    /// `hostaddr=` addresses; MySQL: the `socket=` path instead of the host.
    /// A URL without a host gives [`Host::Default`]; SQLite gives none.
    pub fn hosts(&self) -> &[HostPort] {
        &self.hosts
    }

    /// `true` when there is at least one host and every host is on this
    /// machine ([`Host::is_local`]).
    pub fn is_local(&self) -> bool {
        !self.hosts.is_empty() && self.hosts.iter().all(|h| h.host.is_local())
    }

    /// The database name, percent-decoded (Postgres: `dbname=` wins over
    /// the path); the file for SQLite; the database number for Redis;
    /// `None` for http(s) URLs and when the URL names none.
    pub fn database(&self) -> Option<&str> {
        self.database.as_deref()
    }

    /// The TLS mode the driver will use.
    pub fn tls(&self) -> Tls {
        self.tls
    }

    /// The setting the TLS mode comes from (`sslmode=prefer`,
    /// `ssl-mode=REQUIRED`, `rediss://`), `None` when it is the driver's
    /// default.
    pub fn tls_setting(&self) -> Option<&str> {
        self.tls_setting.as_deref()
    }

    /// TLS-looking query parameters the driver does not read, so they do
    /// not do what they seem to (`ssl=true` or `ssl_mode=` for sqlx's
    /// MySQL, `SSLMODE=` anywhere: names are case-sensitive).
    pub fn ignored_tls_params(&self) -> &[String] {
        &self.ignored_tls
    }

    /// The last value of the query parameter `name` (exact name,
    /// percent-decoded); `[REDACTED]` for a secret parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        last_param(&self.params, name)
    }

    /// The URL with its password and secret query parameters replaced by
    /// `[REDACTED]` (see [`redact_url`]).
    pub fn redacted(&self) -> &str {
        &self.redacted
    }
}

fn parse_sqlite(scheme: String, rest: &str, redacted: String) -> ServiceUrl {
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let database = percent_encoding::percent_decode_str(path)
        .decode_utf8_lossy()
        .into_owned();
    let params = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    ServiceUrl {
        scheme,
        backend: UrlBackend::Sqlite,
        user: None,
        has_password: false,
        hosts: Vec::new(),
        database: (!database.is_empty()).then_some(database),
        params,
        tls: Tls::NotApplicable,
        tls_setting: None,
        ignored_tls: Vec::new(),
        redacted,
    }
}

/// The last value of the query parameter `name`, as drivers read it.
fn last_param<'p>(pairs: &'p [(String, String)], name: &str) -> Option<&'p str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Splits `h1:5432,[::1]:5433` into hosts (a list only when `multi`).
fn parse_host_list(list: &str, multi: bool) -> Result<Vec<HostPort>, String> {
    if list.is_empty() {
        return Ok(vec![HostPort {
            host: Host::Default,
            port: None,
        }]);
    }
    let items: Vec<&str> = if multi {
        list.split(',').collect()
    } else {
        vec![list]
    };
    let many = items.len() > 1;
    items
        .into_iter()
        .map(|item| {
            if item.is_empty() {
                return Err("a host in the list of hosts is empty".to_owned());
            }
            let (host_text, port_text) = if item.starts_with('[') {
                let Some(close) = item.find(']') else {
                    return Err("an IPv6 address in brackets has no closing `]`".to_owned());
                };
                let after = &item[close + 1..];
                let port = match after.strip_prefix(':') {
                    Some(port) => Some(port),
                    None if after.is_empty() => None,
                    None => return Err("unexpected text after an IPv6 address".to_owned()),
                };
                (&item[..=close], port)
            } else {
                match item.split_once(':') {
                    Some((host, port)) => (host, Some(port)),
                    None => (item, None),
                }
            };
            let port = match port_text {
                None | Some("") => None,
                Some(text) => Some(
                    text.parse::<u16>()
                        .ok()
                        .filter(|_| text.bytes().all(|b| b.is_ascii_digit()))
                        .ok_or_else(|| "the port is not a number from 0 to 65535".to_owned())?,
                ),
            };
            let host = Host::parse(host_text)
                .ok_or_else(|| "the host is not a valid host name or address".to_owned())?;
            if many && host == Host::Default {
                return Err("a host in the list of hosts is empty".to_owned());
            }
            Ok(HostPort { host, port })
        })
        .collect()
}

/// The TLS mode, and the setting it came from.
fn tls_mode(
    scheme: &str,
    backend: UrlBackend,
    fragment: Option<&str>,
    pairs: &[(String, String)],
) -> Result<(Tls, Option<String>), UrlError> {
    // Postgres and MySQL read `sslmode` and (sqlx) `ssl-mode`; the last one
    // given wins, as in the drivers.
    let setting = |names: &[&str]| {
        pairs
            .iter()
            .rev()
            .find(|(k, _)| names.contains(&k.as_str()))
            .map(|(k, v)| (k.as_str(), v.as_str()))
    };
    Ok(match backend {
        UrlBackend::Postgres => match setting(&["sslmode", "ssl-mode"]) {
            None => (Tls::Optional, None),
            Some((name, value)) => {
                let tls = match value {
                    "disable" => Tls::Off,
                    "allow" | "prefer" => Tls::Optional,
                    "require" => Tls::Required,
                    "verify-ca" | "verify-full" => Tls::Verified,
                    _ => {
                        return Err(UrlError::new(format!(
                            "`{name}` must be one of disable, allow, prefer, require, verify-ca, verify-full"
                        )));
                    }
                };
                (tls, Some(format!("{name}={value}")))
            }
        },
        UrlBackend::MySql => match setting(&["sslmode", "ssl-mode"]) {
            None => (Tls::Optional, None),
            Some((name, value)) => {
                let tls = match value.to_ascii_uppercase().as_str() {
                    "DISABLED" => Tls::Off,
                    "PREFERRED" => Tls::Optional,
                    "REQUIRED" => Tls::Required,
                    "VERIFY_CA" | "VERIFY_IDENTITY" => Tls::Verified,
                    _ => {
                        return Err(UrlError::new(format!(
                            "`{name}` must be one of DISABLED, PREFERRED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY"
                        )));
                    }
                };
                (tls, Some(format!("{name}={value}")))
            }
        },
        UrlBackend::Redis => match scheme {
            "rediss" if fragment == Some("insecure") => {
                (Tls::Required, Some("rediss://…#insecure".to_owned()))
            }
            "rediss" => (Tls::Verified, Some("rediss://".to_owned())),
            "redis" => (Tls::Off, Some("redis://".to_owned())),
            _ => (Tls::NotApplicable, None),
        },
        UrlBackend::Http => match scheme {
            "https" => (Tls::Verified, Some("https://".to_owned())),
            _ => (Tls::Off, Some("http://".to_owned())),
        },
        UrlBackend::Sqlite => (Tls::NotApplicable, None),
        UrlBackend::Other => (Tls::Unknown, None),
    })
}

/// TLS-looking parameters the driver does not read.
fn ignored_tls_params(backend: UrlBackend, pairs: &[(String, String)]) -> Vec<String> {
    if !matches!(backend, UrlBackend::Postgres | UrlBackend::MySql) {
        return Vec::new();
    }
    let mut ignored: Vec<String> = Vec::new();
    for (name, _) in pairs {
        let lower = name.to_ascii_lowercase();
        let tls_like = matches!(
            lower.as_str(),
            "sslmode"
                | "ssl-mode"
                | "ssl_mode"
                | "ssl"
                | "tls"
                | "usessl"
                | "use_ssl"
                | "requiressl"
                | "require_ssl"
                | "tls-mode"
                | "tls_mode"
        );
        let read = matches!(name.as_str(), "sslmode" | "ssl-mode");
        if tls_like && !read && !ignored.contains(name) {
            ignored.push(name.clone());
        }
    }
    ignored
}

fn parse_ipv6(text: &str) -> Option<IpAddr> {
    // A zone (`fe80::1%eth0`, `%25eth0` in a URL) does not change the address.
    let address = text.split('%').next().unwrap_or(text);
    address.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
}

/// IPv4 as `inet_aton` (and so libc's resolver, which drivers call) reads
/// it: one to four parts, each decimal, octal (leading `0`) or hex (`0x`),
/// the last part filling the remaining bytes (`127.1`, `2130706433`,
/// `0x7f000001`).
fn parse_ipv4_loose(text: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut values = Vec::with_capacity(parts.len());
    for part in &parts {
        let (digits, radix) =
            if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
                (hex, 16)
            } else if part.len() > 1 && part.starts_with('0') {
                (&part[1..], 8)
            } else {
                (*part, 10)
            };
        if digits.is_empty() && radix != 8 {
            return None;
        }
        if !digits.chars().all(|c| c.is_digit(radix)) {
            return None;
        }
        let value = if digits.is_empty() {
            0
        } else {
            u64::from_str_radix(digits, radix).ok()?
        };
        values.push(value);
    }
    let (last, head) = values.split_last()?;
    if head.iter().any(|v| *v > 255) {
        return None;
    }
    let bits = 8 * (4 - head.len() as u32);
    if *last >= 1u64 << bits {
        return None;
    }
    let mut address: u64 = 0;
    for (i, v) in head.iter().enumerate() {
        address |= v << (24 - 8 * i as u32);
    }
    address |= last;
    u32::try_from(address).ok().map(Ipv4Addr::from)
}

/// Replaces the password of every `scheme://user:password@host` URL inside
/// `text`, and the value of every secret query parameter
/// ([`crate::is_sensitive_param`]: `password`, `token`, `key`, `sig`,
/// `X-Api-Key`, …), with `[REDACTED]`. Text without either is returned
/// unchanged and unallocated.
///
/// It works on the raw text rather than through a URL parser, so a URL the
/// parser rejects is redacted too (those are exactly the values that end up
/// in error messages), and it errs on the side of hiding: the password is
/// taken to run from the first `:` after `scheme://` to the last `@` on the
/// same line before the next URL, so a password holding spaces, quotes,
/// `@`, `#`, `/`, `?`, `%` or non-ASCII is hidden whole. (A `:` and an `@`
/// that do not belong to a password, as in `http://host:80/ and me@x`,
/// hide the text between them.)
///
/// ```
/// use appenv_config::redact_url;
///
/// assert_eq!(redact_url("mysql://root:pw@db/app"), "mysql://root:[REDACTED]@db/app");
/// assert_eq!(
///     redact_url("postgres://app@db/app?password=pw&sslmode=require"),
///     "postgres://app@db/app?password=[REDACTED]&sslmode=require"
/// );
/// assert_eq!(redact_url("redis://:p w@cache:6379"), "redis://:[REDACTED]@cache:6379");
/// assert_eq!(redact_url("https://h/v1?key=abc&page=2"), "https://h/v1?key=[REDACTED]&page=2");
/// assert_eq!(redact_url("https://example.com/a@b"), "https://example.com/a@b");
/// ```
pub fn redact_url(text: &str) -> Cow<'_, str> {
    // (start, end) byte ranges to replace, in order.
    let mut masks: Vec<(usize, usize)> = Vec::new();
    let mut search = 0usize;
    while let Some(found) = text[search..].find("://") {
        let sep = search + found;
        let auth_start = sep + 3;
        search = auth_start;
        let scheme_start = scheme_start(text, sep);
        if scheme_start == sep {
            continue;
        }
        let line_end = text[auth_start..]
            .find(['\n', '\r'])
            .map_or(text.len(), |i| auth_start + i);
        let bound = next_url_start(text, auth_start, line_end);
        let region = &text[auth_start..bound];
        let rest_start = match region.rfind('@') {
            Some(at) => {
                let at = auth_start + at;
                if let Some(colon) = text[auth_start..at].find(':') {
                    let pw_start = auth_start + colon + 1;
                    if at > pw_start && &text[pw_start..at] != REDACTED {
                        masks.push((pw_start, at));
                    }
                }
                at + 1
            }
            None => auth_start,
        };
        let url_end = text[rest_start..bound]
            .find(|c: char| c.is_whitespace() || c == '"' || c == '\'')
            .map_or(bound, |i| rest_start + i);
        query_masks(text, rest_start, url_end, &mut masks);
        search = search.max(url_end.min(bound));
    }
    if masks.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut done = 0;
    for (start, end) in masks {
        if start < done {
            continue;
        }
        out.push_str(&text[done..start]);
        out.push_str(REDACTED);
        done = end;
    }
    out.push_str(&text[done..]);
    Cow::Owned(out)
}

/// Where the scheme that ends at `sep` (the index of `://`) starts.
fn scheme_start(text: &str, sep: usize) -> usize {
    let bytes = text.as_bytes();
    let mut start = sep;
    while start > 0
        && (bytes[start - 1].is_ascii_alphanumeric() || b"+-.".contains(&bytes[start - 1]))
    {
        start -= 1;
    }
    start
}

/// Where the next URL on the line starts (its scheme after white space, a
/// quote, `(`, `<`, `=` or `,`), or `line_end`.
fn next_url_start(text: &str, from: usize, line_end: usize) -> usize {
    let mut search = from;
    while let Some(found) = text[search..line_end].find("://") {
        let sep = search + found;
        let scheme_start = scheme_start(text, sep);
        let starts_a_url = scheme_start < sep
            && scheme_start > from
            && text[..scheme_start].ends_with(|c: char| {
                c.is_whitespace() || matches!(c, '"' | '\'' | '(' | '<' | '=' | ',')
            });
        if starts_a_url {
            return scheme_start;
        }
        search = sep + 3;
    }
    line_end
}

/// Masks the values of secret query parameters in `text[start..end]`.
fn query_masks(text: &str, start: usize, end: usize, masks: &mut Vec<(usize, usize)>) {
    let Some(q) = text[start..end].find('?') else {
        return;
    };
    let query_start = start + q + 1;
    let query_end = text[query_start..end]
        .find('#')
        .map_or(end, |h| query_start + h);
    let mut pos = query_start;
    for pair in text[query_start..query_end].split('&') {
        if let Some(eq) = pair.find('=') {
            let (value_start, value_end) = (pos + eq + 1, pos + pair.len());
            if is_sensitive_param(&pair[..eq])
                && value_end > value_start
                && &text[value_start..value_end] != REDACTED
            {
                masks.push((value_start, value_end));
            }
        }
        pos += pair.len() + 1;
    }
}

/// Masks every value of a `name=value,name=value` header list (the form of
/// `OTEL_EXPORTER_OTLP_HEADERS`), keeping the names. Every value is masked,
/// not only those with a sensitive name: exporters' headers are
/// credentials more often than not (`x-honeycomb-team`,
/// `lightstep-access-token`, `uptrace-dsn`). A piece without `=` belongs to
/// the value before it (an unencoded comma) and is dropped with it.
///
/// ```
/// use appenv_config::redact_header_list;
///
/// assert_eq!(
///     redact_header_list("api-key=abc123,x-honeycomb-team=def"),
///     "api-key=[REDACTED],x-honeycomb-team=[REDACTED]"
/// );
/// ```
pub fn redact_header_list(text: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    for item in text.split(',') {
        match item.split_once('=') {
            Some((name, value)) if value.trim().is_empty() => out.push(format!("{name}={value}")),
            Some((name, _)) => out.push(format!("{name}={REDACTED}")),
            None if out.is_empty() => out.push(item.to_owned()),
            None => {}
        }
    }
    out.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loose_ipv4_forms() {
        for (text, want) in [
            ("127.0.0.1", Some([127, 0, 0, 1])),
            ("127.1", Some([127, 0, 0, 1])),
            ("127.0.1", Some([127, 0, 0, 1])),
            ("2130706433", Some([127, 0, 0, 1])),
            ("0x7f000001", Some([127, 0, 0, 1])),
            ("0x7f.1", Some([127, 0, 0, 1])),
            ("0177.0.0.1", Some([127, 0, 0, 1])),
            ("0", Some([0, 0, 0, 0])),
            ("10.0.0.256", None),
            ("256.0.0.1", None),
            ("1.2.3.4.5", None),
            ("4294967296", None),
            ("08.0.0.1", None),
            ("db", None),
            ("1e3", None),
            ("", None),
        ] {
            assert_eq!(parse_ipv4_loose(text), want.map(Ipv4Addr::from), "{text}");
        }
    }

    #[test]
    fn host_parse() {
        assert_eq!(
            Host::parse("DB.Internal."),
            Some(Host::Name("db.internal".into()))
        );
        assert_eq!(Host::parse(""), Some(Host::Default));
        assert_eq!(Host::parse("[::1"), None);
        assert_eq!(Host::parse("bad host"), None);
        assert_eq!(Host::parse("%2Ftmp"), Some(Host::Socket("/tmp".into())));
        assert!(Host::parse("[fe80::1%25eth0]").is_some());
    }

    #[test]
    fn redaction_keeps_text_without_urls_borrowed() {
        assert!(matches!(redact_url("plain text"), Cow::Borrowed(_)));
        assert!(matches!(redact_url("https://h/p?page=1"), Cow::Borrowed(_)));
        assert_eq!(
            redact_url("a postgres://u:x@h/db and mysql://r:y@m/db"),
            "a postgres://u:[REDACTED]@h/db and mysql://r:[REDACTED]@m/db"
        );
    }
}
