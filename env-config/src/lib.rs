//! Environment-aware configuration: `APP_ENV`, layered loading, secrets,
//! policy and provenance.
#![doc = include_str!("docs/overview.md")]
#![doc = include_str!("docs/rotation.md")]
#![cfg_attr(feature = "derive", doc = include_str!("docs/derive.md"))]

// The code `#[derive(Section)]` generates names `::appenv_config::…`; this
// lets the crate derive its own sections (`ServerConfig`).
extern crate self as appenv_config;

#[cfg(feature = "cli")]
mod cli;
mod client_addr;
mod dotenv;
mod env;
mod error;
mod exit;
mod lists;
mod loaded;
mod loader;
mod mapping;
mod placeholders;
mod policy;
mod provenance;
mod rotation;
mod rules;
mod secret;
mod section;
mod sensitive;
mod server;
mod service_url;
mod sources;

/// Derives [`Section`](trait@Section); see [Deriving `Section`](crate#deriving-section)
/// and the attribute reference below.
#[cfg(feature = "derive")]
#[doc(inline)]
pub use appenv_config_derive::Section;
#[cfg(feature = "cli")]
pub use cli::{ConfigArgs, ConfigCommand, Format};
pub use client_addr::{
    ClientAddrResolver, ClientIpHeader, MAX_HOPS, deserialize_trusted_proxies, parse_trusted_proxy,
};
pub use env::{APP_ENV_VAR, AppEnv, Environment};
pub use error::{EXIT_CONFIG, Error, MAX_SECRET_FILE_BYTES};
pub use exit::{CommandStatus, ExitCoded, Failure, code_to_exit, exit};
pub use lists::deserialize_string_list;
pub use loaded::Loaded;
pub use loader::{CONFIG_DIR_VAR, Loader, POLICY_ALLOW_VAR, load};
pub use placeholders::Placeholders;
pub use policy::{Check, Level, PolicyFinding, PolicyReport};
pub use provenance::{Explain, ExplainEntry, Shadowed, Source};
pub use rotation::{
    DEFAULT_RELOAD_INTERVAL, KeyRing, LiveExplain, PREVIOUS_SUFFIX, PreviousVersion, Reload,
    ReloadMode, ReloadOptions, SecretHandle, SecretVersion, credentials_summary,
    secret_fingerprint,
};
pub use rules::MIN_SECRET_BYTES;
pub use secret::{REDACTED, Secret, SecretString, SecretUrl, Zeroize};
pub use section::{Registry, Section};
pub use sensitive::{SENSITIVE_FRAGMENTS, SENSITIVE_WORDS, is_sensitive_name, is_sensitive_param};
pub use server::{DEFAULT_PORT, ServerConfig};
pub use service_url::{
    Host, HostPort, ServiceUrl, Tls, UrlBackend, UrlError, is_loopback_host, redact_header_list,
    redact_url,
};
