//! [`Loader`]: layered loading in the documented precedence order. `load`
//! reads as its stages: resolve the environment, register the schema,
//! then one layer per source (defaults, files, `.env`, variables, secret
//! files, overrides), extract, explain, and evaluate the policy.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::Serialized;
use serde::Serialize;
use serde_json::{Map, Value as Json};

use crate::env::{APP_ENV_VAR, AppEnv, Environment, SIBLING_VARS};
use crate::error::{Error, describe_figment_error};
use crate::loaded::Loaded;
use crate::mapping::{Mapping, Shapes, insert_path, split_list};
use crate::placeholders::Placeholders;
use crate::policy::{Check, PolicyFinding, PolicyReport};
use crate::provenance::{
    Explain, ExplainEntry, Provenance, Shadowed, Source, fingerprint, flatten, redact_value,
};
use crate::rotation::{PREVIOUS_SUFFIX, Reload, Rotation, shown_fingerprint};
use crate::rules;
use crate::secret::SecretString;
use crate::secret::{REDACTED, to_value_exposed};
use crate::section::{Alias, Registry, Schema, Section};
use crate::sources::{self, RawVar, TomlFile};

/// The variable naming the config directory.
pub const CONFIG_DIR_VAR: &str = "APP_CONFIG_DIR";
/// The variable listing waived policy rules (comma-separated).
pub const POLICY_ALLOW_VAR: &str = "POLICY_ALLOW";
const POLICY_KEY: &str = "policy";
const POLICY_ALLOW_KEY: &str = "policy.allow";
/// The table of `config/default.toml` that declares named environments.
const ENVIRONMENTS_KEY: &str = "environments";

/// Loads a [`Section`] from the layered sources, lowest to highest
/// precedence:
///
/// 1. the section's defaults for the current tier;
/// 2. `config/default.toml`, then `config/{tier}.toml`, then (for a named
///    environment) `config/{name}.toml` (directory from `APP_CONFIG_DIR`,
///    default `./config`); a missing file is fine, a key no section knows
///    is an error naming the file and line;
/// 3. `.env`, then `.env.local`: local only, read into a map (the process
///    environment is never changed); elsewhere they are ignored with a
///    warning naming the file;
/// 4. the variables (the process environment, or the map given to
///    [`Loader::hermetic`]);
/// 5. `NAME_FILE` for any variable `NAME`: the file's contents, trailing
///    newline trimmed, at most [`MAX_SECRET_FILE_BYTES`](crate::MAX_SECRET_FILE_BYTES);
///    a `NAME_FILE` ranks just above the values of the source that names
///    it, so `JWT_SECRET_FILE` in the environment beats `JWT_SECRET` in
///    `.env`; both in the same source is an error;
/// 6. explicit overrides ([`Loader::set`]).
///
/// ```
/// use appenv_config::{AppEnv, Loader, Section, ServerConfig};
///
/// let loaded = Loader::hermetic([("APP_ENV", "staging"), ("PORT", "4001")])
///     .config_dir("does-not-exist")
///     .load::<ServerConfig>()
///     .unwrap();
/// assert_eq!(loaded.env(), AppEnv::Staging);
/// assert_eq!(loaded.config().port, 4001);
/// assert_eq!(loaded.explain().get("port").unwrap().source, "env PORT");
/// ```
#[derive(Clone)]
#[must_use]
pub struct Loader {
    vars: BTreeMap<String, String>,
    /// Names of variables whose value is not UTF-8 (lossily decoded).
    non_unicode: Vec<String>,
    env: Option<AppEnv>,
    environments: Vec<Environment>,
    config_dir: Option<PathBuf>,
    dotenv_dir: PathBuf,
    prefix: Option<String>,
    overrides: Vec<(String, Json)>,
    placeholders: Placeholders,
}

