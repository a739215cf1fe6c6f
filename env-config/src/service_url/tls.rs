//! [`Tls`]: the TLS mode of a URL, as its driver reads it.

use super::{UrlBackend, UrlError};

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

/// The TLS mode, and the setting it came from.
pub(super) fn tls_mode(
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
pub(super) fn ignored_tls_params(backend: UrlBackend, pairs: &[(String, String)]) -> Vec<String> {
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
