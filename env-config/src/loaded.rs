//! [`Loaded`]: a loaded configuration with its environment, policy report,
//! provenance and the loader's own warnings.

use std::fmt;
use std::sync::Arc;

use serde_json::{Value as Json, json};

use crate::env::{AppEnv, Environment};
use crate::error::Error;
use crate::policy::{PolicyFinding, PolicyReport};
use crate::provenance::{Explain, Source};
use crate::rotation::{KeyRing, LiveExplain, ReloadOptions, Rotation, SecretHandle};
use crate::secret::to_value_exposed;

/// A loaded configuration with its environment, policy report and
/// provenance.
pub struct Loaded<C> {
    pub(crate) config: C,
    pub(crate) environment: Environment,
    pub(crate) env_unset: bool,
    pub(crate) policy: PolicyReport,
    pub(crate) explain: Explain,
    pub(crate) warnings: Vec<PolicyFinding>,
    pub(crate) rotation: Arc<Rotation>,
}

impl<C> fmt::Debug for Loaded<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The typed config is left out: its own Debug may not redact
        // fields the registry marked as secrets.
        f.debug_struct("Loaded")
            .field("environment", &self.environment)
            .field("fingerprint", &self.explain.fingerprint)
            .field("policy", &self.policy)
            .field("warnings", &self.warnings)
            .finish_non_exhaustive()
    }
}

impl<C> Loaded<C> {
    /// The typed configuration.
    pub fn config(&self) -> &C {
        &self.config
    }

    /// The typed configuration, by value.
    pub fn into_config(self) -> C {
        self.config
    }

    /// The tier it was loaded for (a named environment's tier).
    pub fn env(&self) -> AppEnv {
        self.environment.tier()
    }

    /// The environment: its name (`preview`) and its tier (`staging`).
    pub fn environment(&self) -> &Environment {
        &self.environment
    }

    /// `true` when `APP_ENV` was unset (and so the environment is local).
    pub fn env_was_unset(&self) -> bool {
        self.env_unset
    }

    /// The policy report.
    pub fn policy(&self) -> &PolicyReport {
        &self.policy
    }

    /// Every effective key with its redacted value and sources.
    pub fn explain(&self) -> &Explain {
        &self.explain
    }

    /// The fingerprint of the redacted effective configuration.
    pub fn fingerprint(&self) -> &str {
        &self.explain.fingerprint
    }

    /// The loader's own warnings (rule ids `config.*`): ignored `.env`
    /// files, "did you mean" hints, names that clash, unknown waivers, an
    /// unset `APP_ENV` beside a sibling variable that names production.
    /// Policy warnings are in [`Loaded::policy`]; [`Loaded::check_json`]
    /// lists both.
    pub fn warnings(&self) -> &[PolicyFinding] {
        &self.warnings
    }

    /// The `check` document: the policy report's
    /// `{"env", "tier", "violations", "warnings", "waived"}` with the
    /// loader's warnings added to `warnings` (before the policy's) and an
    /// empty `errors` list, the same shape [`Error::to_json`] gives a load
    /// error.
    pub fn check_json(&self) -> Json {
        let mut doc = self.policy.to_json();
        let mut warnings: Vec<Json> = self
            .warnings
            .iter()
            .map(|w| serde_json::to_value(w).unwrap_or(Json::Null))
            .collect();
        if let Some(Json::Array(policy)) = doc.get_mut("warnings") {
            warnings.append(policy);
        }
        doc["warnings"] = Json::Array(warnings);
        doc["errors"] = json!([]);
        doc
    }

    /// The `explain` document ([`Explain::to_json`]) with the loader's
    /// warnings as a `warnings` array.
    pub fn explain_json(&self) -> Json {
        let mut doc = self.explain.to_json();
        doc["warnings"] = serde_json::to_value(&self.warnings).unwrap_or(Json::Null);
        doc
    }

    /// Refuses a configuration with policy violations.
    ///
    /// # Errors
    /// [`Error::Policy`] with the whole report.
    pub fn enforce(self) -> Result<Self, Error> {
        if self.policy.is_ok() {
            Ok(self)
        } else {
            Err(Error::Policy(Box::new(self.policy)))
        }
    }

