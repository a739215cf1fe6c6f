//! Redaction of field values by field name, shared by the console formats,
//! the log export and the span export.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use appenv_config::REDACTED;
use tracing::field::{Field, Visit};
use tracing_subscriber::field::{MakeVisitor, VisitFmt, VisitOutput};
use tracing_subscriber::fmt::format::Writer;

/// Which field names are sensitive: appenv-config's shared list
/// ([`appenv_config::is_sensitive_name`]: `password`, `token`, `api_key`,
/// `signing_key`, …, with `key`/`sig` only as whole words) plus the
/// configured extra names (matched as fragments).
///
/// The verdict for a name is worked out once per thread and kept (see
/// [`VERDICTS`]): deciding splits the name into words, which allocates,
/// and every console line, log record and exported span asks again for
/// the same few dozen field names.
#[derive(Debug, Clone)]
pub(crate) struct Redactor {
    extra: Arc<[String]>,
    /// Which redactor a cached verdict belongs to: 0 for every redactor
    /// without extra names (they all decide alike), else unique.
    id: u64,
}

impl Default for Redactor {
    fn default() -> Self {
        Redactor::new(&[])
    }
}

/// The next [`Redactor::id`] for a redactor with extra names.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// How many verdicts a thread keeps before starting over. Field names are
/// static strings from the program's callsites, a bounded set; attribute
/// names of exported spans can be made at run time, so the cache is capped
/// rather than trusted to stay small.
const MAX_VERDICTS: usize = 1024;

/// Verdicts by field name.
type Verdicts = HashMap<Box<str>, bool, foldhash::fast::RandomState>;

thread_local! {
    /// This thread's verdicts, for the redactor whose id comes first. A
    /// process normally has one redactor; a second one (tests build many)
    /// takes the cache over.
    static VERDICTS: RefCell<(u64, Verdicts)> =
        RefCell::new((0, HashMap::default()));
}

impl Redactor {
    pub(crate) fn new(extra: &[String]) -> Self {
        let extra: Arc<[String]> = extra
            .iter()
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect();
        let id = if extra.is_empty() {
            0
        } else {
            NEXT_ID.fetch_add(1, Ordering::Relaxed)
        };
        Redactor { extra, id }
    }

    /// Whether values of the field `name` must not be shown.
    pub(crate) fn is_sensitive(&self, name: &str) -> bool {
        let cached = VERDICTS.try_with(|cell| {
            // Deciding never logs, so the cell is never borrowed twice; if
            // it were, the verdict is simply worked out again.
            let mut cache = cell.try_borrow_mut().ok()?;
            let (owner, verdicts) = &mut *cache;
            if *owner != self.id {
                *owner = self.id;
                verdicts.clear();
            }
            if let Some(&verdict) = verdicts.get(name) {
                return Some(verdict);
            }
            let verdict = self.decide(name);
            if verdicts.len() >= MAX_VERDICTS {
                verdicts.clear();
            }
            verdicts.insert(name.into(), verdict);
            Some(verdict)
        });
        match cached {
            Ok(Some(verdict)) => verdict,
            // A thread being torn down, or a nested call.
            _ => self.decide(name),
        }
    }

    fn decide(&self, name: &str) -> bool {
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
    fn cached_verdicts_belong_to_their_redactor() {
        // The same names asked of redactors with different extra lists, in
        // turn on one thread: each answers by its own list, not the cache's.
        let plain = Redactor::new(&[]);
        let ssn = Redactor::new(&["ssn".to_owned()]);
        let email = Redactor::new(&[" Email ".to_owned()]);
        for _ in 0..3 {
            assert!(!plain.is_sensitive("user_ssn"));
            assert!(ssn.is_sensitive("user_ssn"));
            assert!(!ssn.is_sensitive("user_email"));
            assert!(email.is_sensitive("user_email"));
            assert!(!email.is_sensitive("user_ssn"));
            assert!(plain.is_sensitive("password") && ssn.is_sensitive("password"));
            assert!(Redactor::default().is_sensitive("api_key"));
        }
    }

    #[test]
    fn more_names_than_the_cache_holds_keep_their_verdicts() {
        let r = Redactor::new(&[]);
        for i in 0..(MAX_VERDICTS * 2 + 7) {
            assert!(!r.is_sensitive(&format!("field_{i}")));
            assert!(r.is_sensitive(&format!("field_{i}_password")));
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
