//! [`Section`]: a typed part of the configuration with per-environment
//! defaults, and the [`Registry`] through which it declares its variable
//! aliases, secrets and policy rules.

use std::fmt;
use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::env::AppEnv;
use crate::error::Error;
use crate::policy::Check;

/// A typed configuration section (or the whole configuration of a service).
///
/// A section has per-environment defaults and may declare, through
/// [`Registry`], the flat variable names that set its keys
/// (`PORT` → `server.port`), the keys that hold secrets or database URLs
/// (checked by the built-in policy rules) and rules of its own. A service
/// composes sections into one struct that is itself a `Section`:
///
/// ```
/// use appenv_config::{AppEnv, Registry, Section, SecretString, ServerConfig};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Serialize, Deserialize)]
/// struct Config {
///     server: ServerConfig,
///     jwt_secret: Option<SecretString>,
/// }
///
/// impl Section for Config {
///     fn defaults(env: AppEnv) -> Self {
///         Config { server: ServerConfig::defaults(env), jwt_secret: None }
///     }
///     fn register(reg: &mut Registry<'_, Self>) {
///         reg.section::<ServerConfig>("server");
///         reg.secret("jwt_secret");
///     }
/// }
/// ```
///
/// `Serialize` is used to learn the known keys and their shapes from the
/// defaults, so serialize every field (no `skip_serializing_if`), and give
/// list fields an empty list rather than `None` as their default: that is
/// how a comma-separated variable is known to be a list.
pub trait Section: Serialize + DeserializeOwned + 'static {
    /// The defaults for `env`.
    fn defaults(env: AppEnv) -> Self;

    /// Declares aliases, secrets, database URLs, sub-sections and rules.
    fn register(reg: &mut Registry<'_, Self>) {
        let _ = reg;
    }
}

/// A flat variable name that sets a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Alias {
    pub(crate) var: String,
    pub(crate) key: String,
    pub(crate) inverted: bool,
}

pub(crate) type RuleFn =
    Box<dyn Fn(&figment::Figment, &mut Check<'_>) -> Result<(), Error> + Send + Sync>;

/// One registered policy rule.
pub(crate) struct RuleDef {
    pub(crate) id: &'static str,
    pub(crate) run: RuleFn,
}

impl fmt::Debug for RuleDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuleDef").field("id", &self.id).finish()
    }
}

/// Everything the sections declared, with keys made absolute.
#[derive(Debug, Default)]
pub(crate) struct Schema {
    pub(crate) aliases: Vec<Alias>,
    pub(crate) secrets: Vec<String>,
    pub(crate) database_urls: Vec<String>,
    pub(crate) rules: Vec<RuleDef>,
    /// Keys whose default serializes as `[REDACTED]`: secret-typed fields,
    /// redacted like registered secrets (but not checked by `secret.*`).
    pub(crate) redacted: Vec<String>,
}

/// Where a [`Section`] declares what it needs. Keys given to it are
/// relative to the section; the registry makes them absolute.
pub struct Registry<'a, S: ?Sized> {
    schema: &'a mut Schema,
    prefix: String,
    env: AppEnv,
    _section: PhantomData<fn(&S)>,
}

impl<S: ?Sized> fmt::Debug for Registry<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("prefix", &self.prefix)
            .field("env", &self.env)
            .finish_non_exhaustive()
    }
}

pub(crate) fn join_key(prefix: &str, key: &str) -> String {
    match (prefix.is_empty(), key.is_empty()) {
        (true, _) => key.to_owned(),
        (_, true) => prefix.to_owned(),
        _ => format!("{prefix}.{key}"),
    }
}

impl<S: Section> Registry<'_, S> {
    pub(crate) fn root(schema: &mut Schema, env: AppEnv) -> Registry<'_, S> {
        Registry {
            schema,
            prefix: String::new(),
            env,
            _section: PhantomData,
        }
    }

    /// The environment being loaded.
    pub fn env(&self) -> AppEnv {
        self.env
    }

    /// The absolute dotted key of `key` inside this section.
    pub fn key(&self, key: &str) -> String {
        join_key(&self.prefix, key)
    }

    /// Registers the sub-section `T` at `key` (its field name in this
    /// section), with everything `T` registers.
    pub fn section<T: Section>(&mut self, key: &str) -> &mut Self {
        let prefix = self.key(key);
        let mut sub = Registry::<T> {
            schema: self.schema,
            prefix,
            env: self.env,
            _section: PhantomData,
        };
        T::register(&mut sub);
        self
    }

    /// Lets the flat variable `var` (without the optional prefix) set `key`:
    /// `reg.alias("PORT", "port")` in the server section makes `PORT` set
    /// `server.port`. The full-path name (`SERVER_PORT`) always works too.
    pub fn alias(&mut self, var: &str, key: &str) -> &mut Self {
        self.push_alias(var, key, false)
    }

    /// Like [`Registry::alias`] for a boolean whose variable means the
    /// opposite: `reg.alias_inverted("DISABLE_RATE_LIMITING", "enabled")`.
    pub fn alias_inverted(&mut self, var: &str, key: &str) -> &mut Self {
        self.push_alias(var, key, true)
    }

    fn push_alias(&mut self, var: &str, key: &str, inverted: bool) -> &mut Self {
        let key = self.key(key);
        self.schema.aliases.push(Alias {
            var: var.to_ascii_uppercase(),
            key,
            inverted,
        });
        self
    }

    /// Marks `key` as a secret the service needs: in production it must be
    /// set, at least 32 bytes long and not a known placeholder (rules
    /// `secret.missing`, `secret.too-short`, `secret.placeholder`). Its value
    /// is redacted in every output, whatever its type.
    pub fn secret(&mut self, key: &str) -> &mut Self {
        let key = self.key(key);
        self.schema.secrets.push(key);
        self
    }

    /// Marks `key` as a database URL, checked by the `database.*` rules
    /// (loopback host or TLS disabled in production, a name or host that
    /// names another environment, a remote host in local). Its password is
    /// redacted in every output.
    pub fn database_url(&mut self, key: &str) -> &mut Self {
        let key = self.key(key);
        self.schema.database_urls.push(key);
        self
    }

    /// Adds the policy rule `id`, evaluated on this section's effective
    /// value after loading. The closure reports through [`Check`]:
    /// [`Check::violation`] (refused in production, a warning elsewhere),
    /// [`Check::deny`] (refused in every environment), [`Check::forbid`]
    /// (refused, and no waiver applies) or [`Check::warn`]. Keys it names are
    /// relative to this section.
    ///
    /// Rule ids are stable, lowercase, dotted (`rate-limit.disabled`): users
    /// waive them by name with `policy.allow`.
    pub fn rule<F>(&mut self, id: &'static str, check: F) -> &mut Self
    where
        F: Fn(&mut Check<'_>, &S) -> Result<(), Error> + Send + Sync + 'static,
        S: Sized,
    {
        let prefix = self.prefix.clone();
        let run: RuleFn = Box::new(move |figment, ctx| {
            let value: S = if prefix.is_empty() {
                figment.extract_lossy()
            } else {
                figment.extract_inner_lossy(&prefix)
            }
            .map_err(|err| Error::Rule {
                rule: id,
                message: crate::error::describe_figment_error(&err),
            })?;
            ctx.enter(&prefix);
            let outcome = check(ctx, &value);
            ctx.leave();
            outcome
        });
        self.schema.rules.push(RuleDef { id, run });
        self
    }
}