    /// Logs, through `tracing`, what a service should say once at startup:
    /// that `APP_ENV` was unset, the loader and policy warnings, every
    /// waived rule, and the fingerprint. Call it once the subscriber is
    /// installed (telemetry is configured from this very configuration).
    pub fn log_startup(&self) {
        if self.env_unset {
            tracing::info!(target: "appenv_config", "APP_ENV is unset: running as local");
        }
        for finding in self.warnings.iter().chain(&self.policy.warnings) {
            tracing::warn!(target: "appenv_config", rule = finding.rule, key = %finding.key, source = %finding.source, fix = %finding.fix, "{}", finding.message);
        }
        for finding in &self.policy.waived {
            tracing::warn!(target: "appenv_config", rule = finding.rule, key = %finding.key, "policy rule waived by policy.allow: {}", finding.message);
        }
        tracing::info!(
            target: "appenv_config",
            env = %self.environment,
            tier = %self.environment.tier(),
            fingerprint = %self.explain.fingerprint,
            "configuration loaded"
        );
    }
}

impl<C: serde::Serialize> Loaded<C> {
    /// A handle on the secret at `key` (dotted) that always yields its
    /// current value: reloadable when it came from a `NAME_FILE`, static
    /// otherwise (see [`SecretHandle`]). The file is re-read every
    /// [`DEFAULT_RELOAD_INTERVAL`](crate::DEFAULT_RELOAD_INTERVAL).
    ///
    /// # Errors
    /// [`Error::Invalid`] when `key` is not a key of the configuration, is
    /// unset, or does not hold text.
    pub fn secret_handle(&self, key: &str) -> Result<SecretHandle, Error> {
        self.secret_handle_with(key, ReloadOptions::default())
    }

    /// [`Loaded::secret_handle`] with explicit [`ReloadOptions`].
    ///
    /// # Errors
    /// As [`Loaded::secret_handle`].
    pub fn secret_handle_with(
        &self,
        key: &str,
        options: ReloadOptions,
    ) -> Result<SecretHandle, Error> {
        let initial = self.text_at(key)?;
        self.rotation.handle(key, initial, options)
    }

    /// The signing secret at `key` with its previous values, from
    /// `NAME_PREVIOUS` or `NAME_PREVIOUS_FILE` (see [`KeyRing`]).
    ///
    /// # Errors
    /// As [`Loaded::secret_handle`]; also both previous variables set
    /// ([`Error::Conflict`]), an unreadable or oversized previous-values
    /// file, or a previous value that fails the secret rules or equals the
    /// current one ([`Error::Invalid`]).
    pub fn key_ring(&self, key: &str) -> Result<KeyRing, Error> {
        self.key_ring_with(key, ReloadOptions::default())
    }

    /// [`Loaded::key_ring`] with explicit [`ReloadOptions`].
    ///
    /// # Errors
    /// As [`Loaded::key_ring`].
    pub fn key_ring_with(&self, key: &str, options: ReloadOptions) -> Result<KeyRing, Error> {
        let initial = self.text_at(key)?;
        KeyRing::start(&self.rotation, key, initial, options)
    }

    /// The plain text at `key` in the loaded configuration.
    fn text_at(&self, key: &str) -> Result<String, Error> {
        let invalid = |message: &str| Error::Invalid {
            key: key.to_owned(),
            origin: self
                .rotation
                .sources
                .get(key)
                .cloned()
                .unwrap_or(Source::Default),
            message: message.to_owned(),
        };
        let tree = to_value_exposed(&self.config)
            .map_err(|_| invalid("the configuration does not serialize"))?;
        let mut node = &tree;
        for part in key.split('.') {
            node = node
                .get(part)
                .ok_or_else(|| invalid("not a key of the configuration"))?;
        }
        match node {
            Json::String(text) if !text.is_empty() => Ok(text.clone()),
            Json::Null => Err(invalid("the secret is not set")),
            Json::String(_) => Err(invalid("the secret is empty")),
            _ => Err(invalid(
                "a secret handle holds text; this key holds another type",
            )),
        }
    }
}

impl<C> Loaded<C> {
    /// The `explain` view as it is now: [`Loaded::explain`] with the
    /// current load time, fingerprint and refusal count of every secret a
    /// [`SecretHandle`] watches, and the configuration fingerprint
    /// recomputed from them.
    pub fn current_explain(&self) -> Explain {
        self.rotation.current_explain()
    }

    /// [`Loaded::current_explain`] as a handle to keep.
    pub fn live_explain(&self) -> LiveExplain {
        LiveExplain(Arc::clone(&self.rotation))
    }
}