impl fmt::Debug for Loader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Variable and override values may be secrets: names and keys only.
        f.debug_struct("Loader")
            .field("vars", &self.vars.keys().collect::<Vec<_>>())
            .field("non_unicode", &self.non_unicode)
            .field("env", &self.env)
            .field("environments", &self.environments)
            .field("config_dir", &self.config_dir)
            .field("dotenv_dir", &self.dotenv_dir)
            .field("prefix", &self.prefix)
            .field(
                "overrides",
                &self.overrides.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Loader {
    /// A loader over the process environment, the config directory from
    /// `APP_CONFIG_DIR` (default `./config`) and `.env` files in the
    /// working directory. A variable whose value is not UTF-8 is an error
    /// when the configuration reads it ([`Error::NotUnicode`]) and ignored
    /// otherwise.
    pub fn from_process_env() -> Loader {
        Loader::hermetic_os(std::env::vars_os())
    }

    /// A loader over the given variables only, as if they were the whole
    /// process environment. Tests use it so they can run in parallel.
    pub fn hermetic<I, K, V>(vars: I) -> Loader
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Loader {
            vars: vars
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            non_unicode: Vec::new(),
            env: None,
            environments: Vec::new(),
            config_dir: None,
            dotenv_dir: PathBuf::from("."),
            prefix: None,
            overrides: Vec::new(),
            placeholders: Placeholders::default(),
        }
    }

    /// Like [`Loader::hermetic`] for variables as the operating system
    /// holds them: names or values that are not UTF-8 are kept aside and
    /// refused if the configuration reads them.
    pub fn hermetic_os<I, K, V>(vars: I) -> Loader
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<OsString>,
        V: Into<OsString>,
    {
        let mut text = Vec::new();
        let mut non_unicode = Vec::new();
        for (name, value) in vars {
            let (name, value) = (name.into(), value.into());
            match (name.into_string(), value.into_string()) {
                (Ok(name), Ok(value)) => text.push((name, value)),
                (Ok(name), Err(_)) => non_unicode.push(name),
                (Err(name), _) => non_unicode.push(name.to_string_lossy().into_owned()),
            }
        }
        let mut loader = Loader::hermetic(text);
        loader.non_unicode = non_unicode;
        loader
    }

    /// Uses the tier `env` instead of reading `APP_ENV`.
    pub fn env(mut self, env: AppEnv) -> Self {
        self.env = Some(env);
        self
    }

    /// Declares the named environment `name` on `tier` in code, as
    /// `[environments]` in `config/default.toml` does.
    ///
    /// # Panics
    /// If `name` is not a valid environment name (see
    /// [`Environment::named`]); names are written in code, so this is a
    /// programming error.
    pub fn environment(mut self, name: &str, tier: AppEnv) -> Self {
        let env = Environment::named(name, tier).unwrap_or_else(|err| panic!("{err}"));
        self.environments.push(env);
        self
    }

    /// Reads `default.toml` and `{env}.toml` from `dir` instead of
    /// `APP_CONFIG_DIR` or `./config`.
    pub fn config_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config_dir = Some(dir.into());
        self
    }

    /// Reads `.env`, `.env.local` and `.env.example` from `dir` instead of
    /// the working directory.
    pub fn dotenv_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dotenv_dir = dir.into();
        self
    }

    /// Reads only variables that start with `prefix` (`APP_`), with the
    /// prefix removed: `APP_PORT` sets `server.port`, and `PORT` is ignored.
    /// `APP_ENV` and `APP_CONFIG_DIR` are read as they are.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// Adds placeholder values the `secret.placeholder` rule refuses, beside
    /// the built-in list and a `.env.example` found in the `.env`
    /// directory: usually the service's own `.env.example` compiled in with
    /// [`crate::placeholders!`].
    pub fn placeholders(mut self, placeholders: Placeholders) -> Self {
        self.placeholders.extend(placeholders);
        self
    }

    /// Sets `key` (dotted) to `value`, above every other source.
    ///
    /// # Panics
    /// If `value` cannot be represented as JSON (a map with non-string
    /// keys); plain values never panic.
    pub fn set(mut self, key: impl Into<String>, value: impl Serialize) -> Self {
        // A `Secret` or `SecretUrl` given here is loaded with its real value.
        let value = to_value_exposed(&value).expect("override value must serialize to JSON");
        self.overrides.push((key.into(), value));
        self
    }

    fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// A variable as the loader sees it (for the CLI's documents).
    #[cfg(feature = "cli")]
    pub(crate) fn raw_var(&self, name: &str) -> Option<&str> {
        self.var(name)
    }

    fn config_dir_path(&self) -> PathBuf {
        self.config_dir
            .clone()
            .or_else(|| self.var(CONFIG_DIR_VAR).map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("config"))
    }

    /// Loads `C` and evaluates the policy. Policy violations do not fail
    /// here: call [`Loaded::enforce`] (or use [`crate::load`]) to refuse
    /// startup on them, or read [`Loaded::policy`] to report them.
    ///
    /// # Errors
    /// An unknown `APP_ENV`, an unreadable or malformed file, a file key no
    /// section knows, both `NAME` and `NAME_FILE` in one source, an
    /// unreadable or oversized secret file, a variable the configuration
    /// reads that is not UTF-8, or a value of the wrong type. Each names
    /// the key and the source.
    pub fn load<C: Section>(&self) -> Result<Loaded<C>, Error> {
        if self.non_unicode.iter().any(|name| name == APP_ENV_VAR) {
            return Err(Error::NotUnicode {
                var: APP_ENV_VAR.to_owned(),
            });
        }
        let dir = self.config_dir_path();
        let default_file = sources::read_toml(&dir.join("default.toml"))?;
        let (environment, env_unset) = self.resolve_environment(default_file.as_ref(), &dir)?;
        let schema = schema_of::<C>(environment.tier());

        let mut stack = Stack::default();
        let shapes = stack.push_defaults::<C>(environment.tier(), &schema)?;
        let mut schema = schema;
        schema.redacted.extend(std::mem::take(&mut stack.redacted));
        let mapping = Mapping::new(&schema, &shapes, self.prefix.as_deref());
        self.refuse_non_unicode(&mapping, &shapes)?;
        stack.push_files(&dir, &environment, default_file, &shapes)?;
        self.push_dotenv(&mut stack, &environment, &mapping, &shapes)?;
        self.push_variables(&mut stack, &mapping, &shapes)?;
        self.push_overrides(&mut stack);

        let (figment, policy_figment) = stack.merge();
        let config: C = figment
            .extract_lossy()
            .map_err(|err| invalid(err, &stack.provenance, &schema))?;
        let allow = read_allow(&policy_figment, &stack.provenance)?;
        let placeholders = self.all_placeholders();
        let explain = build_explain(
            &environment,
            &config,
            &allow,
            &stack.provenance,
            &schema,
            &placeholders,
        )?;
        let policy =
            self.evaluate_policy(&environment, &figment, &schema, &stack.provenance, &allow)?;

        let mut warnings = stack.warnings;
        if env_unset {
            warnings.extend(self.sibling_env_warnings());
        }
        warnings.extend(unknown_waivers(&allow, &schema));
        let rotation = self.rotation(
            &environment,
            allow,
            placeholders,
            &schema,
            &stack.provenance,
            &explain,
        );
        Ok(Loaded {
            config,
            environment,
            env_unset,
            policy,
            explain,
            warnings,
            rotation: std::sync::Arc::new(rotation),
        })
    }

    /// The placeholders secrets are checked against: the loader's, plus
    /// the values of `.env.example`.
    fn all_placeholders(&self) -> Placeholders {
        let mut placeholders = self.placeholders.clone();
        placeholders.extend(Placeholders::from_values(&sources::read_placeholders(
            &self.dotenv_dir.join(".env.example"),
        )));
        placeholders
    }

    /// What the loaded configuration keeps for [`Loaded::secret_handle`]
    /// and [`Loaded::key_ring`]: the policy inputs, every key's source and
    /// the `NAME_PREVIOUS[_FILE]` variables.
    fn rotation(
        &self,
        environment: &Environment,
        allow: Vec<String>,
        placeholders: Placeholders,
        schema: &Schema,
        provenance: &Provenance,
        explain: &Explain,
    ) -> Rotation {
        let previous_vars = self
            .vars
            .iter()
            .filter(|(name, _)| {
                name.ends_with(PREVIOUS_SUFFIX)
                    || name
                        .strip_suffix("_FILE")
                        .is_some_and(|base| base.ends_with(PREVIOUS_SUFFIX))
            })
            .map(|(name, value)| {
                (
                    name.clone(),
                    (
                        Source::Env { var: name.clone() },
                        SecretString::new(value.clone()),
                    ),
                )
            })
            .collect();
        Rotation {
            environment: environment.clone(),
            allow,
            placeholders,
            prefix: self.prefix.clone().unwrap_or_default(),
            secrets: schema.secrets.clone(),
            database_urls: schema.database_urls.clone(),
            sources: explain
                .entries
                .iter()
                .map(|e| (e.key.clone(), provenance.source_of(&e.key)))
                .collect(),
            previous_vars,
            explain: explain.clone(),
            live: std::sync::Mutex::default(),
            watches: std::sync::Mutex::default(),
        }
    }

    /// The environment: forced by [`Loader::env`], or `APP_ENV` read as a
    /// tier spelling or a declared named environment.
    fn resolve_environment(
        &self,
        default_file: Option<&TomlFile>,
        dir: &Path,
    ) -> Result<(Environment, bool), Error> {
        if let Some(env) = self.env {
            return Ok((Environment::from(env), false));
        }
        let mut declared = self.environments.clone();
        if let Some(file) = default_file {
            declared.extend(declared_environments(file, &dir.join("default.toml"))?);
        }
        match self.var(APP_ENV_VAR).map(str::trim) {
            None | Some("") => Ok((Environment::from(AppEnv::Local), true)),
            Some(value) => Environment::resolve(value, &declared).map(|env| (env, false)),
        }
    }

    /// A variable the configuration would read whose value is not UTF-8 is
    /// an error; others are none of the configuration's business.
    fn refuse_non_unicode(&self, mapping: &Mapping<'_>, shapes: &Shapes) -> Result<(), Error> {
        match self
            .non_unicode
            .iter()
            .find(|name| mapping.reads(name, shapes))
        {
            Some(name) => Err(Error::NotUnicode { var: name.clone() }),
            None => Ok(()),
        }
    }

    /// Layer 3: `.env` then `.env.local`, in local only.
    fn push_dotenv(
        &self,
        stack: &mut Stack,
        environment: &Environment,
        mapping: &Mapping<'_>,
        shapes: &Shapes,
    ) -> Result<(), Error> {
        // `${NAME}` in a `.env` file reads the loader's variables (never
        // the real process environment of a hermetic loader), then what an
        // earlier file set.
        let mut earlier: Vec<(String, String)> = Vec::new();
        for name in [".env", ".env.local"] {
            // `.env:3`, not `./.env:3`, for the working directory.
            let path = if self.dotenv_dir == Path::new(".") {
                PathBuf::from(name)
            } else {
                self.dotenv_dir.join(name)
            };
            if environment.tier().is_local() {
                let lookup = |wanted: &str| {
                    self.var(wanted).map(str::to_owned).or_else(|| {
                        earlier
                            .iter()
                            .rev()
                            .find(|(name, _)| name == wanted)
                            .map(|(_, value)| value.clone())
                    })
                };
                let vars = sources::read_dotenv(&path, &lookup)?;
                earlier.extend(vars.iter().map(|v| (v.name.clone(), v.value.clone())));
                stack.push_vars(vars, mapping, shapes)?;
            } else if path.is_file() {
                stack.warnings.push(PolicyFinding::warning(
                    "config.dotenv-ignored",
                    "",
                    Source::File { path, line: 1 },
                    format!(
                        "ignored: .env files are read only in local (APP_ENV={environment})"
                    ),
                    "set these values in the environment or config/{env}.toml, or remove the file from the image",
                ));
            }
        }
        Ok(())
    }

    /// Layers 4 and 5: the variables, then the secret files they name.
    fn push_variables(
        &self,
        stack: &mut Stack,
        mapping: &Mapping<'_>,
        shapes: &Shapes,
    ) -> Result<(), Error> {
        let vars = self
            .vars
            .iter()
            .map(|(name, value)| RawVar {
                name: name.clone(),
                value: value.clone(),
                source: Source::Env { var: name.clone() },
            })
            .collect();
        stack.push_vars(vars, mapping, shapes)
    }

    /// Layer 6: explicit overrides; a table sets every key under it.
    fn push_overrides(&self, stack: &mut Stack) {
        let mut tree = Json::Object(Map::new());
        for (key, value) in &self.overrides {
            insert_path(&mut tree, key, value.clone());
            let mut leaves = Vec::new();
            flatten(key, value, &mut leaves);
            for (leaf, value) in leaves {
                stack.provenance.record(leaf, Source::Override, value);
            }
        }
        stack.layers.push(tree);
    }

    /// The built-in rules and the sections' rules, classified for the tier.
    fn evaluate_policy(
        &self,
        environment: &Environment,
        figment: &Figment,
        schema: &Schema,
        provenance: &Provenance,
        allow: &[String],
    ) -> Result<PolicyReport, Error> {
        let dotenv_example = sources::read_placeholders(&self.dotenv_dir.join(".env.example"));
        let mut findings: Vec<PolicyFinding> = Vec::new();
        let mut check = Check::new(environment.tier(), provenance, &mut findings);
        rules::builtin(
            &mut check,
            figment,
            schema,
            &dotenv_example,
            &self.placeholders,
            self.prefix.as_deref().unwrap_or_default(),
        );
        for rule in &schema.rules {
            check.set_rule(rule.id);
            (rule.run)(figment, &mut check)?;
        }
        Ok(PolicyReport::classify(environment, findings, allow))
    }

    /// With `APP_ENV` unset the process runs as local; a sibling variable
    /// that names staging or production says that is probably a mistake.
    fn sibling_env_warnings(&self) -> Vec<PolicyFinding> {
        SIBLING_VARS
            .iter()
            .filter_map(|var| {
                let value = self.var(var)?;
                let tier = value
                    .split(',')
                    .filter_map(|word| AppEnv::parse(word).ok())
                    .max()?;
                (!tier.is_local()).then(|| {
                    PolicyFinding::warning(
                        "config.app-env-unset",
                        "",
                        Source::Env {
                            var: (*var).to_owned(),
                        },
                        format!(
                            "APP_ENV is unset, so this process runs as local, but {var}={} names {tier}",
                            value.trim()
                        ),
                        format!("set APP_ENV={tier} (or APP_ENV=local if local is meant)"),
                    )
                })
            })
            .collect()
    }
}

