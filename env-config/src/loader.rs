//! [`Loader`]: layered loading in the documented precedence order, and the
//! [`Loaded`] result with its policy report and provenance.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

use figment::Figment;
use figment::providers::Serialized;
use serde::Serialize;
use serde_json::{Map, Value as Json};

use crate::env::{APP_ENV_VAR, AppEnv};
use crate::error::{Error, describe_figment_error};
use crate::policy::{Check, Finding, PolicyReport};
use crate::provenance::{
    Entry, Explain, Provenance, Shadowed, Source, fingerprint, flatten, redact_value,
};
use crate::rules;
use crate::secret::{REDACTED, to_value_exposed};
use crate::section::{Registry, Schema, Section};
use crate::sources::{self, RawVar};

/// The variable naming the config directory.
pub const CONFIG_DIR_VAR: &str = "APP_CONFIG_DIR";
/// The variable listing waived policy rules (comma-separated).
pub const POLICY_ALLOW_VAR: &str = "POLICY_ALLOW";
const POLICY_KEY: &str = "policy";
const POLICY_ALLOW_KEY: &str = "policy.allow";

/// Loads a [`Section`] from the layered sources, lowest to highest
/// precedence:
///
/// 1. the section's defaults for the current [`AppEnv`];
/// 2. `config/default.toml`, then `config/{env}.toml` (directory from
///    `APP_CONFIG_DIR`, default `./config`); a missing file is fine;
/// 3. `.env`, then `.env.local`: local only, read into a map (the process
///    environment is never changed); elsewhere they are ignored with a
///    warning naming the file;
/// 4. the variables (the process environment, or the map given to
///    [`Loader::hermetic`]);
/// 5. `NAME_FILE` for any variable `NAME`: the file's contents, trailing
///    newline trimmed; setting both `NAME` and `NAME_FILE` is an error;
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
    env: Option<AppEnv>,
    config_dir: Option<PathBuf>,
    dotenv_dir: PathBuf,
    prefix: Option<String>,
    overrides: Vec<(String, Json)>,
}

