//! Liveness and readiness: a registry of named async checks, run together
//! under one timeout, with JSON bodies for `/healthz` and `/readyz`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

/// The default time each readiness check gets: 800 ms.
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_millis(800);

/// How long [`Health::migrations`] reuses the migration status it read.
#[cfg(feature = "migrate")]
pub const MIGRATIONS_STATUS_TTL: Duration = Duration::from_secs(30);

/// The paths of [`Health::router`]'s probes. The HTTP layer leaves
/// requests to these out of the access log and out of tracing by default.
pub const PROBE_PATHS: [&str; 2] = ["/healthz", "/readyz"];

type CheckFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
type CheckFn = Arc<dyn Fn() -> CheckFuture + Send + Sync>;

/// One registered check and whether it failed last time (shared by every
/// clone, so a state change is logged once however many probes see it).
#[derive(Clone)]
struct Registered {
    name: String,
    run: CheckFn,
    failing: Arc<AtomicBool>,
}

/// The registered readiness checks.
///
/// Liveness (`/healthz`) answers 200 as long as the process serves
/// requests; it runs no checks, so a slow dependency never gets a healthy
/// process restarted. Readiness (`/readyz`) runs every check concurrently,
/// each bounded by the timeout, and answers 503 with the names of the
/// failing checks. Bodies carry check names and outcomes only; error
/// details go to the log (a database error can name hosts and users).
///
/// Once [`set_shutting_down`](Self::set_shutting_down) is called (the
/// [`Server`](crate::Server) does it the moment SIGTERM or SIGINT arrives),
/// readiness answers 503 with status `shutting_down` without running the
/// checks, in every clone of this `Health`, so load balancers stop sending
/// new requests while the in-flight ones drain.
///
/// ```
/// use std::time::Duration;
/// use appenv_observability::Health;
///
/// let health = Health::new()
///     .with_timeout(Duration::from_secs(2))
///     .check("cache", || async { Ok::<_, std::io::Error>(()) });
/// # let _ = health;
/// ```
#[derive(Clone)]
pub struct Health {
    checks: Vec<Registered>,
    timeout: Duration,
    /// Shared by every clone (the router's copy included).
    shutting_down: Arc<AtomicBool>,
}

impl fmt::Debug for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Health")
            .field(
                "checks",
                &self
                    .checks
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("timeout", &self.timeout)
            .field("shutting_down", &self.is_shutting_down())
            .finish()
    }
}

impl Default for Health {
    fn default() -> Self {
        Self::new()
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum CheckStatus {
    /// Passed.
    Ok,
    /// Returned an error.
    Failed,
    /// Did not finish within the timeout.
    Timeout,
}

/// One check's result.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct CheckResult {
    /// The check's name.
    pub name: String,
    /// Its outcome.
    pub status: CheckStatus,
    /// How long it ran, in milliseconds.
    pub duration_ms: u64,
}

/// The result of all readiness checks.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Readiness {
    /// `ready`, `unavailable` (a check failed) or `shutting_down` (the
    /// process is draining; no check was run).
    pub status: &'static str,
    /// The names of the checks that did not pass.
    pub failing: Vec<String>,
    /// Every check, in registration order.
    pub checks: Vec<CheckResult>,
}

impl Readiness {
    /// Whether every check passed.
    pub fn is_ready(&self) -> bool {
        self.status == "ready"
    }
}