/// Loads `C` from the process environment and refuses a configuration that
/// violates the policy of the current environment.
///
/// ```no_run
/// # use appenv_config::ServerConfig;
/// let loaded = appenv_config::load::<ServerConfig>().unwrap_or_else(|err| {
///     eprintln!("{err}");
///     std::process::exit(err.exit_code());
/// });
/// ```
///
/// # Errors
/// Any loading error, or [`Error::Policy`] listing every violation.
pub fn load<C: Section>() -> Result<Loaded<C>, Error> {
    Loader::from_process_env().load::<C>()?.enforce()
}

/// Everything the sections declared, plus the `POLICY_ALLOW` alias.
fn schema_of<C: Section>(tier: AppEnv) -> Schema {
    let mut schema = Schema::default();
    C::register(&mut Registry::<C>::root(&mut schema, tier));
    schema.aliases.push(Alias {
        var: POLICY_ALLOW_VAR.to_owned(),
        key: POLICY_ALLOW_KEY.to_owned(),
        inverted: false,
    });
    schema
}

/// The `[environments]` table of `config/default.toml`: name → tier.
fn declared_environments(file: &TomlFile, path: &Path) -> Result<Vec<Environment>, Error> {
    let mut declared = Vec::new();
    for (key, line, value) in &file.leaves {
        let Some(name) = key.strip_prefix("environments.") else {
            continue;
        };
        let origin = Source::File {
            path: path.to_owned(),
            line: *line,
        };
        let invalid = |message: String| Error::Invalid {
            key: key.clone(),
            origin: origin.clone(),
            message,
        };
        let tier = value
            .as_str()
            .ok_or_else(|| {
                invalid("expected the name of a tier: local, staging or production".to_owned())
            })
            .and_then(|text| AppEnv::parse(text).map_err(|err| invalid(err.to_string())))?;
        let env = Environment::named(name, tier).map_err(|err| match err {
            Error::Invalid { message, .. } => invalid(message),
            other => other,
        })?;
        declared.push(env);
    }
    Ok(declared)
}