impl fmt::Debug for Loader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Variable and override values may be secrets: names and keys only.
        f.debug_struct("Loader")
            .field("vars", &self.vars.keys().collect::<Vec<_>>())
            .field("env", &self.env)
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
    /// A loader over the process environment (variables that are not valid
    /// UTF-8 are skipped), the config directory from `APP_CONFIG_DIR` (default
    /// `./config`) and `.env` files in the working directory.
    pub fn from_process_env() -> Loader {
        Loader::hermetic(
            std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))),
        )
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
            env: None,
            config_dir: None,
            dotenv_dir: PathBuf::from("."),
            prefix: None,
            overrides: Vec::new(),
        }
    }

    /// Uses `env` instead of reading `APP_ENV`.
    pub fn env(mut self, env: AppEnv) -> Self {
        self.env = Some(env);
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

    /// Loads `C` and evaluates the policy. Policy violations do not fail
    /// here: call [`Loaded::enforce`] (or use [`crate::load`]) to refuse
    /// startup on them, or read [`Loaded::policy`] to report them.
    ///
    /// # Errors
    /// An unknown `APP_ENV`, an unreadable or malformed file, both `NAME`
    /// and `NAME_FILE`, an unreadable secret file, or a value of the wrong
    /// type. Each names the key and the source.
    pub fn load<C: Section>(&self) -> Result<Loaded<C>, Error> {
        let (env, env_unset) = match self.env {
            Some(env) => (env, false),
            None => AppEnv::from_lookup(|name| self.var(name))?,
        };
        let mut warnings = Vec::new();

        let mut schema = Schema::default();
        C::register(&mut Registry::<C>::root(&mut schema, env));
        schema.aliases.push(crate::section::Alias {
            var: POLICY_ALLOW_VAR.to_owned(),
            key: POLICY_ALLOW_KEY.to_owned(),
            inverted: false,
        });

        // 1. Defaults. They are fed back into the loader, so secrets keep
        // their real values here (a redacted default would load as
        // `[REDACTED]`); the redacted form tells which keys hold secrets.
        let typed_defaults = C::defaults(env);
        let defaults_error = |err: serde_json::Error| Error::Invalid {
            key: String::new(),
            source_name: Source::Default.to_string(),
            message: format!("the defaults do not serialize: {err}"),
        };
        let redacted_defaults = serde_json::to_value(&typed_defaults).map_err(defaults_error)?;
        schema.redacted.extend(redacted_keys(&redacted_defaults));
        let mut defaults = to_value_exposed(&typed_defaults).map_err(defaults_error)?;
        drop(typed_defaults);
        if let Json::Object(map) = &mut defaults {
            map.entry(POLICY_KEY)
                .or_insert_with(|| serde_json::json!({ "allow": [] }));
        }
        let shapes = Shapes::from_defaults(&defaults);
        let mut provenance = Provenance::default();
        let mut layers: Vec<Json> = Vec::new();
        record_tree(&mut provenance, &defaults, Source::Default);
        layers.push(defaults);

        // 2. Files.
        let dir = self
            .config_dir
            .clone()
            .or_else(|| self.var(crate::loader::CONFIG_DIR_VAR).map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("config"));
        for name in ["default.toml".to_owned(), format!("{}.toml", env.as_str())] {
            let path = dir.join(&name);
            if let Some(file) = sources::read_toml(&path)? {
                for (key, line, value) in &file.leaves {
                    provenance.record(
                        key.clone(),
                        Source::File {
                            path: path.clone(),
                            line: *line,
                        },
                        value.clone(),
                    );
                }
                layers.push(file.tree);
            }
        }

        // 3 and 4. `.env` files (local only) below the variables. Within
        // one source, a more specific name is applied last and so wins
        // (`SERVER__PORT` over `SERVER_PORT` over the alias `PORT`),
        // whatever the alphabetical order of the names.
        let mapping = Mapping::new(&schema, &shapes, self.prefix.as_deref());
        let mut raw_vars: Vec<RawVar> = Vec::new();
        for name in [".env", ".env.local"] {
            let path = self.dotenv_dir.join(name);
            if env.is_local() {
                let mut vars = sources::read_dotenv(&path)?;
                vars.sort_by_key(|v| mapping.specificity(&v.name, &shapes));
                raw_vars.extend(vars);
            } else if path.is_file() {
                warnings.push(format!(
                    "{} ignored: .env files are read only in local (APP_ENV={env})",
                    path.display()
                ));
            }
        }
        let mut vars: Vec<RawVar> = self
            .vars
            .iter()
            .map(|(name, value)| RawVar {
                name: name.clone(),
                value: value.clone(),
                source: Source::Env { var: name.clone() },
            })
            .collect();
        vars.sort_by_key(|v| mapping.specificity(&v.name, &shapes));
        raw_vars.extend(vars);

        let (env_tree, file_tree) =
            mapping.apply(&raw_vars, &shapes, &mut provenance, &mut warnings)?;
        layers.push(env_tree);
        layers.push(file_tree);

        // 6. Overrides.
        let mut override_tree = Json::Object(Map::new());
        for (key, value) in &self.overrides {
            insert_path(&mut override_tree, key, value.clone());
            // A table sets every key under it.
            let mut leaves = Vec::new();
            flatten(key, value, &mut leaves);
            for (leaf, value) in leaves {
                provenance.record(leaf, Source::Override, value);
            }
        }
        layers.push(override_tree);

        // Policy waivers travel beside the configuration, not inside it, so
        // a service struct with `deny_unknown_fields` still loads.
        let mut figment = Figment::new();
        let mut policy_figment = Figment::new();
        for mut tree in layers {
            let policy = match &mut tree {
                Json::Object(map) => map.remove(POLICY_KEY),
                _ => None,
            };
            if let Some(policy) = policy {
                policy_figment = policy_figment.merge(Serialized::defaults(policy));
            }
            figment = figment.merge(Serialized::defaults(tree));
        }

        let config: C = figment
            .extract_lossy()
            .map_err(|err| invalid(err, &provenance, &schema))?;
        let allow: Vec<String> = match policy_figment.extract_inner_lossy::<Vec<String>>("allow") {
            Ok(list) => list,
            Err(err) => match policy_figment.extract_inner_lossy::<String>("allow") {
                Ok(text) => split_list(&text),
                Err(_) => {
                    return Err(Error::Invalid {
                        key: POLICY_ALLOW_KEY.to_owned(),
                        source_name: provenance.source_of(POLICY_ALLOW_KEY),
                        message: describe_figment_error(&err),
                    });
                }
            },
        };

        // Explain.
        let mut effective = serde_json::to_value(&config).map_err(|err| Error::Invalid {
            key: String::new(),
            source_name: "effective configuration".to_owned(),
            message: format!("does not serialize: {err}"),
        })?;
        if let Json::Object(map) = &mut effective {
            map.insert(
                POLICY_KEY.to_owned(),
                serde_json::json!({ "allow": allow.clone() }),
            );
        }
        let explain = build_explain(env, &effective, &provenance, &schema);

        // Policy.
        let dotenv_example = sources::read_placeholders(&self.dotenv_dir.join(".env.example"));
        let mut findings: Vec<Finding> = Vec::new();
        {
            let mut check = Check::new(env, &provenance, &mut findings);
            rules::builtin(
                &mut check,
                &figment,
                &schema,
                &dotenv_example,
                self.prefix.as_deref().unwrap_or_default(),
            );
            for rule in &schema.rules {
                check.set_rule(rule.id);
                (rule.run)(&figment, &mut check)?;
            }
        }
        for id in &allow {
            let known = schema.rules.iter().any(|r| r.id == id)
                || rules::BUILTIN_IDS.contains(&id.as_str());
            if !known {
                warnings.push(format!(
                    "policy.allow names `{id}`, which is not a known rule id"
                ));
            }
        }
        let policy = PolicyReport::classify(env, findings, &allow);

        Ok(Loaded {
            config,
            env,
            env_unset,
            policy,
            explain,
            warnings,
        })
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

/// A loaded configuration with its environment, policy report and
/// provenance.
pub struct Loaded<C> {
    config: C,
    env: AppEnv,
    env_unset: bool,
    policy: PolicyReport,
    explain: Explain,
    warnings: Vec<String>,
}

impl<C> fmt::Debug for Loaded<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The typed config is left out: its own Debug may not redact
        // fields the registry marked as secrets.
        f.debug_struct("Loaded")
            .field("env", &self.env)
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

    /// The environment it was loaded for.
    pub fn env(&self) -> AppEnv {
        self.env
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

    /// Loader warnings: ignored `.env` files, "did you mean" hints, unknown
    /// waivers. Policy warnings are in [`Loaded::policy`].
    pub fn warnings(&self) -> &[String] {
        &self.warnings
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
        for warning in &self.warnings {
            tracing::warn!(target: "appenv_config", "{warning}");
        }
        for finding in &self.policy.warnings {
            tracing::warn!(target: "appenv_config", rule = finding.rule, key = %finding.key, source = %finding.source, "{}", finding.message);
        }
        for finding in &self.policy.waived {
            tracing::warn!(target: "appenv_config", rule = finding.rule, key = %finding.key, "policy rule waived by policy.allow: {}", finding.message);
        }
        tracing::info!(target: "appenv_config", env = %self.env, fingerprint = %self.explain.fingerprint, "configuration loaded");
    }
}

/// The shapes of the known keys, learned from the serialized defaults.
#[derive(Debug, Default)]
pub(crate) struct Shapes {
    /// Every known dotted key (leaves and tables).
    pub(crate) known: BTreeSet<String>,
    /// Keys whose default is a list: a variable for them is split on commas.
    pub(crate) lists: BTreeSet<String>,
    /// Leaf keys, in order.
    pub(crate) leaves: Vec<String>,
}

impl Shapes {
    fn from_defaults(defaults: &Json) -> Shapes {
        let mut shapes = Shapes::default();
        let mut leaves = Vec::new();
        flatten("", defaults, &mut leaves);
        for (key, value) in leaves {
            let mut parent = key.as_str();
            while let Some(dot) = parent.rfind('.') {
                parent = &parent[..dot];
                shapes.known.insert(parent.to_owned());
            }
            if value.is_array() {
                shapes.lists.insert(key.clone());
            }
            shapes.known.insert(key.clone());
            shapes.leaves.push(key);
        }
        shapes
    }
}

/// How variable names map onto keys.
#[derive(Debug)]
struct Mapping<'a> {
    /// Flat name (without prefix) → (key, inverted).
    flat: BTreeMap<String, (String, bool)>,
    prefix: Option<&'a str>,
}

/// Variables that every shell or platform sets and that must never be
/// taken for a typo of a configuration variable.
const NEVER_SUGGEST: &[&str] = &[
    "HOME", "PATH", "USER", "SHELL", "TERM", "PWD", "OLDPWD", "LANG", "HOSTNAME", "LOGNAME",
    "TMPDIR", "TZ", "MAIL", "EDITOR", "PAGER", "DISPLAY", "SHLVL", "COLUMNS", "LINES",
];

impl<'a> Mapping<'a> {
    fn new(schema: &Schema, shapes: &Shapes, prefix: Option<&'a str>) -> Mapping<'a> {
        let mut flat = BTreeMap::new();
        for key in &shapes.leaves {
            let name = key.replace('.', "_").to_ascii_uppercase();
            flat.entry(name).or_insert_with(|| (key.clone(), false));
        }
        for alias in &schema.aliases {
            flat.insert(alias.var.clone(), (alias.key.clone(), alias.inverted));
        }
        Mapping { flat, prefix }
    }

    /// The name to match, without the prefix; `None` if the prefix is
    /// configured and missing.
    fn strip<'n>(&self, name: &'n str) -> Option<&'n str> {
        match self.prefix {
            None => Some(name),
            Some(prefix) => name.strip_prefix(prefix),
        }
    }

    /// The key `name` sets (`name` already stripped of the prefix).
    fn resolve(&self, name: &str, shapes: &Shapes) -> Option<(String, bool)> {
        if name.contains("__") {
            let key = name
                .split("__")
                .map(str::to_ascii_lowercase)
                .collect::<Vec<_>>()
                .join(".");
            let top = key.split('.').next().unwrap_or_default();
            return shapes.known.contains(top).then_some((key, false));
        }
        self.flat.get(&name.to_ascii_uppercase()).cloned()
    }

    /// How specific a variable name is, for ordering variables of one
    /// source: an alias (0), the full path joined with `_` (1), `__`
    /// nesting (2). Unknown names sort first.
    fn specificity(&self, name: &str, shapes: &Shapes) -> u8 {
        let Some(stripped) = self.strip(name) else {
            return 0;
        };
        let base = match self.resolve(stripped, shapes) {
            Some(_) => stripped,
            None => match stripped.strip_suffix("_FILE") {
                Some(base) if self.resolve(base, shapes).is_some() => base,
                _ => return 0,
            },
        };
        if base.contains("__") {
            return 2;
        }
        match self.flat.get(&base.to_ascii_uppercase()) {
            Some((key, _)) if key.replace('.', "_").eq_ignore_ascii_case(base) => 1,
            _ => 0,
        }
    }

    /// For a `__` name whose key is not a known setting (nor under a known
    /// map or optional table), the closest known key.
    fn unknown_nested<'s>(&self, key: &str, shapes: &'s Shapes) -> Option<Option<&'s str>> {
        if shapes.known.contains(key) {
            return None;
        }
        let mut parent = key;
        while let Some(dot) = parent.rfind('.') {
            parent = &parent[..dot];
            if shapes.leaves.iter().any(|leaf| leaf == parent) {
                return None;
            }
        }
        let limit = (key.len() / 5).clamp(1, 3);
        let closest = shapes
            .leaves
            .iter()
            .map(|known| (strsim::damerau_levenshtein(key, known), known))
            .filter(|(d, _)| *d <= limit)
            .min()
            .map(|(_, known)| known.as_str());
        Some(closest)
    }

    fn suggest(&self, name: &str) -> Option<&str> {
        if name.len() < 6 || NEVER_SUGGEST.contains(&name) || name.contains("SERVICE_") {
            return None;
        }
        let upper = name.to_ascii_uppercase();
        let limit = (upper.len() / 5).clamp(1, 3);
        self.flat
            .keys()
            .map(|known| (strsim::damerau_levenshtein(&upper, known), known))
            .filter(|(d, _)| *d > 0 && *d <= limit)
            .min()
            .map(|(_, known)| known.as_str())
    }

    /// Turns the variables into the environment layer and the secret-file
    /// layer, recording provenance.
    fn apply(
        &self,
        vars: &[RawVar],
        shapes: &Shapes,
        provenance: &mut Provenance,
        warnings: &mut Vec<String>,
    ) -> Result<(Json, Json), Error> {
        let mut env_tree = Json::Object(Map::new());
        let mut file_tree = Json::Object(Map::new());
        let present: BTreeSet<&str> = vars.iter().map(|v| v.name.as_str()).collect();
        let mut file_entries = Vec::new();

        // The last variable of the current source that set each key, to
        // warn when two names of one source set the same key differently.
        let mut set_by: BTreeMap<String, (String, String, Json)> = BTreeMap::new();
        for var in vars {
            if var.name == APP_ENV_VAR || var.name == CONFIG_DIR_VAR {
                if let Source::Dotenv { path, line, .. } = &var.source {
                    warnings.push(format!(
                        "{}:{line} sets {}, which is read only from the process environment; ignored",
                        path.display(),
                        var.name
                    ));
                }
                continue;
            }
            let Some(name) = self.strip(&var.name) else {
                continue;
            };
            if let Some((key, inverted)) = self.resolve(name, shapes) {
                let value = convert(&var.value, &key, inverted, shapes, &var.source)?;
                if name.contains("__")
                    && let Some(closest) = self.unknown_nested(&key, shapes)
                {
                    let hint = closest.map_or_else(String::new, |known| {
                        format!(
                            "; did you mean {}{}?",
                            self.prefix.unwrap_or_default(),
                            known.replace('.', "__").to_ascii_uppercase()
                        )
                    });
                    warnings.push(format!(
                        "variable {} sets `{key}`, which is not a known setting{hint}",
                        var.name
                    ));
                }
                let layer = source_layer(&var.source);
                if let Some((prev_layer, prev_var, prev_value)) = set_by.get(&key)
                    && *prev_layer == layer
                    && *prev_value != value
                {
                    warnings.push(format!(
                        "{prev_var} and {} both set `{key}`; {} wins (the more specific name)",
                        var.name, var.name
                    ));
                }
                set_by.insert(key.clone(), (layer, var.name.clone(), value.clone()));
                insert_path(&mut env_tree, &key, value.clone());
                provenance.record(key, var.source.clone(), value);
                continue;
            }
            if let Some(base) = name.strip_suffix("_FILE")
                && let Some((key, inverted)) = self.resolve(base, shapes)
            {
                let full_base = var.name.strip_suffix("_FILE").unwrap_or(base);
                if present.contains(full_base) {
                    return Err(Error::Conflict {
                        var: full_base.to_owned(),
                    });
                }
                file_entries.push((full_base.to_owned(), var, key, inverted));
                continue;
            }
            if let Some(suggestion) = self.suggest(name) {
                let prefix = self.prefix.unwrap_or_default();
                warnings.push(format!(
                    "variable {} is not a known setting; did you mean {prefix}{suggestion}?",
                    var.name
                ));
            }
        }

        for (base, var, key, inverted) in file_entries {
            let path = PathBuf::from(&var.value);
            let contents = sources::read_secret_file(&base, &path)?;
            let source = Source::SecretFile {
                var: var.name.clone(),
                path,
            };
            let value = convert(&contents, &key, inverted, shapes, &source)?;
            // `PORT_FILE` beside `SERVER_PORT`: not the `NAME`/`NAME_FILE`
            // conflict, but one of them is silently unused without this.
            if let Some((_, other, _)) = set_by.get(&key) {
                warnings.push(format!(
                    "{} and {other} both set `{key}`; the secret file named by {} wins",
                    var.name, var.name
                ));
            }
            insert_path(&mut file_tree, &key, value.clone());
            provenance.record(key, source, value);
        }
        Ok((env_tree, file_tree))
    }
}

