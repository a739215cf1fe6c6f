//! [`Secret`] and [`SecretUrl`]: values that never print.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;

use secrecy::{ExposeSecret, SecretBox};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use secrecy::zeroize::Zeroize;

// Other modules reach URL redaction through here too.
pub(crate) use crate::service_url::redact_url;
use crate::service_url::{ServiceUrl, UrlError};

/// What every redacted value prints as.
pub const REDACTED: &str = "[REDACTED]";

thread_local! {
    /// Set while the loader serializes a section's defaults or an override:
    /// those values are fed back into the loader, so they must keep their
    /// real contents (a redacted default would load as `[REDACTED]`).
    static EXPOSE: Cell<bool> = const { Cell::new(false) };
}

fn exposing() -> bool {
    EXPOSE.with(Cell::get)
}

/// Serializes `value` with every [`Secret`] and [`SecretUrl`] in plain text.
/// Only the loader uses it, for values it reads back (defaults and
/// overrides); what it returns never reaches an output unredacted.
pub(crate) fn to_value_exposed<T: Serialize + ?Sized>(
    value: &T,
) -> serde_json::Result<serde_json::Value> {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            EXPOSE.with(|e| e.set(self.0));
        }
    }
    let _restore = Restore(EXPOSE.with(|e| e.replace(true)));
    serde_json::to_value(value)
}

/// A value that prints as `[REDACTED]` in `Debug`, `Display` and `Serialize`,
/// and so in provenance output, logs and error messages. Read it with
/// [`Secret::expose`]. The memory is zeroed on drop (built on
/// [`secrecy::SecretBox`]).
///
/// Deserializing reads the plain value, so a `Secret<String>` field loads
/// from files and variables like any string.
///
/// ```
/// use appenv_config::Secret;
///
/// let s = Secret::new(String::from("hunter2-hunter2"));
/// assert_eq!(format!("{s:?} {s}"), "[REDACTED] [REDACTED]");
/// assert_eq!(serde_json::to_string(&s).unwrap(), "\"[REDACTED]\"");
/// assert_eq!(s.expose(), "hunter2-hunter2");
/// ```
pub struct Secret<T: Zeroize>(SecretBox<T>);

/// A secret string, the common case.
pub type SecretString = Secret<String>;

impl<T: Zeroize> Secret<T> {
    /// Wraps a value.
    pub fn new(value: T) -> Self {
        Secret(SecretBox::new(Box::new(value)))
    }

    /// The plain value. Keep the borrow short and never log it.
    pub fn expose(&self) -> &T {
        self.0.expose_secret()
    }
}

impl<T: Zeroize + Clone> Clone for Secret<T> {
    fn clone(&self) -> Self {
        Secret::new(self.expose().clone())
    }
}

impl<T: Zeroize + PartialEq> PartialEq for Secret<T> {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl<T: Zeroize> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T: Zeroize> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T: Zeroize + Serialize> Serialize for Secret<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if exposing() {
            self.expose().serialize(serializer)
        } else {
            serializer.serialize_str(REDACTED)
        }
    }
}

impl<'de, T: Zeroize + Deserialize<'de>> Deserialize<'de> for Secret<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Secret::new)
    }
}

impl From<&str> for Secret<String> {
    fn from(value: &str) -> Self {
        Secret::new(value.to_owned())
    }
}

impl From<String> for Secret<String> {
    fn from(value: String) -> Self {
        Secret::new(value)
    }
}

/// A URL that may carry credentials, such as a database URL. `Debug`,
/// `Display` and `Serialize` print it with the password replaced by
/// `[REDACTED]`, so it stays useful in explain output (host, database,
/// options) without leaking the password.
///
/// ```
/// use appenv_config::SecretUrl;
///
/// let url = SecretUrl::from("postgres://app:s3cret@db.internal:5432/app?sslmode=require");
/// assert_eq!(
///     url.to_string(),
///     "postgres://app:[REDACTED]@db.internal:5432/app?sslmode=require"
/// );
/// assert!(url.expose().contains("s3cret"));
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretUrl(String);