impl Health {
    /// No checks, a timeout of [`DEFAULT_CHECK_TIMEOUT`] (below
    /// Kubernetes' default 1 s probe timeout, so the probe gets an answer
    /// naming the slow check rather than timing out itself).
    pub fn new() -> Self {
        Health {
            checks: Vec::new(),
            timeout: DEFAULT_CHECK_TIMEOUT,
            shutting_down: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Marks the process as shutting down: from now on readiness answers
    /// 503 (`shutting_down`) in every clone of this `Health`. Liveness is
    /// unaffected. Irreversible.
    pub fn set_shutting_down(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    /// Whether [`set_shutting_down`](Self::set_shutting_down) was called.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }

    /// Sets the timeout each check must finish within.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Registers the readiness check `name`: an async function returning
    /// `Ok(())` when the dependency is usable.
    #[must_use]
    pub fn check<F, Fut, E>(mut self, name: impl Into<String>, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display,
    {
        let run: CheckFn = Arc::new(move || {
            let fut = check();
            Box::pin(async move { fut.await.map_err(|e| e.to_string()) })
        });
        self.checks.push(Registered {
            name: name.into(),
            run,
            failing: Arc::new(AtomicBool::new(false)),
        });
        self
    }

    /// The registered check names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.checks.iter().map(|c| c.name.as_str())
    }

    /// Runs every check concurrently, each within the timeout. A check that
    /// turns failing is logged once at warn level with its error, and once
    /// at info level when it recovers; probes in between log nothing above
    /// debug (orchestrators probe every few seconds).
    pub async fn readiness(&self) -> Readiness {
        if self.is_shutting_down() {
            return Readiness {
                status: "shutting_down",
                failing: Vec::new(),
                checks: Vec::new(),
            };
        }
        let timeout = self.timeout;
        let runs = self.checks.iter().map(|check| {
            let fut = (check.run)();
            let name = check.name.clone();
            let failing = Arc::clone(&check.failing);
            async move {
                let start = Instant::now();
                let (status, error) = match tokio::time::timeout(timeout, fut).await {
                    Ok(Ok(())) => (CheckStatus::Ok, None),
                    Ok(Err(error)) => (
                        CheckStatus::Failed,
                        Some(appenv_config::redact_url(&error).into_owned()),
                    ),
                    Err(_) => (
                        CheckStatus::Timeout,
                        Some(format!("did not finish within {timeout:?}")),
                    ),
                };
                let was_failing = failing.swap(error.is_some(), Ordering::SeqCst);
                match (&error, was_failing) {
                    (Some(error), false) => tracing::warn!(
                        check = %name,
                        error = %error,
                        "readiness check failing: the service reports not ready until it recovers"
                    ),
                    (Some(error), true) => {
                        tracing::debug!(check = %name, error = %error, "readiness check still failing")
                    }
                    (None, true) => tracing::info!(check = %name, "readiness check recovered"),
                    (None, false) => {}
                }
                CheckResult {
                    name,
                    status,
                    duration_ms: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
                }
            }
        });
        let checks = join_all(runs).await;
        let failing: Vec<String> = checks
            .iter()
            .filter(|c| c.status != CheckStatus::Ok)
            .map(|c| c.name.clone())
            .collect();
        Readiness {
            status: if failing.is_empty() {
                "ready"
            } else {
                "unavailable"
            },
            failing,
            checks,
        }
    }

    /// A router with `GET /healthz` (always 200 `{"status":"ok"}`) and
    /// `GET /readyz` (200 when every check passes, 503 otherwise, with the
    /// [`Readiness`] as JSON). Merge it into the application's router.
    #[cfg(feature = "axum")]
    pub fn router<S>(self) -> axum::Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        use axum::Json;
        use axum::http::StatusCode;
        use axum::routing::get;

        let health = Arc::new(self);
        axum::Router::new()
            .route(
                "/healthz",
                get(|| async { Json(serde_json::json!({ "status": "ok" })) }),
            )
            .route(
                "/readyz",
                get(move || {
                    let health = health.clone();
                    async move {
                        let readiness = health.readiness().await;
                        let code = if readiness.is_ready() {
                            StatusCode::OK
                        } else {
                            StatusCode::SERVICE_UNAVAILABLE
                        };
                        (code, Json(readiness))
                    }
                }),
            )
    }
}

/// Polls all futures concurrently on the current task and returns their
/// outputs in order.
async fn join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut pending: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (fut, out) in pending.iter_mut().zip(outputs.iter_mut()) {
            if out.is_none() {
                match fut.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *out = Some(value),
                    std::task::Poll::Pending => done = false,
                }
            }
        }
        if done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

#[cfg(feature = "sqlx")]
impl Health {
    /// Registers the check `name` that acquires a connection from `pool`
    /// and pings the database.
    #[must_use]
    pub fn sqlx_pool<DB>(self, name: impl Into<String>, pool: sqlx::Pool<DB>) -> Self
    where
        DB: sqlx::Database,
    {
        self.check(name, move || {
            let pool = pool.clone();
            async move {
                use sqlx::Connection;
                let mut conn = pool.acquire().await?;
                conn.ping().await
            }
        })
    }
}

#[cfg(feature = "migrate")]
impl Health {
    /// Registers the check `name` that reads the migration history through
    /// `migrator` and fails while migrations are pending, divergent (edited
    /// after being applied) or missing. Migrations newer than this binary
    /// pass (a newer replica migrated ahead). It reads only: no audit row,
    /// no lock.
    ///
    /// Reading the history takes a database connection of its own, so a
    /// passing status is reused for [`MIGRATIONS_STATUS_TTL`]: a healthy
    /// service reads it once per TTL whatever the probe rate (concurrent
    /// probes wait for one read). A failing status is read again at the
    /// next probe, so the service turns ready as soon as migrations are
    /// applied.
    #[must_use]
    pub fn migrations(self, name: impl Into<String>, migrator: appenv_migrate::Migrator) -> Self {
        self.migrations_with_ttl(name, migrator, MIGRATIONS_STATUS_TTL)
    }

