//! Placeholder secrets: a built-in list, plus a service's own
//! `.env.example` compiled into its binary with [`placeholders!`], so a
//! container without the file still refuses the example's values.

/// Values that are never real secrets, compared whole (case-insensitive).
const EXACT: &[&str] = &[
    "changeme",
    "secret",
    "password",
    "development_password",
    "dev_password",
    "test",
    "example",
    "default",
    "xxx",
    "[redacted]",
    "null",
    "none",
    "undefined",
];

/// Pieces that mark a value as a placeholder wherever they appear in it
/// (case-insensitive): `replace-me-with-32-or-more-random-bytes`,
/// `your-secret-here`, Django's `django-insecure-…` development keys.
const FRAGMENTS: &[&str] = &[
    "changeme",
    "change-me",
    "change_me",
    "replaceme",
    "replace-me",
    "replace_me",
    "your-secret",
    "your_secret",
    "yoursecret",
    "placeholder",
    "insecure",
    "not-a-secret",
    "notasecret",
    "dummy",
];

/// The placeholder values a service ships in its own `.env.example`,
/// compiled in with [`placeholders!`](crate::placeholders!) (or read from text with
/// [`Placeholders::from_env_example`]) and handed to
/// [`crate::Loader::placeholders`]: the `secret.placeholder` rule refuses
/// them in production whether or not the file is present where the service
/// runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placeholders {
    values: Vec<String>,
}

impl Placeholders {
    /// The non-empty values of a `.env`-format text (comments and
    /// commented-out lines ignored; a malformed line is skipped).
    ///
    /// ```
    /// use appenv_config::Placeholders;
    ///
    /// let p = Placeholders::from_env_example("# JWT_SECRET=commented\nJWT_SECRET=from-the-example\nEMPTY=\n");
    /// assert!(p.contains("from-the-example"));
    /// assert!(!p.contains("commented"));
    /// assert_eq!(p.len(), 1);
    /// ```
    pub fn from_env_example(text: &str) -> Placeholders {
        Placeholders {
            values: dotenvy::from_read_iter(text.as_bytes())
                .filter_map(Result::ok)
                .map(|(_, value)| value)
                .filter(|value| !value.trim().is_empty())
                .collect(),
        }
    }

    pub(crate) fn from_values(values: &[String]) -> Placeholders {
        Placeholders {
            values: values.to_vec(),
        }
    }

    /// Whether `value` (surrounding white space ignored) is one of them.
    pub fn contains(&self, value: &str) -> bool {
        let value = value.trim();
        !value.is_empty() && self.values.iter().any(|v| v.trim() == value)
    }

    /// How many values there are.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// `true` when there are none.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Adds the values of `other`.
    pub fn extend(&mut self, other: Placeholders) {
        self.values.extend(other.values);
    }
}

/// Compiles a service's `.env.example` into its binary as [`Placeholders`]
/// for [`crate::Loader::placeholders`]. The path is relative to the calling
/// crate's `Cargo.toml` (its `CARGO_MANIFEST_DIR`), and the file is read at
/// build time (`include_str!`), so the running service needs no copy of it.
///
/// ```
/// use appenv_config::{Loader, ServerConfig};
///
/// // A service writes `placeholders!(".env.example")`; this crate's own
/// // example file lives under `tests/fixtures/`.
/// let placeholders = appenv_config::placeholders!("tests/fixtures/env.example");
/// assert!(placeholders.contains("compiled-in-example-value-Zq3v9w0P1b2n4m5k6"));
/// let loader = Loader::hermetic([("APP_ENV", "production")]).placeholders(placeholders);
/// # let _ = loader.config_dir("does-not-exist").load::<ServerConfig>().unwrap();
/// ```
#[macro_export]
macro_rules! placeholders {
    ($path:literal) => {
        $crate::Placeholders::from_env_example(::core::include_str!(::core::concat!(
            ::core::env!("CARGO_MANIFEST_DIR"),
            "/",
            $path
        )))
    };
}

/// Whether `value` is a built-in placeholder or one of `extra`.
pub(crate) fn is_placeholder(value: &str, extra: &Placeholders) -> bool {
    let lower = value.trim().to_lowercase();
    EXACT.contains(&lower.as_str())
        || FRAGMENTS.iter().any(|f| lower.contains(f))
        || extra.contains(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_and_extra_placeholders() {
        let none = Placeholders::default();
        assert!(is_placeholder("changeme", &none));
        assert!(is_placeholder(
            "  CHANGEME-please-0123456789abcdefghijk ",
            &none
        ));
        assert!(is_placeholder(
            "replace-me-with-32-or-more-random-bytes",
            &none
        ));
        assert!(!is_placeholder("Zq3v9w0P1b2n4m5k6j7h8g9f0d1s2a3q", &none));
        let extra = Placeholders::from_env_example("A=from-example-file\n");
        assert!(is_placeholder(" from-example-file", &extra));
        assert!(!is_placeholder("", &extra));
    }
}
