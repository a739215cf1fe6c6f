//! Redaction of field values by field name, shared by the console formats,
//! the log export and the span export.

use std::fmt;
use std::sync::Arc;

use appenv_config::REDACTED;
use tracing::field::{Field, Visit};
use tracing_subscriber::field::{MakeVisitor, VisitFmt, VisitOutput};
use tracing_subscriber::fmt::format::Writer;

/// Which field names are sensitive: appenv-config's shared list
/// ([`appenv_config::is_sensitive_name`]: `password`, `token`, `api_key`,
/// `signing_key`, …, with `key`/`sig` only as whole words) plus the
/// configured extra names (matched as fragments).
#[derive(Debug, Clone, Default)]
pub(crate) struct Redactor {
    extra: Arc<[String]>,
}

impl Redactor {
    pub(crate) fn new(extra: &[String]) -> Self {
        Redactor {
            extra: extra
                .iter()
                .map(|s| s.trim().to_ascii_lowercase())
                .filter(|s| !s.is_empty())
                .collect(),
        }
    }

    /// Whether values of the field `name` must not be shown.
    pub(crate) fn is_sensitive(&self, name: &str) -> bool {
        if appenv_config::is_sensitive_name(name) {
            return true;
        }
        let lower = name.to_ascii_lowercase();
        self.extra.iter().any(|frag| lower.contains(frag.as_str()))
    }
}

struct RedactedValue;

impl fmt::Debug for RedactedValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// A visitor that hands sensitive fields to the inner visitor as
/// `[REDACTED]`, whatever their type.
#[derive(Debug)]
pub(crate) struct Redact<V> {
    inner: V,
    redactor: Redactor,
}

impl<V> Redact<V> {
    pub(crate) fn new(inner: V, redactor: Redactor) -> Self {
        Redact { inner, redactor }
    }

    pub(crate) fn into_inner(self) -> V {
        self.inner
    }
}

macro_rules! forward {
    ($($method:ident($ty:ty)),*) => {
        $(fn $method(&mut self, field: &Field, value: $ty) {
            if self.redactor.is_sensitive(field.name()) {
                self.inner.record_debug(field, &RedactedValue);
            } else {
                self.inner.$method(field, value);
            }
        })*
    };
}

impl<V: Visit> Visit for Redact<V> {
    forward!(
        record_f64(f64),
        record_i64(i64),
        record_u64(u64),
        record_i128(i128),
        record_u128(u128),
        record_bool(bool),
        record_str(&str),
        record_bytes(&[u8]),
        record_error(&(dyn std::error::Error + 'static)),
        record_debug(&dyn fmt::Debug)
    );
}

impl<V: VisitOutput<fmt::Result>> VisitOutput<fmt::Result> for Redact<V> {
    fn finish(self) -> fmt::Result {
        self.inner.finish()
    }
}

impl<V: VisitFmt> VisitFmt for Redact<V> {
    fn writer(&mut self) -> &mut dyn fmt::Write {
        self.inner.writer()
    }
}

/// A field formatter (for span fields and text event fields) that redacts
/// sensitive fields and otherwise defers to `M`.
#[derive(Debug, Clone)]
pub(crate) struct RedactingFields<M> {
    inner: M,
    redactor: Redactor,
}

impl<M> RedactingFields<M> {
    pub(crate) fn new(inner: M, redactor: Redactor) -> Self {
        RedactingFields { inner, redactor }
    }
}

impl<'w, M> MakeVisitor<Writer<'w>> for RedactingFields<M>
where
    M: MakeVisitor<Writer<'w>>,
{
    type Visitor = Redact<M::Visitor>;

    fn make_visitor(&self, target: Writer<'w>) -> Self::Visitor {
        Redact::new(self.inner.make_visitor(target), self.redactor.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_by_fragment_case_insensitively() {
        let r = Redactor::new(&["ssn".to_owned()]);
        for name in [
            "password",
            "DB_PASSWORD",
            "access_token",
            "Authorization",
            "set-cookie",
            "x-api-key",
            "api_key",
            "jwt",
            "client_secret",
            "user_ssn",
        ] {
            assert!(r.is_sensitive(name), "{name}");
        }
        for name in ["user", "method", "message", "url.path"] {
            assert!(!r.is_sensitive(name), "{name}");
        }
    }

    #[test]
    fn the_list_is_appenv_configs() {
        let r = Redactor::new(&[]);
        for name in [
            "private_key",
            "signing_key",
            "request-signature",
            "passphrase",
        ] {
            assert!(r.is_sensitive(name), "{name}");
        }
        // Whole words only, and a bare `key` is a log field like any other.
        for name in ["monkey", "keyboard", "key"] {
            assert!(!r.is_sensitive(name), "{name}");
        }
    }
}