    /// [`migrations`](Self::migrations) with the status reused for `ttl`.
    #[must_use]
    pub fn migrations_with_ttl(
        self,
        name: impl Into<String>,
        migrator: appenv_migrate::Migrator,
        ttl: Duration,
    ) -> Self {
        self.migrations_check(name, migrator, ttl, None)
    }

    /// [`migrations`](Self::migrations), also recording every status it
    /// reads into `metrics` (pending and dirty migrations), so the metrics
    /// cost no connection of their own and are as fresh as readiness.
    #[must_use]
    pub fn migrations_with_metrics(
        self,
        name: impl Into<String>,
        migrator: appenv_migrate::Migrator,
        metrics: &crate::MigrationMetrics,
    ) -> Self {
        self.migrations_check(name, migrator, MIGRATIONS_STATUS_TTL, Some(metrics.clone()))
    }

    fn migrations_check(
        self,
        name: impl Into<String>,
        migrator: appenv_migrate::Migrator,
        ttl: Duration,
        metrics: Option<crate::MigrationMetrics>,
    ) -> Self {
        type Cached = Option<tokio::time::Instant>;
        let migrator = Arc::new(migrator);
        let cache: Arc<tokio::sync::Mutex<Cached>> = Arc::default();
        self.check(name, move || {
            let migrator = Arc::clone(&migrator);
            let cache = Arc::clone(&cache);
            let metrics = metrics.clone();
            async move {
                let mut cached = cache.lock().await;
                if cached.is_some_and(|passed_at| passed_at.elapsed() < ttl) {
                    return Ok(());
                }
                let result = match migrator.status().await {
                    Ok(status) => {
                        if let Some(metrics) = &metrics {
                            metrics.record_status(&status);
                        }
                        match status.problems() {
                            None => Ok(()),
                            Some(problems) => Err(problems.to_string()),
                        }
                    }
                    Err(err) => Err(err.to_string()),
                };
                *cached = result.is_ok().then(tokio::time::Instant::now);
                result
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn failing_and_slow_checks_are_named() {
        let health = Health::new()
            .with_timeout(Duration::from_secs(1))
            .check("fine", || async { Ok::<_, String>(()) })
            .check("broken", || async {
                Err::<(), _>("connection refused".to_owned())
            })
            .check("slow", || async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Ok::<_, String>(())
            });
        let started = tokio::time::Instant::now();
        let readiness = health.readiness().await;
        assert_eq!(
            readiness.failing,
            vec!["broken".to_owned(), "slow".to_owned()]
        );
        assert_eq!(readiness.status, "unavailable");
        assert_eq!(readiness.checks[2].status, CheckStatus::Timeout);
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(1),
            "checks run concurrently"
        );
    }

    #[tokio::test]
    async fn no_checks_means_ready() {
        assert!(Health::new().readiness().await.is_ready());
    }
}
