//! Migration state exported as metrics to the in-process collector:
//! pending migrations and dirty state from the status readiness reads, and
//! the last apply's duration.

mod support;

use std::time::Instant;

use appenv_config::{AppEnv, Section};
use appenv_migrate::{MigrationFile, Migrations, Migrator};
use appenv_observability::{Health, TelemetryBuilder, TelemetryConfig, migration_metrics};
use opentelemetry_proto::tonic::metrics::v1::Metric;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use support::Collector;

fn migrations() -> Migrations {
    Migrations::from_files(files())
}

fn files() -> Vec<MigrationFile> {
    vec![
        MigrationFile::new(
            "V1__create_events.sql",
            "CREATE TABLE events (id INTEGER PRIMARY KEY, name TEXT NOT NULL);",
        )
        .unwrap(),
        MigrationFile::new(
            "V2__index_events.sql",
            "CREATE INDEX events_name ON events (name);",
        )
        .unwrap(),
    ]
}

/// The last value of a gauge in everything the collector received.
fn gauge(metrics: &[Metric], name: &str) -> Option<f64> {
    metrics
        .iter()
        .filter(|m| m.name == name)
        .filter_map(|m| match &m.data {
            Some(Data::Gauge(g)) => g.data_points.last().cloned(),
            _ => None,
        })
        .next_back()
        .map(|point| match point.value {
            Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsInt(v)) => {
                v as f64
            }
            Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsDouble(
                v,
            )) => v,
            None => f64::NAN,
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_dirty_and_last_apply_reach_the_collector() {
    let collector = Collector::start();
    let mut telemetry = TelemetryConfig::defaults(AppEnv::Staging);
    telemetry.otlp_endpoint = collector.grpc_endpoint();
    let (dispatch, guard) = TelemetryBuilder::new(AppEnv::Staging, &telemetry)
        .with_writer(support::Capture::default())
        .build()
        .unwrap();
    let _scope = tracing::dispatcher::set_default(&dispatch);
    let provider = guard.meter_provider().unwrap();
    let metrics = migration_metrics(provider);

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/app.db?mode=rwc", dir.path().display());
    let health = Health::new().migrations_with_metrics(
        "migrations",
        Migrator::new(url.as_str(), migrations(), AppEnv::Local).unwrap(),
        &metrics,
    );

    // Before anything is known, nothing is reported.
    provider.force_flush().unwrap();
    assert_eq!(
        gauge(&collector.metrics(), "appenv.migrations.pending"),
        None
    );

    // Readiness reads the status: two pending, not dirty.
    assert!(!health.readiness().await.is_ready());
    provider.force_flush().unwrap();
    let received = collector.metrics();
    assert_eq!(
        gauge(&received, "appenv.migrations.pending"),
        Some(2.0),
        "{received:#?}"
    );
    assert_eq!(gauge(&received, "appenv.migrations.dirty"), Some(0.0));
    assert_eq!(
        gauge(&received, "appenv.migrations.last_apply.duration"),
        None
    );

    // The service applies them and records how long that took.
    let started = Instant::now();
    Migrator::new(url.as_str(), migrations(), AppEnv::Local)
        .unwrap()
        .up()
        .await
        .unwrap();
    let took = started.elapsed();
    metrics.record_apply(took);
    assert!(health.readiness().await.is_ready());
    provider.force_flush().unwrap();
    let received = collector.metrics();
    assert_eq!(gauge(&received, "appenv.migrations.pending"), Some(0.0));
    assert_eq!(gauge(&received, "appenv.migrations.dirty"), Some(0.0));
    let unit = received
        .iter()
        .find(|m| m.name == "appenv.migrations.last_apply.duration")
        .map(|m| m.unit.clone());
    assert_eq!(unit.as_deref(), Some("s"));
    assert_eq!(
        gauge(&received, "appenv.migrations.last_apply.duration"),
        Some(took.as_secs_f64())
    );

    // A no-transaction migration that fails part-way leaves the database
    // dirty; the next status read says so.
    let mut files = files();
    files.push(
        MigrationFile::new(
            "V3__backfill.sql",
            "-- appenv:no-transaction\nCREATE TABLE audit (id INTEGER);\nINSERT INTO missing_table VALUES (1);",
        )
        .unwrap(),
    );
    let broken = Migrations::from_files(files);
    let failed = Migrator::new(url.as_str(), broken.clone(), AppEnv::Local)
        .unwrap()
        .up()
        .await;
    assert!(failed.is_err(), "the second statement fails");
    let health = Health::new().migrations_with_metrics(
        "migrations",
        Migrator::new(url.as_str(), broken, AppEnv::Local).unwrap(),
        &metrics,
    );
    assert!(!health.readiness().await.is_ready());
    provider.force_flush().unwrap();
    let received = collector.metrics();
    assert_eq!(
        gauge(&received, "appenv.migrations.dirty"),
        Some(1.0),
        "{received:#?}"
    );
    drop(_scope);
    guard.shutdown().unwrap();
}
