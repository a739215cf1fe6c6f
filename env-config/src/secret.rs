//! [`Secret`] and [`SecretUrl`]: values that never print.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;

use secrecy::{ExposeSecret, SecretBox};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use secrecy::zeroize::Zeroize;

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

/// Replaces the password of every `scheme://user:password@host` URL inside
/// `text` with `[REDACTED]`. Text without such a URL is returned unchanged
/// and unallocated.
///
/// It works on the raw text rather than through a URL parser so that a URL
/// the parser rejects (an unescaped `@` or `/` in the password, a typo in the
/// port) is redacted too: those are exactly the values that end up in error
/// messages.
///
/// Password-like query parameters (`password`, `sslpassword`, `token`,
/// `secret`, …) are masked too: drivers accept a password there as well.
///
/// ```
/// use appenv_config::redact_url;
///
/// assert_eq!(redact_url("mysql://root:pw@db/app"), "mysql://root:[REDACTED]@db/app");
/// assert_eq!(
///     redact_url("postgres://app@db/app?password=pw&sslmode=require"),
///     "postgres://app@db/app?password=[REDACTED]&sslmode=require"
/// );
/// assert_eq!(redact_url("redis://:pw@cache:6379"), "redis://:[REDACTED]@cache:6379");
/// assert_eq!(redact_url("https://example.com/a@b"), "https://example.com/a@b");
/// ```
pub fn redact_url(text: &str) -> Cow<'_, str> {
    let userinfo = redact_userinfo(text);
    match redact_query_secrets(&userinfo) {
        Some(owned) => Cow::Owned(owned),
        None => userinfo,
    }
}

/// Query parameters whose value is a credential (`postgres://h/db?password=…`
/// is how libpq and many drivers also accept a password).
fn is_secret_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    matches!(name.as_str(), "pass" | "pwd" | "key" | "auth")
        || ["password", "passwd", "secret", "token", "api_key", "apikey"]
            .iter()
            .any(|word| name.contains(word))
}

/// Masks the values of credential query parameters in every URL of `text`;
/// `None` when there is nothing to mask.
fn redact_query_secrets(text: &str) -> Option<String> {
    let mut out = String::new();
    let mut done = 0usize;
    let mut search = 0usize;
    while let Some(idx) = text[search..].find("://") {
        let start = search + idx + 3;
        let len = text[start..]
            .find(|c: char| c.is_whitespace() || c == '"' || c == '\'')
            .unwrap_or(text.len() - start);
        let end = start + len;
        let token = &text[start..end];
        if let Some(q) = token.find('?') {
            let query_start = start + q + 1;
            let query_end = text[query_start..end]
                .find('#')
                .map_or(end, |h| query_start + h);
            let mut pos = query_start;
            for pair in text[query_start..query_end].split('&') {
                if let Some(eq) = pair.find('=') {
                    let (value_start, value_end) = (pos + eq + 1, pos + pair.len());
                    if is_secret_param(&pair[..eq])
                        && value_end > value_start
                        && &text[value_start..value_end] != REDACTED
                    {
                        out.push_str(&text[done..value_start]);
                        out.push_str(REDACTED);
                        done = value_end;
                    }
                }
                pos += pair.len() + 1;
            }
        }
        search = end;
    }
    if done == 0 {
        return None;
    }
    out.push_str(&text[done..]);
    Some(out)
}

fn redact_userinfo(text: &str) -> Cow<'_, str> {
    let mut out: Option<String> = None;
    let mut rest = text;
    let mut done = 0usize;
    while let Some(idx) = rest.find("://") {
        let authority_start = done + idx + 3;
        let after = &text[authority_start..];
        // The authority ends at the last '@' before any white space or
        // quote; a password may itself contain '/', '?', '#' or '@'.
        let token_end = after
            .find(|c: char| c.is_whitespace() || c == '"' || c == '\'')
            .unwrap_or(after.len());
        let token = &after[..token_end];
        let next = authority_start;
        if let Some(at) = token.rfind('@') {
            let userinfo = &token[..at];
            if let Some(colon) = userinfo.find(':') {
                let pw_start = authority_start + colon + 1;
                let pw_end = authority_start + at;
                if pw_end > pw_start && &text[pw_start..pw_end] != REDACTED {
                    let buf = out.get_or_insert_with(String::new);
                    buf.push_str(&text[done..pw_start]);
                    buf.push_str(REDACTED);
                    done = pw_end;
                    rest = &text[pw_end..];
                    continue;
                }
            }
        }
        let buf = out.get_or_insert_with(String::new);
        buf.push_str(&text[done..next]);
        done = next;
        rest = &text[next..];
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut buf) => {
            buf.push_str(&text[done..]);
            if buf == text {
                Cow::Borrowed(text)
            } else {
                Cow::Owned(buf)
            }
        }
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