impl SecretUrl {
    /// Wraps a URL.
    pub fn new(url: impl Into<String>) -> Self {
        SecretUrl(url.into())
    }

    /// The URL with its password. Hand it to the driver; never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with the password replaced by `[REDACTED]`.
    pub fn redacted(&self) -> Cow<'_, str> {
        redact_url(&self.0)
    }

    /// `true` when no URL was given.
    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }

    /// The parsed URL, when it parses.
    pub fn parsed(&self) -> Option<url::Url> {
        url::Url::parse(&self.0).ok()
    }

    /// The URL classified: backend, hosts, loopback, database name and TLS
    /// mode, without the password (see [`ServiceUrl`]).
    ///
    /// # Errors
    /// When the URL does not parse; the error never shows the password.
    pub fn service_url(&self) -> Result<ServiceUrl, UrlError> {
        ServiceUrl::parse(&self.0)
    }
}

impl From<&str> for SecretUrl {
    fn from(value: &str) -> Self {
        SecretUrl::new(value)
    }
}

impl From<String> for SecretUrl {
    fn from(value: String) -> Self {
        SecretUrl::new(value)
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for SecretUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if exposing() {
            serializer.serialize_str(&self.0)
        } else {
            serializer.serialize_str(&self.redacted())
        }
    }
}

impl<'de> Deserialize<'de> for SecretUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(SecretUrl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s: Secret<String> = serde_json::from_str("\"sentinel-7f3a\"").unwrap();
        for out in [
            format!("{s:?}"),
            format!("{s}"),
            format!("{s:#?}"),
            serde_json::to_string(&s).unwrap(),
        ] {
            assert!(!out.contains("sentinel"), "{out}");
        }
        assert_eq!(s.clone().expose(), "sentinel-7f3a");
    }

    #[test]
    fn url_password_is_redacted_even_when_unparseable() {
        let cases = [
            ("postgres://u:p@h/db", "postgres://u:[REDACTED]@h/db"),
            (
                "postgres://u:p/w@rd@h:5432/db",
                "postgres://u:[REDACTED]@h:5432/db",
            ),
            (
                "a postgres://u:x@h/db and mysql://r:y@m/db",
                "a postgres://u:[REDACTED]@h/db and mysql://r:[REDACTED]@m/db",
            ),
            ("sqlite://data/app.db", "sqlite://data/app.db"),
            ("postgres://user@h/db", "postgres://user@h/db"),
            ("no url at all", "no url at all"),
            (
                "postgres://app@h/db?sslmode=require&password=p%40ss&x=1",
                "postgres://app@h/db?sslmode=require&password=[REDACTED]&x=1",
            ),
            (
                "mysql://u:p@h/db?sslpassword=k#frag PWD=x",
                "mysql://u:[REDACTED]@h/db?sslpassword=[REDACTED]#frag PWD=x",
            ),
            (
                "https://h/a?page=2&password=",
                "https://h/a?page=2&password=",
            ),
            (
                "postgres://u:[REDACTED]@h/db",
                "postgres://u:[REDACTED]@h/db",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(redact_url(input), want, "{input}");
        }
        assert!(matches!(redact_url("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn exposed_serialization_is_scoped_to_the_call() {
        let s = Secret::new(String::from("plain"));
        let url = SecretUrl::from("postgres://u:pw@h/db");
        let exposed = to_value_exposed(&(&s, &url)).unwrap();
        assert_eq!(
            exposed,
            serde_json::json!(["plain", "postgres://u:pw@h/db"])
        );
        let after = serde_json::to_value((&s, &url)).unwrap();
        assert_eq!(
            after,
            serde_json::json!([REDACTED, "postgres://u:[REDACTED]@h/db"])
        );
    }

    #[test]
    fn secret_url_debug_and_serialize_redact() {
        let url = SecretUrl::from("postgres://app:pa55word@db/app");
        assert!(!format!("{url:?}").contains("pa55word"));
        assert!(!serde_json::to_string(&url).unwrap().contains("pa55word"));
        assert_eq!(url.parsed().unwrap().password(), Some("pa55word"));
    }
}
