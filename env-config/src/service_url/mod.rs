//! [`ServiceUrl`]: a database, Redis or OTLP URL parsed once — scheme and
//! backend, every host, loopback, database name, TLS mode — and the
//! redaction of URLs and header lists ([`redact_url`],
//! [`redact_header_list`]).
//!
//! The policy rules, the migrator, the rate limiter's Redis backend and
//! telemetry's OTLP checks all read a URL through this module, so they
//! agree on what it points at.

mod host;
mod redact;
mod tls;

use std::fmt;

pub use host::{Host, HostPort, is_loopback_host};
pub use redact::{redact_header_list, redact_url};
pub use tls::Tls;

use crate::secret::REDACTED;
use crate::sensitive::is_sensitive_param;
use host::parse_host_list;
use tls::{ignored_tls_params, tls_mode};

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

/// The percent-decoded password of a `scheme://user:password@host…` URL;
/// `None` when `raw` is not such a URL or carries no password. For deciding
/// how a secret's fingerprint may be shown; never for display.
pub(crate) fn password_of(raw: &str) -> Option<String> {
    let (scheme, rest) = raw.trim().split_once(':')?;
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return None;
    }
    let after = rest.strip_prefix("//")?;
    let authority = &after[..after.find(['/', '?', '#']).unwrap_or(after.len())];
    let userinfo = &authority[..authority.rfind('@')?];
    let (_, password) = userinfo.split_once(':')?;
    (!password.is_empty()).then(|| {
        percent_encoding::percent_decode_str(password)
            .decode_utf8_lossy()
            .into_owned()
    })
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