/// Which source a variable came from (`.env`, `.env.local` or the
/// environment), to tell names of one source from layered ones.
fn source_layer(source: &Source) -> String {
    match source {
        Source::Dotenv { path, .. } => path.display().to_string(),
        other => other
            .to_string()
            .split(' ')
            .next()
            .unwrap_or_default()
            .to_owned(),
    }
}

/// Splits a comma-separated list, trimming items and dropping empty ones.
fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A variable's value as a configuration value: a string (typed later,
/// leniently), a list for list keys, or an inverted boolean.
fn convert(
    raw: &str,
    key: &str,
    inverted: bool,
    shapes: &Shapes,
    source: &Source,
) -> Result<Json, Error> {
    if inverted {
        let value = parse_bool(raw).ok_or_else(|| Error::Invalid {
            key: key.to_owned(),
            source_name: source.to_string(),
            message: "expected a boolean (true/false, 1/0, yes/no, on/off)".to_owned(),
        })?;
        return Ok(Json::Bool(!value));
    }
    if shapes.lists.contains(key) {
        return Ok(Json::Array(
            split_list(raw).into_iter().map(Json::String).collect(),
        ));
    }
    Ok(Json::String(raw.to_owned()))
}

fn parse_bool(raw: &str) -> Option<bool> {
    const TRUE: &[&str] = &["true", "yes", "1", "on"];
    const FALSE: &[&str] = &["false", "no", "0", "off"];
    let raw = raw.trim();
    if TRUE.iter().any(|t| t.eq_ignore_ascii_case(raw)) {
        Some(true)
    } else if FALSE.iter().any(|f| f.eq_ignore_ascii_case(raw)) {
        Some(false)
    } else {
        None
    }
}

