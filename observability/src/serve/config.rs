//! [`LifecycleConfig`]: how the [`Server`](crate::Server) shuts down and how
//! long it waits for slow clients, per environment.

use std::time::Duration;

use appenv_config::Check;
use serde::{Deserialize, Serialize};

/// The longest pre-drain delay plus drain deadline the
/// `lifecycle.exit-budget` rule accepts: Kubernetes' default 30 s grace
/// period minus the 5 s telemetry flush (`OTEL_SHUTDOWN_TIMEOUT`).
pub const EXIT_BUDGET: Duration = Duration::from_secs(25);

/// The lifecycle section: shutdown phases and connection timeouts of
/// [`Server`](crate::Server) / [`serve`](crate::serve).
///
/// | key | variable | local | staging | production |
/// |---|---|---|---|---|
/// | `shutdown_delay_ms` | `SHUTDOWN_DELAY_MS` | 0 | 2000 | 5000 |
/// | `shutdown_drain_ms` | `SHUTDOWN_DRAIN_MS` | 2000 | 10000 | 15000 |
/// | `header_read_timeout_ms` | `HTTP_HEADER_READ_TIMEOUT_MS` | 10000 | 10000 | 10000 |
/// | `idle_timeout_ms` | `HTTP_IDLE_TIMEOUT_MS` | 75000 | 75000 | 75000 |
///
/// On SIGTERM or SIGINT readiness turns 503 at once; requests are still
/// served for `shutdown_delay_ms` (so load balancers notice the 503 and
/// stop routing here before connections are refused); then the listener
/// closes and in-flight requests get `shutdown_drain_ms` to finish; what
/// remains is closed. Telemetry is flushed afterwards within
/// `OTEL_SHUTDOWN_TIMEOUT` (5 s by default). With the production defaults
/// the whole exit takes at most 5 + 15 + 5 = 25 s, inside Kubernetes'
/// default 30 s grace period.
///
/// `header_read_timeout_ms` bounds how long a client may take to send a
/// request's headers (HTTP/1); `idle_timeout_ms` closes keep-alive
/// connections that carry no request for that long (above the 60 s idle
/// timeout of common load balancers, so they close first and never reuse a
/// connection the server is closing).
///
/// Rules: `lifecycle.invalid` (a zero drain deadline or timeout: refused
/// everywhere, not waivable) and `lifecycle.exit-budget` (delay plus drain
/// above [`EXIT_BUDGET`]: refused in production unless waived, a warning
/// elsewhere).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, appenv_config::Section)]
#[serde(deny_unknown_fields)]
#[config(rule(id = "lifecycle.invalid", check = invalid))]
#[config(rule(id = "lifecycle.exit-budget", check = exit_budget))]
pub struct LifecycleConfig {
    /// After the signal, how long requests are still served while
    /// readiness already answers 503, in milliseconds.
    #[config(
        alias = "SHUTDOWN_DELAY_MS",
        local = 0,
        staging = 2_000,
        production = 5_000
    )]
    pub shutdown_delay_ms: u64,
    /// How long in-flight requests get to finish once the listener is
    /// closed, in milliseconds.
    #[config(
        alias = "SHUTDOWN_DRAIN_MS",
        local = 2_000,
        staging = 10_000,
        production = 15_000
    )]
    pub shutdown_drain_ms: u64,
    /// How long a client may take to send a request's headers, in
    /// milliseconds.
    #[config(alias = "HTTP_HEADER_READ_TIMEOUT_MS", default = 10_000)]
    pub header_read_timeout_ms: u64,
    /// How long a connection may stay open without a request, in
    /// milliseconds.
    #[config(alias = "HTTP_IDLE_TIMEOUT_MS", default = 75_000)]
    pub idle_timeout_ms: u64,
}

impl LifecycleConfig {
    /// The pre-drain delay.
    pub fn shutdown_delay(&self) -> Duration {
        Duration::from_millis(self.shutdown_delay_ms)
    }

    /// The drain deadline.
    pub fn shutdown_drain(&self) -> Duration {
        Duration::from_millis(self.shutdown_drain_ms)
    }

    /// The header-read timeout.
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms)
    }

    /// The idle timeout.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_timeout_ms)
    }

    /// The values no server can work with, as `(key, message)`: the one
    /// check behind the `lifecycle.invalid` rule. [`Server`](crate::Server)
    /// relies on it having passed.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        for (key, value) in [
            ("shutdown_drain_ms", self.shutdown_drain_ms),
            ("header_read_timeout_ms", self.header_read_timeout_ms),
            ("idle_timeout_ms", self.idle_timeout_ms),
        ] {
            if value == 0 {
                out.push((key, "must be at least 1 millisecond".to_owned()));
            }
        }
        out
    }
}

/// Rule `lifecycle.invalid`: the values no server can work with.
fn invalid(check: &mut Check<'_>, cfg: &LifecycleConfig) -> Result<(), appenv_config::Error> {
    for (key, message) in cfg.problems() {
        check.forbid(key, message, "set a positive number of milliseconds");
    }
    Ok(())
}

/// Rule `lifecycle.exit-budget`: an exit that outlasts the grace period.
fn exit_budget(check: &mut Check<'_>, cfg: &LifecycleConfig) -> Result<(), appenv_config::Error> {
    let total = cfg.shutdown_delay_ms.saturating_add(cfg.shutdown_drain_ms);
    let budget = EXIT_BUDGET.as_millis();
    if u128::from(total) > budget {
        check.violation(
            "shutdown_drain_ms",
            format!(
                "shutdown delay plus drain is {total} ms, above {budget} ms: with the \
                 telemetry flush the exit outlasts Kubernetes' default 30 s grace \
                 period and the process is killed before telemetry is flushed"
            ),
            "lower SHUTDOWN_DELAY_MS and SHUTDOWN_DRAIN_MS (or raise the grace \
             period and waive lifecycle.exit-budget)",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use appenv_config::{AppEnv, Section};

    #[test]
    fn every_environment_exits_within_the_budget_by_default() {
        for env in [AppEnv::Local, AppEnv::Staging, AppEnv::Production] {
            let cfg = LifecycleConfig::defaults(env);
            assert!(cfg.problems().is_empty(), "{env}: {:?}", cfg.problems());
            assert!(cfg.shutdown_delay() + cfg.shutdown_drain() <= EXIT_BUDGET);
        }
        // The derived defaults are the table of the type's docs.
        let table = [
            (AppEnv::Local, [0, 2_000, 10_000, 75_000]),
            (AppEnv::Staging, [2_000, 10_000, 10_000, 75_000]),
            (AppEnv::Production, [5_000, 15_000, 10_000, 75_000]),
        ];
        for (env, row) in table {
            let c = LifecycleConfig::defaults(env);
            let got = [
                c.shutdown_delay_ms,
                c.shutdown_drain_ms,
                c.header_read_timeout_ms,
                c.idle_timeout_ms,
            ];
            assert_eq!(got, row, "{env}");
        }
    }

    #[test]
    fn zero_deadlines_are_problems() {
        let mut cfg = LifecycleConfig::defaults(AppEnv::Staging);
        cfg.shutdown_drain_ms = 0;
        cfg.idle_timeout_ms = 0;
        let keys: Vec<_> = cfg.problems().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["shutdown_drain_ms", "idle_timeout_ms"]);
    }
}
