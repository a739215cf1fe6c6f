//! Provenance: for every key, the value each source gave it, lowest to
//! highest precedence, and the [`Explain`] view built from it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use crate::env::AppEnv;
use crate::rotation::{Reload, ReloadMode};
use crate::secret::{REDACTED, redact_url};

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// The section's default for the environment.
    Default,
    /// A TOML file, with the 1-based line of the key.
    File {
        /// The file as named to the loader (`config/production.toml`).
        path: PathBuf,
        /// The line that set the key.
        line: usize,
    },
    /// A `.env` or `.env.local` file (local only).
    Dotenv {
        /// The file.
        path: PathBuf,
        /// The line that set the variable.
        line: usize,
        /// The variable name.
        var: String,
    },
    /// A process environment variable.
    Env {
        /// Its name, exactly as set (prefix included).
        var: String,
    },
    /// A `NAME_FILE` secret file.
    SecretFile {
        /// The variable naming the file (`JWT_SECRET_FILE`).
        var: String,
        /// The file.
        path: PathBuf,
    },
    /// An explicit override from code or the command line.
    Override,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File { path, line } => write!(f, "{}:{line}", path.display()),
            Source::Dotenv { path, line, var } => {
                write!(f, "{}:{line} ({var})", path.display())
            }
            Source::Env { var } => write!(f, "env {var}"),
            Source::SecretFile { var, path } => {
                write!(f, "secret file {} ({var})", path.display())
            }
            Source::Override => f.write_str("override"),
        }
    }
}

/// Serialized as its `Display` form (`"env PORT"`, `"config/production.toml:3"`),
/// the stable text of the `explain` and `check` documents.
impl Serialize for Source {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Compares with the `Display` form, so `entry.source == "env PORT"` reads
/// as the output does.
impl PartialEq<str> for Source {
    fn eq(&self, other: &str) -> bool {
        let text: String = self.to_string();
        text.as_str() == other
    }
}

impl PartialEq<&str> for Source {
    fn eq(&self, other: &&str) -> bool {
        self == *other
    }
}

impl Source {
    /// The variable behind a variable or secret-file source (`PORT`,
    /// `JWT_SECRET_FILE`, or the name a `.env` line set).
    pub fn var(&self) -> Option<&str> {
        match self {
            Source::Env { var } | Source::SecretFile { var, .. } | Source::Dotenv { var, .. } => {
                Some(var)
            }
            _ => None,
        }
    }
}

/// One source's value for one key.
#[derive(Debug, Clone)]
pub(crate) struct Layer {
    pub(crate) source: Source,
    pub(crate) value: Json,
}

/// The side table: every key that any source set, with each layer in
/// precedence order (last wins).
#[derive(Debug, Clone, Default)]
pub(crate) struct Provenance {
    pub(crate) layers: BTreeMap<String, Vec<Layer>>,
}

impl Provenance {
    pub(crate) fn record(&mut self, key: String, source: Source, value: Json) {
        self.layers
            .entry(key)
            .or_default()
            .push(Layer { source, value });
    }

    /// The winning source of `key`, or of the nearest parent that a source
    /// set as a whole.
    pub(crate) fn winner(&self, key: &str) -> Option<&Layer> {
        let mut probe = key;
        loop {
            if let Some(layer) = self.layers.get(probe).and_then(|l| l.last()) {
                return Some(layer);
            }
            probe = &probe[..probe.rfind('.')?];
        }
    }

    pub(crate) fn source_of(&self, key: &str) -> Source {
        self.winner(key)
            .map_or(Source::Default, |l| l.source.clone())
    }

    pub(crate) fn is_default(&self, key: &str) -> bool {
        self.winner(key)
            .is_none_or(|l| matches!(l.source, Source::Default))
    }
}

/// A key's shadowed lower-precedence value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Shadowed {
    /// Where it came from.
    pub source: Source,
    /// Its value, redacted like the effective one.
    pub value: Json,
}

/// One effective key in [`Explain`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExplainEntry {
    /// The dotted key.
    pub key: String,
    /// The effective value, redacted (`"[REDACTED]"` for secrets, URLs
    /// without their password).
    pub value: Json,
    /// The source that set it.
    pub source: Source,
    /// The lower sources it shadowed, highest first.
    pub shadowed: Vec<Shadowed>,
    /// For a secret: `static`, or reloadable with when it was last loaded
    /// and its value's fingerprint. Absent for other keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reload: Option<Reload>,
}

