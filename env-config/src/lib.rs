//! Environment-aware configuration: `APP_ENV`, layered loading, secrets,
//! policy and provenance.
#![doc = include_str!("docs/overview.md")]

mod env;
mod error;
mod loader;
mod policy;
mod provenance;
mod rules;
mod secret;
mod section;
mod server;
mod sources;

pub use env::{APP_ENV_VAR, AppEnv};
pub use error::{EXIT_CONFIG, Error};
pub use loader::{CONFIG_DIR_VAR, Loaded, Loader, POLICY_ALLOW_VAR, load};
pub use policy::{Check, Finding, Level, PolicyReport};
pub use provenance::{Entry, Explain, Shadowed, Source};
pub use rules::MIN_SECRET_BYTES;
pub use secret::{REDACTED, Secret, SecretString, SecretUrl, Zeroize, redact_url};
pub use section::{Registry, Section};
pub use server::{DEFAULT_PORT, ServerConfig};