/// The layers read so far, lowest precedence first, with their provenance
/// and the loader's warnings.
#[derive(Debug, Default)]
struct Stack {
    layers: Vec<Json>,
    provenance: Provenance,
    warnings: Vec<PolicyFinding>,
    /// Keys whose default serializes as `[REDACTED]`.
    redacted: Vec<String>,
}

impl Stack {
    /// Layer 1: the defaults. They are fed back into the loader, so
    /// secrets keep their real values here (a redacted default would load
    /// as `[REDACTED]`); the redacted form tells which keys hold secrets.
    fn push_defaults<C: Section>(
        &mut self,
        tier: AppEnv,
        _schema: &Schema,
    ) -> Result<Shapes, Error> {
        let typed = C::defaults(tier);
        let defaults_error = |err: serde_json::Error| Error::Invalid {
            key: String::new(),
            origin: Source::Default,
            message: format!("the defaults do not serialize: {err}"),
        };
        let redacted = serde_json::to_value(&typed).map_err(defaults_error)?;
        self.redacted = redacted_keys(&redacted);
        let mut defaults = to_value_exposed(&typed).map_err(defaults_error)?;
        drop(typed);
        if let Json::Object(map) = &mut defaults {
            map.entry(POLICY_KEY)
                .or_insert_with(|| serde_json::json!({ "allow": [] }));
        }
        let shapes = Shapes::from_defaults(&defaults);
        record_tree(&mut self.provenance, &defaults, Source::Default);
        self.layers.push(defaults);
        Ok(shapes)
    }

