//! [`AppEnv`]: which of the three environments this process runs in.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;

/// The variable that selects the environment.
pub const APP_ENV_VAR: &str = "APP_ENV";

/// The deployment environment a process runs in, chosen by `APP_ENV`.
///
/// | value | accepted spellings (case-insensitive) |
/// |---|---|
/// | [`AppEnv::Local`] | `local`, `development`, `dev` (and unset) |
/// | [`AppEnv::Staging`] | `staging`, `stage` |
/// | [`AppEnv::Production`] | `production`, `prod` |
///
/// Unset means `local`. That makes `local` the environment it must be safe to
/// be wrong about, so the local defaults bind `127.0.0.1` and the
/// cross-environment database guard runs in every environment.
///
/// ```
/// use appenv_config::AppEnv;
///
/// assert_eq!("PROD".parse::<AppEnv>().unwrap(), AppEnv::Production);
/// assert_eq!(AppEnv::Staging.to_string(), "staging");
/// let err = "qa".parse::<AppEnv>().unwrap_err().to_string();
/// assert!(err.contains("local, development, dev"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum AppEnv {
    /// A developer machine: `.env` files, a disposable database, relaxed limits.
    #[default]
    Local,
    /// A production-like rehearsal.
    Staging,
    /// The real thing: strict policy, audited migrations, full telemetry.
    Production,
}

/// Every accepted spelling, in the order error messages list them.
const SPELLINGS: &[(&str, AppEnv)] = &[
    ("local", AppEnv::Local),
    ("development", AppEnv::Local),
    ("dev", AppEnv::Local),
    ("staging", AppEnv::Staging),
    ("stage", AppEnv::Staging),
    ("production", AppEnv::Production),
    ("prod", AppEnv::Production),
];

impl AppEnv {
    /// The three environments, from least to most strict.
    pub const ALL: [AppEnv; 3] = [AppEnv::Local, AppEnv::Staging, AppEnv::Production];

    /// The canonical lowercase name (`local`, `staging`, `production`).
    pub const fn as_str(self) -> &'static str {
        match self {
            AppEnv::Local => "local",
            AppEnv::Staging => "staging",
            AppEnv::Production => "production",
        }
    }

    /// Parses one of the accepted spellings, ignoring case and surrounding
    /// white space.
    ///
    /// # Errors
    /// [`Error::UnknownEnv`] listing the accepted values.
    pub fn parse(value: &str) -> Result<AppEnv, Error> {
        let wanted = value.trim();
        SPELLINGS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(wanted))
            .map(|(_, env)| *env)
            .ok_or_else(|| Error::UnknownEnv {
                value: value.to_owned(),
                accepted: accepted_spellings(),
            })
    }

    /// Reads `APP_ENV` from a variable lookup. Unset or empty means
    /// [`AppEnv::Local`]; the second value says whether it was unset, so the
    /// caller can log that once.
    ///
    /// # Errors
    /// [`Error::UnknownEnv`] for a value that is not an accepted spelling.
    pub fn from_lookup<'a>(
        lookup: impl Fn(&str) -> Option<&'a str>,
    ) -> Result<(AppEnv, bool), Error> {
        match lookup(APP_ENV_VAR).map(str::trim) {
            None | Some("") => Ok((AppEnv::Local, true)),
            Some(value) => AppEnv::parse(value).map(|env| (env, false)),
        }
    }

    /// Reads `APP_ENV` from the process environment (unset means local).
    ///
    /// # Errors
    /// [`Error::UnknownEnv`] for a value that is not an accepted spelling.
    pub fn from_process_env() -> Result<AppEnv, Error> {
        let value = std::env::var(APP_ENV_VAR).ok();
        AppEnv::from_lookup(|_| value.as_deref()).map(|(env, _)| env)
    }

    /// `true` for [`AppEnv::Local`].
    pub const fn is_local(self) -> bool {
        matches!(self, AppEnv::Local)
    }

    /// `true` for [`AppEnv::Staging`].
    pub const fn is_staging(self) -> bool {
        matches!(self, AppEnv::Staging)
    }

    /// `true` for [`AppEnv::Production`].
    pub const fn is_production(self) -> bool {
        matches!(self, AppEnv::Production)
    }

    /// The words that name this environment inside host and database names,
    /// used by the cross-environment database guard (`prod`, `production`
    /// for production, and so on).
    pub fn name_markers(self) -> &'static [&'static str] {
        match self {
            AppEnv::Local => &["local", "dev", "development"],
            AppEnv::Staging => &["staging", "stage", "stg"],
            AppEnv::Production => &["production", "prod", "prd"],
        }
    }
}

