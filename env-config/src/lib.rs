//! Environment-aware configuration: `APP_ENV`, layered loading, secrets,
//! policy and provenance.
#![doc = include_str!("docs/overview.md")]

mod env;
mod error;
mod loader;
mod policy;
mod provenance;
mod secret;
mod section;
mod server;

pub use env::{APP_ENV_VAR, AppEnv};
pub use error::{EXIT_CONFIG, Error};
pub use loader::{Loaded, Loader};
pub use policy::{Check, Finding, Level, PolicyReport};
pub use provenance::{Entry, Explain, Shadowed, Source};
pub use secret::{REDACTED, Secret, SecretString, SecretUrl, Zeroize, redact_url};
pub use section::{Registry, Section};
pub use server::{DEFAULT_PORT, ServerConfig};