    /// Layer 2: `default.toml`, `{tier}.toml`, and `{name}.toml` for a
    /// named environment. Every key must be one a section knows.
    fn push_files(
        &mut self,
        dir: &Path,
        environment: &Environment,
        default_file: Option<TomlFile>,
        shapes: &Shapes,
    ) -> Result<(), Error> {
        let mut files = vec![(dir.join("default.toml"), default_file)];
        let mut names = vec![format!("{}.toml", environment.tier())];
        if environment.is_named() {
            names.push(format!("{}.toml", environment.name()));
        }
        for name in names {
            let path = dir.join(name);
            let file = sources::read_toml(&path)?;
            files.push((path, file));
        }
        for (index, (path, file)) in files.into_iter().enumerate() {
            let Some(mut file) = file else {
                continue;
            };
            for (key, line, value) in &file.leaves {
                let origin = Source::File {
                    path: path.clone(),
                    line: *line,
                };
                if key == ENVIRONMENTS_KEY || key.starts_with("environments.") {
                    if index > 0 {
                        return Err(Error::Invalid {
                            key: key.clone(),
                            origin,
                            message: "named environments are declared in default.toml only"
                                .to_owned(),
                        });
                    }
                    continue;
                }
                if key != POLICY_ALLOW_KEY
                    && let Some(suggestion) = unknown_key(key, shapes)
                {
                    return Err(Error::UnknownKey {
                        key: key.clone(),
                        origin,
                        suggestion: suggestion.map(str::to_owned),
                    });
                }
                self.provenance.record(key.clone(), origin, value.clone());
            }
            if let Json::Object(map) = &mut file.tree {
                map.remove(ENVIRONMENTS_KEY);
            }
            self.layers.push(file.tree);
        }
        Ok(())
    }

