//! The crate's one error type.

use std::path::PathBuf;

use serde_json::{Value as Json, json};

use crate::policy::PolicyReport;
use crate::provenance::Source;
use crate::secret::redact_url;

/// The exit status a service should use for a configuration error
/// (`EX_CONFIG` from `sysexits.h`).
pub const EXIT_CONFIG: i32 = 78;

/// The largest `NAME_FILE` secret file the loader reads (64 KiB): a secret
/// file holds one value; anything larger is a wrong path (a log, a binary).
pub const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

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

    /// Both `NAME` and `NAME_FILE` are set in the same source (a higher
    /// source setting one of them simply wins over a lower one).
    #[error(
        "both {var} ({value_origin}) and {var}_FILE ({file_origin}) are set; set only one (the value or the file holding it)"
    )]
    Conflict {
        /// The variable name without `_FILE`.
        var: String,
        /// Where `NAME` was set.
        value_origin: Box<Source>,
        /// Where `NAME_FILE` was set.
        file_origin: Box<Source>,
    },

    /// A `NAME_FILE` secret file is larger than [`MAX_SECRET_FILE_BYTES`].
    #[error("the secret file {} named by {var}_FILE is larger than {limit} bytes; a secret file holds one value", path.display())]
    SecretFileTooLarge {
        /// The variable name without `_FILE`.
        var: String,
        /// The file named.
        path: PathBuf,
        /// The limit in bytes.
        limit: u64,
    },

    /// A variable the configuration reads holds bytes that are not UTF-8.
    #[error("variable {var} is not valid UTF-8; configuration values must be text")]
    NotUnicode {
        /// The variable's name (lossily decoded).
        var: String,
    },

    /// A configuration file sets a key no section knows.
    #[error("{origin} sets `{key}`, which is not a known setting{}", suggestion.as_ref().map(|s| format!("; did you mean `{s}`?")).unwrap_or_default())]
    UnknownKey {
        /// The dotted key.
        key: String,
        /// The file and line.
        origin: Source,
        /// The closest known key, if one is close.
        suggestion: Option<String>,
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
    #[error("invalid value for {key} (set by {origin}): {message}")]
    Invalid {
        /// The dotted key.
        key: String,
        /// The source that set it (`env PORT`, `config/production.toml:3`).
        origin: Source,
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

    /// The key this error is about, when it is about one.
    pub fn key(&self) -> Option<&str> {
        match self {
            Error::UnknownEnv { .. } => Some("APP_ENV"),
            Error::Invalid { key, .. } | Error::UnknownKey { key, .. } => Some(key),
            _ => None,
        }
    }

    /// The source this error comes from, when there is one.
    pub fn origin(&self) -> Option<Source> {
        match self {
            Error::UnknownEnv { .. } => Some(Source::Env {
                var: crate::env::APP_ENV_VAR.to_owned(),
            }),
            Error::Parse { path, line, .. } => Some(Source::File {
                path: path.clone(),
                line: *line,
            }),
            Error::Conflict { file_origin, .. } => Some(file_origin.as_ref().clone()),
            Error::SecretFile { var, path, .. } | Error::SecretFileTooLarge { var, path, .. } => {
                Some(Source::SecretFile {
                    var: format!("{var}_FILE"),
                    path: path.clone(),
                })
            }
            Error::NotUnicode { var } => Some(Source::Env { var: var.clone() }),
            Error::Invalid { origin, .. } | Error::UnknownKey { origin, .. } => {
                Some(origin.clone())
            }
            Error::ReadFile { .. } | Error::Rule { .. } | Error::Policy(_) => None,
        }
    }

    /// The error as the stable `check` document:
    /// `{"env": …, "errors": [{"key", "source", "message"}], "violations":
    /// […], "warnings": […], "waived": […]}`. A policy refusal lists its
    /// findings under `violations` and has no `errors`; any other error is
    /// one entry of `errors` (`key` and `source` are `null` when the error
    /// has none). `env` is the environment's name, `null` when `APP_ENV`
    /// itself is the error.
    pub fn to_json(&self, env: Option<&str>) -> Json {
        if let Error::Policy(report) = self {
            let mut doc = report.to_json();
            doc["errors"] = json!([]);
            return doc;
        }
        json!({
            "env": env,
            "errors": [{
                "key": self.key(),
                "source": self.origin().map(|s| s.to_string()),
                "message": self.to_string(),
            }],
            "violations": [],
            "warnings": [],
            "waived": [],
        })
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
