//! The crate's one error type.

use std::path::PathBuf;

use crate::policy::PolicyReport;
use crate::secret::redact_url;

/// The exit status a service should use for a configuration error
/// (`EX_CONFIG` from `sysexits.h`).
pub const EXIT_CONFIG: i32 = 78;

/// Everything that can go wrong while loading or checking configuration.
///
/// Every variant names the key, the source (file and line, or variable name)
/// and what was expected. No variant ever carries a secret value or the
/// password of a URL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `APP_ENV` holds a value that is not one of the accepted spellings.
    #[error("APP_ENV=\"{value}\" is not a known environment; accepted values: {accepted}")]
    UnknownEnv {
        /// The value found.
        value: String,
        /// The accepted spellings, comma-separated.
        accepted: String,
    },

    /// A configuration file exists but could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },

    /// A configuration or `.env` file is malformed.
    #[error("malformed {}:{line}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// What the parser expected.
        message: String,
    },

    /// Both `NAME` and `NAME_FILE` are set.
    #[error("both {var} and {var}_FILE are set; set only one (the value or the file holding it)")]
    Conflict {
        /// The variable name without `_FILE`.
        var: String,
    },

    /// A `NAME_FILE` secret file could not be read.
    #[error("cannot read the secret file {} named by {var}_FILE: {source}", path.display())]
    SecretFile {
        /// The variable name without `_FILE`.
        var: String,
        /// The file named.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },

    /// A value has the wrong type or shape for its key.
    #[error("invalid value for {key} (set by {source_name}): {message}")]
    Invalid {
        /// The dotted key.
        key: String,
        /// The source that set it (`env PORT`, `config/production.toml:3`).
        source_name: String,
        /// What was expected; a secret's value is never included.
        message: String,
    },

    /// A policy rule could not evaluate its section.
    #[error("policy rule {rule} could not read its section: {message}")]
    Rule {
        /// The rule id.
        rule: &'static str,
        /// What went wrong.
        message: String,
    },

    /// The policy refused the configuration; the report lists every
    /// violation.
    #[error("{0}")]
    Policy(Box<PolicyReport>),
}

impl Error {
    /// The process exit status for this error: always [`EXIT_CONFIG`] (78).
    pub fn exit_code(&self) -> i32 {
        EXIT_CONFIG
    }

    /// The policy report, for [`Error::Policy`].
    pub fn policy_report(&self) -> Option<&PolicyReport> {
        match self {
            Error::Policy(report) => Some(report),
            _ => None,
        }
    }
}

/// Describes a figment error without the value it found (which may be a
/// secret) and with any URL password redacted.
pub(crate) fn describe_figment_error(err: &figment::Error) -> String {
    use figment::error::Kind;
    let text = match &err.kind {
        Kind::InvalidType(_, expected) => format!("expected {expected}"),
        Kind::InvalidValue(_, expected) => format!("expected {expected}"),
        Kind::InvalidLength(len, expected) => {
            format!("expected {expected}, found {len} element(s)")
        }
        Kind::UnknownVariant(_, expected) => format!("expected one of: {}", expected.join(", ")),
        Kind::UnknownField(field, expected) => {
            format!("unknown key `{field}`; known keys: {}", expected.join(", "))
        }
        Kind::MissingField(field) => format!("missing key `{field}`"),
        Kind::DuplicateField(field) => format!("duplicate key `{field}`"),
        Kind::ISizeOutOfRange(_) | Kind::USizeOutOfRange(_) => "number out of range".to_owned(),
        Kind::Unsupported(actual) => format!("unsupported value type {actual}"),
        Kind::UnsupportedKey(actual, expected) => {
            format!("unsupported key type {actual}, expected {expected}")
        }
        Kind::Message(message) => message.clone(),
    };
    redact_url(&text).into_owned()
}