    /// One variable source (a `.env` file or the process environment):
    /// its values, then the secret files it names. Within the source a
    /// more specific name is applied last and so wins (`SERVER__PORT` over
    /// `SERVER_PORT` over the alias `PORT`), whatever the alphabetical
    /// order of the names.
    fn push_vars(
        &mut self,
        mut vars: Vec<RawVar>,
        mapping: &Mapping<'_>,
        shapes: &Shapes,
    ) -> Result<(), Error> {
        vars.sort_by_key(|v| mapping.specificity(&v.name, shapes));
        let (values, files) =
            mapping.apply(&vars, shapes, &mut self.provenance, &mut self.warnings)?;
        self.layers.push(values);
        self.layers.push(files);
        Ok(())
    }

    /// Merges the layers with figment. Policy waivers travel beside the
    /// configuration, not inside it, so a service struct with
    /// `deny_unknown_fields` still loads.
    fn merge(&mut self) -> (Figment, Figment) {
        let mut figment = Figment::new();
        let mut policy_figment = Figment::new();
        for mut tree in std::mem::take(&mut self.layers) {
            let policy = match &mut tree {
                Json::Object(map) => map.remove(POLICY_KEY),
                _ => None,
            };
            if let Some(policy) = policy {
                policy_figment = policy_figment.merge(Serialized::defaults(policy));
            }
            figment = figment.merge(Serialized::defaults(tree));
        }
        (figment, policy_figment)
    }
}