/// Inserts `value` at the dotted `key`, creating tables on the way.
pub(crate) fn insert_path(tree: &mut Json, key: &str, value: Json) {
    let mut node = tree;
    let mut parts = key.split('.').peekable();
    while let Some(part) = parts.next() {
        if !node.is_object() {
            *node = Json::Object(Map::new());
        }
        let Json::Object(map) = node else {
            return;
        };
        if parts.peek().is_none() {
            map.insert(part.to_owned(), value);
            return;
        }
        node = map
            .entry(part.to_owned())
            .or_insert_with(|| Json::Object(Map::new()));
    }
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
    let leaf = key.rsplit('.').next().unwrap_or(key).to_ascii_lowercase();
    [
        "password",
        "passwd",
        "secret",
        "token",
        "api_key",
        "apikey",
        "private_key",
        "jwt",
        "cookie",
        "authorization",
    ]
    .iter()
    .any(|word| leaf.contains(word))
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

fn build_explain(
    env: AppEnv,
    effective: &Json,
    provenance: &Provenance,
    schema: &Schema,
) -> Explain {
    let mut leaves = Vec::new();
    flatten("", effective, &mut leaves);
    let entries: Vec<Entry> = leaves
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
                            source: layer.source.to_string(),
                            value: redact_value(&layer.value, hide_shadowed),
                        })
                        .collect()
                })
                .unwrap_or_default();
            Entry {
                value: redact_value(&value, sensitive),
                key,
                source,
                shadowed,
            }
        })
        .collect();
    let fingerprint = fingerprint(env, &entries);
    Explain {
        env,
        fingerprint,
        entries,
    }
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
        source_name: provenance.source_of(&key),
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
