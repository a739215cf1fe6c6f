//! The real services benches run against, and the skip message when one is
//! not there.

use std::fmt;

/// A service a bench needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// PostgreSQL (`TEST_POSTGRES_URL`).
    Postgres,
    /// Redis (`TEST_REDIS_URL`).
    Redis,
}

impl Service {
    fn variable(self) -> &'static str {
        match self {
            Service::Postgres => "TEST_POSTGRES_URL",
            Service::Redis => "TEST_REDIS_URL",
        }
    }

    fn default_url(self) -> &'static str {
        match self {
            Service::Postgres => "postgres://postgres@127.0.0.1:5432/test",
            Service::Redis => "redis://127.0.0.1:6379",
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Service::Postgres => "PostgreSQL",
            Service::Redis => "Redis",
        })
    }
}

/// The URL of `service`: its `TEST_*_URL` variable, else the local default.
pub fn service_url(service: Service) -> String {
    std::env::var(service.variable()).unwrap_or_else(|_| service.default_url().to_owned())
}

/// Reports that `service` could not be reached: a loud skip locally, a
/// panic when `CI` is set (CI must measure everything).
///
/// # Panics
///
/// When the `CI` variable is set.
pub fn unreachable(service: Service, bench: &str, error: &dyn fmt::Display) {
    let message = format!(
        "{bench}: {service} at {} ({}) is unreachable: {error}",
        appenv_config::redact_url(&service_url(service)),
        service.variable(),
    );
    if std::env::var_os("CI").is_some() {
        panic!("{message}");
    }
    eprintln!("\n*** SKIPPED {message}\n");
}