/// `Some(closest)` when a file key is not a known setting (nor under a
/// map or optional table a section has).
fn unknown_key<'s>(key: &str, shapes: &'s Shapes) -> Option<Option<&'s str>> {
    shapes.unknown(key)
}

/// `policy.allow`, as a list or a comma-separated string.
fn read_allow(policy: &Figment, provenance: &Provenance) -> Result<Vec<String>, Error> {
    match policy.extract_inner_lossy::<Vec<String>>("allow") {
        Ok(list) => Ok(list),
        Err(err) => match policy.extract_inner_lossy::<String>("allow") {
            Ok(text) => Ok(split_list(&text)),
            Err(_) => Err(Error::Invalid {
                key: POLICY_ALLOW_KEY.to_owned(),
                origin: provenance.source_of(POLICY_ALLOW_KEY),
                message: describe_figment_error(&err),
            }),
        },
    }
}

/// A waiver that names no rule the configuration has.
fn unknown_waivers(allow: &[String], schema: &Schema) -> Vec<PolicyFinding> {
    allow
        .iter()
        .filter(|id| {
            !schema.rules.iter().any(|r| r.id == id.as_str())
                && !rules::BUILTIN_IDS.contains(&id.as_str())
        })
        .map(|id| {
            PolicyFinding::warning(
                "config.unknown-waiver",
                POLICY_ALLOW_KEY,
                Source::Default,
                format!("policy.allow names `{id}`, which is not a known rule id"),
                "remove it, or correct the rule id (see `config check` for the ids)",
            )
        })
        .collect()
}

/// The keys whose value serializes as `[REDACTED]` (a [`crate::Secret`]
/// field, whatever its name).
fn redacted_keys(tree: &Json) -> Vec<String> {
    let mut leaves = Vec::new();
    flatten("", tree, &mut leaves);
    leaves
        .into_iter()
        .filter(|(_, value)| value.as_str() == Some(REDACTED))
        .map(|(key, _)| key)
        .collect()
}

fn record_tree(provenance: &mut Provenance, tree: &Json, source: Source) {
    let mut leaves = Vec::new();
    flatten("", tree, &mut leaves);
    for (key, value) in leaves {
        provenance.record(key, source.clone(), value);
    }
}

/// Whether a key's value is sensitive as a whole.
pub(crate) fn is_sensitive(key: &str, schema: &Schema) -> bool {
    // A registered secret may be a table: everything under it is secret.
    let within = |s: &String| {
        key == s
            || key
                .strip_prefix(s.as_str())
                .is_some_and(|rest| rest.starts_with('.'))
    };
    if schema.secrets.iter().any(within) || schema.redacted.iter().any(within) {
        return true;
    }
    crate::sensitive::is_sensitive_name(key.rsplit('.').next().unwrap_or(key))
}

