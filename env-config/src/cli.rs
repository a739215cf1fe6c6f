//! [`ConfigArgs`]: the `config explain` and `config check` commands, for a
//! service to mount in its own clap CLI (feature `cli`).

use std::io::{self, Write};

use clap::{Args, Subcommand, ValueEnum};

use crate::env::APP_ENV_VAR;
use crate::error::{EXIT_CONFIG, Error};
use crate::loaded::Loaded;
use crate::loader::Loader;
use crate::section::Section;

/// `config explain [--format json]` and `config check [--format json]`,
/// mountable in a service's CLI like `appenv_migrate::MigrateArgs`.
///
/// Both load the configuration exactly as startup does (the same
/// [`Loader`], the same checks), so what `serve` refuses, `check` reports:
///
/// | command | stdout | stderr | exit |
/// |---|---|---|---|
/// | `explain` | the explain table | the loader's warnings | 0, 78 on a load error |
/// | `explain --format json` | `{"env", "tier", "fingerprint", "entries", "warnings"}` | — | 0, 78 |
/// | `check` | the policy report | the loader's warnings | 0, 78 on violations or a load error |
/// | `check --format json` | `{"env", "tier", "errors", "violations", "warnings", "waived"}` | — | 0, 78 |
///
/// ```
/// use appenv_config::{ConfigArgs, Loader, ServerConfig};
/// use clap::Parser;
///
/// #[derive(Parser)]
/// struct Cli {
///     #[command(subcommand)]
///     command: Command,
/// }
///
/// #[derive(clap::Subcommand)]
/// enum Command {
///     /// Show or check the effective configuration.
///     Config(ConfigArgs),
/// }
///
/// let cli = Cli::parse_from(["svc", "config", "check", "--format", "json"]);
/// let Command::Config(args) = cli.command;
/// let loader = Loader::hermetic([("APP_ENV", "production"), ("ENABLE_DEBUG_ENDPOINTS", "true")])
///     .config_dir("does-not-exist");
/// let mut out = Vec::new();
/// let code = args.run_with::<ServerConfig>(&loader, &mut out, &mut std::io::sink());
/// assert_eq!(code, 78);
/// let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
/// assert_eq!(doc["violations"][0]["rule"], "server.debug-endpoints");
/// ```
#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ConfigCommand,
}

/// The `config` subcommands.
#[derive(Debug, Clone, Subcommand)]
#[non_exhaustive]
pub enum ConfigCommand {
    /// Every effective key with its (redacted) value and the source that set it.
    Explain {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// The policy for the current APP_ENV: every violation with its rule id,
    /// key, source and fix; exit status 78 on violations.
    Check {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

/// Output format of [`ConfigCommand`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
#[non_exhaustive]
pub enum Format {
    /// Human-readable text.
    #[default]
    Text,
    /// The stable JSON documents.
    Json,
}

impl ConfigArgs {
    /// Loads `C` with `loader` and runs the command, writing to stdout and
    /// stderr. Returns the exit status (0, or 78 for a configuration
    /// refused or not loadable).
    pub fn run<C: Section>(&self, loader: &Loader) -> i32 {
        self.run_with::<C>(loader, &mut io::stdout().lock(), &mut io::stderr().lock())
    }

    /// [`ConfigArgs::run`] writing to the given streams.
    pub fn run_with<C: Section>(
        &self,
        loader: &Loader,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> i32 {
        let loaded = loader.load::<C>();
        // Output errors (a closed pipe) change nothing about the verdict.
        match self.render(loader, &loaded, out, err) {
            Ok(code) | Err((code, _)) => code,
        }
    }

    fn render<C>(
        &self,
        loader: &Loader,
        loaded: &Result<Loaded<C>, Error>,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Result<i32, (i32, io::Error)> {
        let (format, check) = match self.command {
            ConfigCommand::Explain { format } => (format, false),
            ConfigCommand::Check { format } => (format, true),
        };
        let code = match loaded {
            Ok(loaded) if check && !loaded.policy().is_ok() => EXIT_CONFIG,
            Ok(_) => 0,
            Err(_) => EXIT_CONFIG,
        };
        let io = |e: io::Error| (code, e);
        match (loaded, format) {
            (Ok(loaded), Format::Json) => {
                let doc = if check {
                    loaded.check_json()
                } else {
                    loaded.explain_json()
                };
                writeln!(out, "{doc:#}").map_err(io)?;
            }
            (Ok(loaded), Format::Text) => {
                for warning in loaded.warnings() {
                    writeln!(err, "warning: {warning}").map_err(io)?;
                }
                if check {
                    writeln!(out, "{}", loaded.policy()).map_err(io)?;
                } else {
                    write!(out, "{}", loaded.explain()).map_err(io)?;
                }
            }
            (Err(error), Format::Json) => {
                writeln!(
                    out,
                    "{:#}",
                    error.to_json(env_name(loader, error).as_deref())
                )
                .map_err(io)?;
            }
            (Err(error), Format::Text) => {
                writeln!(err, "configuration error: {error}").map_err(io)?;
            }
        }
        Ok(code)
    }
}

/// The environment's name for a load error's document: `APP_ENV` as given
/// (lowercased), `local` when unset, `null` when `APP_ENV` is the error.
fn env_name(loader: &Loader, error: &Error) -> Option<String> {
    match error {
        Error::UnknownEnv { .. } => return None,
        Error::NotUnicode { var } if var == APP_ENV_VAR => return None,
        _ => {}
    }
    match loader.raw_var(APP_ENV_VAR).map(str::trim) {
        None | Some("") => Some("local".to_owned()),
        Some(value) => Some(match crate::env::AppEnv::parse(value) {
            Ok(tier) => tier.as_str().to_owned(),
            Err(_) => value.to_ascii_lowercase(),
        }),
    }
}