/// The environment a process runs in: the name `APP_ENV` gave and the tier
/// whose defaults and policy apply.
///
/// A tier's own spellings name the tier (`APP_ENV=prod` is
/// `production`/`production`). A service may declare named environments on
/// a tier, in `config/default.toml`
///
/// ```toml
/// [environments]
/// preview = "staging"
/// test = "local"
/// ```
///
/// or in code with [`Loader::environment`](crate::Loader::environment).
/// A named environment has its tier's defaults and policy, reads
/// `config/{tier}.toml` and then `config/{name}.toml`, and reports its name
/// (`explain`'s `"env"`, telemetry's `deployment.environment.name`).
///
/// ```
/// use appenv_config::{AppEnv, Environment};
///
/// let preview = Environment::named("preview", AppEnv::Staging).unwrap();
/// assert_eq!(preview.name(), "preview");
/// assert_eq!(preview.tier(), AppEnv::Staging);
/// assert_eq!(Environment::from(AppEnv::Production).name(), "production");
/// assert!(Environment::named("prod", AppEnv::Staging).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Environment {
    name: String,
    tier: AppEnv,
}

impl Environment {
    /// A named environment on `tier`. Names are lowercase ASCII letters,
    /// digits, `-` and `_`, start with a letter, and are not a spelling of a
    /// tier (which would make `APP_ENV` ambiguous).
    ///
    /// # Errors
    /// [`Error::Invalid`] naming `environments.{name}` for a bad name.
    pub fn named(name: &str, tier: AppEnv) -> Result<Environment, Error> {
        let name = name.trim().to_ascii_lowercase();
        let valid = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        let problem = if !valid {
            Some("an environment name is lowercase letters, digits, `-` and `_`, starting with a letter".to_owned())
        } else if let Ok(spelled) = AppEnv::parse(&name) {
            Some(format!("`{name}` already names the {spelled} tier"))
        } else {
            None
        };
        match problem {
            Some(message) => Err(Error::Invalid {
                key: format!("environments.{name}"),
                origin: crate::provenance::Source::Override,
                message,
            }),
            None => Ok(Environment { name, tier }),
        }
    }

    /// The name (`production`, `preview`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tier whose defaults and policy apply.
    pub fn tier(&self) -> AppEnv {
        self.tier
    }

    /// `true` for a named environment (not one of the tiers themselves).
    pub fn is_named(&self) -> bool {
        self.name != self.tier.as_str()
    }

    /// Resolves an `APP_ENV` value: a tier spelling, or one of `declared`
    /// (case-insensitive).
    ///
    /// # Errors
    /// [`Error::UnknownEnv`] listing the tier spellings and the declared
    /// names.
    pub fn resolve(value: &str, declared: &[Environment]) -> Result<Environment, Error> {
        if let Ok(tier) = AppEnv::parse(value) {
            return Ok(Environment::from(tier));
        }
        let wanted = value.trim();
        declared
            .iter()
            .find(|env| env.name.eq_ignore_ascii_case(wanted))
            .cloned()
            .ok_or_else(|| {
                let mut accepted = accepted_spellings();
                for env in declared {
                    accepted.push_str(&format!(", {} ({})", env.name, env.tier));
                }
                Error::UnknownEnv {
                    value: value.to_owned(),
                    accepted,
                }
            })
    }
}

impl From<AppEnv> for Environment {
    fn from(tier: AppEnv) -> Self {
        Environment {
            name: tier.as_str().to_owned(),
            tier,
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// Variables other stacks use to name the environment. When `APP_ENV` is
/// unset (so the process runs as local) and one of these names staging or
/// production, the loader warns loudly.
pub(crate) const SIBLING_VARS: &[&str] = &[
    "NODE_ENV",
    "RAILS_ENV",
    "RACK_ENV",
    "ENVIRONMENT",
    "APP_ENVIRONMENT",
    "ENV",
    "SPRING_PROFILES_ACTIVE",
];

pub(crate) fn accepted_spellings() -> String {
    SPELLINGS
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for AppEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AppEnv {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AppEnv::parse(s)
    }
}

impl Serialize for AppEnv {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for AppEnv {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        AppEnv::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_parses_in_any_case() {
        for (name, env) in SPELLINGS {
            assert_eq!(AppEnv::parse(name).unwrap(), *env);
            assert_eq!(AppEnv::parse(&name.to_uppercase()).unwrap(), *env);
        }
        assert_eq!(AppEnv::parse(" Prod ").unwrap(), AppEnv::Production);
    }

    #[test]
    fn unknown_value_lists_accepted_spellings() {
        let err = AppEnv::parse("qa").unwrap_err().to_string();
        assert!(err.contains("\"qa\""), "{err}");
        assert!(
            err.contains("local, development, dev, staging, stage, production, prod"),
            "{err}"
        );
    }

    #[test]
    fn unset_and_empty_mean_local() {
        assert_eq!(
            AppEnv::from_lookup(|_| None).unwrap(),
            (AppEnv::Local, true)
        );
        assert_eq!(
            AppEnv::from_lookup(|_| Some("  ")).unwrap(),
            (AppEnv::Local, true)
        );
        assert_eq!(
            AppEnv::from_lookup(|_| Some("staging")).unwrap(),
            (AppEnv::Staging, false)
        );
    }

    #[test]
    fn serde_round_trip_uses_canonical_names() {
        let json = serde_json::to_string(&AppEnv::Production).unwrap();
        assert_eq!(json, "\"production\"");
        let back: AppEnv = serde_json::from_str("\"stage\"").unwrap();
        assert_eq!(back, AppEnv::Staging);
    }
}
