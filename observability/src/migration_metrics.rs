//! appenv-migrate's state as OpenTelemetry metrics: pending migrations,
//! dirty state and the duration of the last apply.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use appenv_migrate::Status;
use opentelemetry::metrics::{MeterProvider, ObservableGauge};

/// What the gauges report; `None` until first recorded, so nothing is
/// reported before it is known.
#[derive(Debug, Default, Clone, Copy)]
struct Snapshot {
    pending: Option<u64>,
    dirty: Option<u64>,
    last_apply: Option<f64>,
}

/// The observable gauges reporting a service's migration state at each
/// metric collection, from what was last recorded into them. Clones share
/// the state; keep one alive as long as the metrics should be reported.
///
/// Instruments:
/// - `appenv.migrations.pending` (gauge, `{migration}`): migrations of this
///   binary not yet applied;
/// - `appenv.migrations.dirty` (gauge, `{migration}`): migrations that
///   stopped part-way and need `repair` (0 when the database is clean);
/// - `appenv.migrations.last_apply.duration` (gauge, `s`): how long the
///   last apply of this process took.
///
/// The state comes from the status reads the service makes anyway:
/// [`Health::migrations_with_metrics`](crate::Health::migrations_with_metrics)
/// records every status readiness reads (no connection of its own), and
/// [`record_apply`](Self::record_apply) the apply at startup. A metric
/// collection never touches the database.
#[derive(Debug, Clone)]
#[must_use = "the metrics are reported while this is alive"]
pub struct MigrationMetrics {
    state: Arc<Mutex<Snapshot>>,
    _instruments: Arc<[ObservableGauge<u64>; 2]>,
    _last_apply: Arc<ObservableGauge<f64>>,
}

/// Reports migration state through `provider` (for the global one:
/// `&opentelemetry::global::meter_provider()`, or
/// [`TelemetryGuard::meter_provider`](crate::TelemetryGuard::meter_provider)).
pub fn migration_metrics<P: MeterProvider + ?Sized>(provider: &P) -> MigrationMetrics {
    let meter = provider.meter("appenv-observability");
    let state = Arc::new(Mutex::new(Snapshot::default()));
    let read = |state: &Arc<Mutex<Snapshot>>| *state.lock().unwrap_or_else(PoisonError::into_inner);

    let s = Arc::clone(&state);
    let pending = meter
        .u64_observable_gauge("appenv.migrations.pending")
        .with_unit("{migration}")
        .with_description("Migrations of this binary not yet applied.")
        .with_callback(move |observer| {
            if let Some(pending) = read(&s).pending {
                observer.observe(pending, &[]);
            }
        })
        .build();

    let s = Arc::clone(&state);
    let dirty = meter
        .u64_observable_gauge("appenv.migrations.dirty")
        .with_unit("{migration}")
        .with_description("Migrations that stopped part-way and need repair.")
        .with_callback(move |observer| {
            if let Some(dirty) = read(&s).dirty {
                observer.observe(dirty, &[]);
            }
        })
        .build();

    let s = Arc::clone(&state);
    let last_apply = meter
        .f64_observable_gauge("appenv.migrations.last_apply.duration")
        .with_unit("s")
        .with_description("Duration of this process's last migration apply.")
        .with_callback(move |observer| {
            if let Some(seconds) = read(&s).last_apply {
                observer.observe(seconds, &[]);
            }
        })
        .build();

    MigrationMetrics {
        state,
        _instruments: Arc::new([pending, dirty]),
        _last_apply: Arc::new(last_apply),
    }
}

impl MigrationMetrics {
    /// Records a status read (`Migrator::status`): its pending and dirty
    /// migrations.
    pub fn record_status(&self, status: &Status) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.pending = Some(u64::try_from(status.pending.len()).unwrap_or(u64::MAX));
        state.dirty = Some(u64::try_from(status.dirty.len()).unwrap_or(u64::MAX));
    }

    /// Records how long an apply took (`run_startup` or `Migrator::up`,
    /// timed by the service).
    pub fn record_apply(&self, duration: Duration) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.last_apply = Some(duration.as_secs_f64());
    }
}