/// Every effective key with its redacted value, the source that set it and
/// the sources it shadowed; plus a fingerprint of the redacted effective
/// configuration.
///
/// Its JSON form is stable: `{"env": "staging", "tier": "staging", "fingerprint": "…",
/// "entries": [{"key", "value", "source", "shadowed": [{"source",
/// "value"}]}]}`. `Display` renders an aligned table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explain {
    /// The environment's name (a tier, or a named environment).
    pub env: String,
    /// The tier whose defaults and policy apply.
    pub tier: AppEnv,
    /// SHA-256 (hex, first 16 digits) of the redacted effective
    /// configuration (and of the versions of reloadable secrets); replicas
    /// with different config show different prints.
    pub fingerprint: String,
    /// Every effective key, sorted.
    pub entries: Vec<ExplainEntry>,
}

impl Explain {
    /// The explain document as JSON.
    pub fn to_json(&self) -> Json {
        serde_json::to_value(self).unwrap_or(Json::Null)
    }

    /// Looks up one entry by dotted key.
    pub fn get(&self, key: &str) -> Option<&ExplainEntry> {
        self.entries.iter().find(|e| e.key == key)
    }
}

fn render(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl fmt::Display for Explain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key_w = self
            .entries
            .iter()
            .map(|e| e.key.len())
            .max()
            .unwrap_or(3)
            .max(3);
        let val_w = self
            .entries
            .iter()
            .map(|e| render(&e.value).chars().count().min(60))
            .max()
            .unwrap_or(5)
            .max(5);
        writeln!(
            f,
            "environment: {}{}  fingerprint: {}",
            self.env,
            if self.env == self.tier.as_str() {
                String::new()
            } else {
                format!(" (tier {})", self.tier)
            },
            self.fingerprint
        )?;
        writeln!(f, "{:key_w$}  {:val_w$}  SOURCE", "KEY", "VALUE")?;
        for e in &self.entries {
            let mut value = render(&e.value);
            if value.chars().count() > 60 {
                value = value.chars().take(57).collect::<String>() + "...";
            }
            write!(f, "{:key_w$}  {:val_w$}  {}", e.key, value, e.source)?;
            if let Some(reload) = &e.reload {
                write!(f, "  [{reload}]")?;
            }
            for s in &e.shadowed {
                write!(f, "  (shadows {} = {})", s.source, render(&s.value))?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// Flattens a JSON tree into dotted leaf keys. Arrays and empty objects are
/// leaves.
pub(crate) fn flatten(prefix: &str, value: &Json, out: &mut Vec<(String, Json)>) {
    match value {
        Json::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        other => out.push((prefix.to_owned(), other.clone())),
    }
}

/// Redacts a value for output: a sensitive key prints `[REDACTED]`
/// entirely, and any URL password inside a string is masked.
pub(crate) fn redact_value(value: &Json, sensitive: bool) -> Json {
    if sensitive && !value.is_null() {
        return Json::String(REDACTED.to_owned());
    }
    match value {
        Json::String(s) => Json::String(redact_url(s).into_owned()),
        Json::Array(items) => Json::Array(items.iter().map(|v| redact_value(v, false)).collect()),
        Json::Object(map) => Json::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), redact_value(v, false)))
                .collect(),
        ),
        other => other.clone(),
    }
}

pub(crate) fn fingerprint(env: &str, entries: &[ExplainEntry]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(env.as_bytes());
    for e in entries {
        hasher.update(b"\0");
        hasher.update(e.key.as_bytes());
        hasher.update(b"=");
        hasher.update(e.value.to_string().as_bytes());
        // A reloadable secret's version counts: replicas that picked up
        // different versions of a rotated secret print differently. A
        // process-local print would make every replica differ, so it is
        // left out.
        if let Some(Reload {
            mode: ReloadMode::File,
            fingerprint: Some(print),
            ..
        }) = &e.reload
            && !print.starts_with(crate::rotation::LOCAL_PRINT)
        {
            hasher.update(b"@");
            hasher.update(print.as_bytes());
        }
    }
    let digest = hasher.finalize();
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}