/// Whether a value holds `[REDACTED]` anywhere (as a whole string).
fn holds_redacted(value: &Json) -> bool {
    match value {
        Json::String(s) => s == REDACTED,
        Json::Array(items) => items.iter().any(holds_redacted),
        Json::Object(map) => map.values().any(holds_redacted),
        _ => false,
    }
}

/// The explain view of the effective configuration (with the waivers as
/// `policy.allow`).
fn build_explain<C: Serialize>(
    environment: &Environment,
    config: &C,
    allow: &[String],
    provenance: &Provenance,
    schema: &Schema,
    placeholders: &Placeholders,
) -> Result<Explain, Error> {
    let mut effective = serde_json::to_value(config).map_err(|err| Error::Invalid {
        key: String::new(),
        origin: Source::Default,
        message: format!("the effective configuration does not serialize: {err}"),
    })?;
    if let Json::Object(map) = &mut effective {
        map.insert(POLICY_KEY.to_owned(), serde_json::json!({ "allow": allow }));
    }
    let mut leaves = Vec::new();
    flatten("", &effective, &mut leaves);
    let loaded_at = std::time::SystemTime::now();
    let entries: Vec<ExplainEntry> = leaves
        .into_iter()
        .map(|(key, value)| {
            let sensitive =
                is_sensitive(&key, schema) || value == Json::String(REDACTED.to_owned());
            // A list or table holding a secret (`Vec<SecretString>`) hides
            // its lower layers entirely: they hold the plain values.
            let hide_shadowed = sensitive || holds_redacted(&value);
            let layers = provenance.layers.get(&key);
            let source = provenance.source_of(&key);
            let shadowed = layers
                .map(|layers| {
                    layers
                        .iter()
                        .rev()
                        .skip(1)
                        .map(|layer| Shadowed {
                            source: layer.source.clone(),
                            value: redact_value(&layer.value, hide_shadowed),
                        })
                        .collect()
                })
                .unwrap_or_default();
            // Secrets and database URLs say whether they can rotate.
            let reload =
                (sensitive || schema.database_urls.contains(&key)).then(|| match &source {
                    Source::SecretFile { .. } => {
                        let raw = provenance
                            .winner(&key)
                            .and_then(|layer| layer.value.as_str())
                            .unwrap_or_default();
                        Reload::file(shown_fingerprint(placeholders, &key, raw), loaded_at, 0)
                    }
                    _ => Reload::fixed(),
                });
            ExplainEntry {
                value: redact_value(&value, sensitive),
                key,
                source,
                shadowed,
                reload,
            }
        })
        .collect();
    let fingerprint = fingerprint(environment.name(), &entries);
    Ok(Explain {
        env: environment.name().to_owned(),
        tier: environment.tier(),
        fingerprint,
        entries,
    })
}

/// Turns a figment extraction error into [`Error::Invalid`] naming the key
/// and the source that set it, without the value for sensitive keys.
fn invalid(err: figment::Error, provenance: &Provenance, schema: &Schema) -> Error {
    let key = err.path.join(".");
    let message = if is_sensitive(&key, schema) {
        describe_figment_error(&err)
    } else {
        describe_with_value(&err, provenance, &key)
    };
    Error::Invalid {
        origin: provenance.source_of(&key),
        key,
        message,
    }
}

/// The figment description plus the (URL-redacted) value found, for keys
/// that are not sensitive, so `PORT=abc` says what it got.
fn describe_with_value(err: &figment::Error, provenance: &Provenance, key: &str) -> String {
    let base = describe_figment_error(err);
    match provenance.winner(key).map(|l| &l.value) {
        Some(Json::String(found)) if !matches!(err.kind, figment::error::Kind::MissingField(_)) => {
            format!("{base}, found \"{}\"", crate::secret::redact_url(found))
        }
        _ => base,
    }
}
