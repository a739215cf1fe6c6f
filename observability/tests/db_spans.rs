//! sqlx statements exported once, as CLIENT spans that are children of the
//! request span, against the in-process collector: SQLite always, a real
//! PostgreSQL when reachable (`TEST_POSTGRES_URL`; skipped loudly, failing
//! under CI).
//!
//! sqlx's SQLite driver runs statements on a worker thread of its own,
//! which sees only the global subscriber: the SQLite test installs its
//! subscriber globally (the only one in this binary to do so), the
//! PostgreSQL test as the default of its own thread.

mod support;

use std::time::Duration;

use appenv_config::{AppEnv, Section};
use appenv_observability::{DatabaseIdentity, TelemetryBuilder, TelemetryConfig};
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::Request;
use axum::routing::get;
use opentelemetry_proto::tonic::trace::v1::Span;
use support::{Capture, Collector, attr, hex};
use tower::ServiceExt;

const SPAN_KIND_CLIENT: i32 = 3;

/// The two tests run one at a time: `tracing` caches each callsite's
/// interest across the subscribers alive when it is first hit, and a
/// thread-local subscriber appearing while the global one is being
/// installed can leave the request span's callsite disabled for it.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn events<DB>(State(pool): State<sqlx::Pool<DB>>) -> &'static str
where
    DB: sqlx::Database,
    for<'c> &'c sqlx::Pool<DB>: sqlx::Executor<'c, Database = DB>,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
{
    sqlx::query("INSERT INTO db_span_events (title) VALUES ('launch')")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("SELECT title FROM db_span_events WHERE title = 'launch'")
        .fetch_all(&pool)
        .await
        .unwrap();
    "ok"
}

/// Runs one request whose handler runs an INSERT and a SELECT, after a
/// CREATE TABLE outside any span; returns the exported spans and the
/// collector.
async fn run<DB>(
    env: AppEnv,
    pool: sqlx::Pool<DB>,
    identity: Option<DatabaseIdentity>,
    global: bool,
) -> (Vec<Span>, Collector)
where
    DB: sqlx::Database,
    for<'c> &'c sqlx::Pool<DB>: sqlx::Executor<'c, Database = DB>,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
{
    let collector = Collector::start();
    let mut config = TelemetryConfig::defaults(env).with_service("orders", "1.0.0");
    config.otlp_endpoint = collector.grpc_endpoint();
    // Everything at debug, sqlx's statement events included: they still
    // leave as spans only.
    config.rust_log = "debug".into();
    let mut builder = TelemetryBuilder::new(env, &config).with_writer(Capture::default());
    if let Some(identity) = identity {
        builder = builder.with_database(identity);
    }
    let (dispatch, guard) = builder.build().unwrap();
    let _scope = if global {
        tracing::dispatcher::set_global_default(dispatch).expect("the only global subscriber");
        None
    } else {
        Some(tracing::dispatcher::set_default(&dispatch))
    };
    sqlx::query("DROP TABLE IF EXISTS db_span_events")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("CREATE TABLE db_span_events (title TEXT NOT NULL)")
        .execute(&pool)
        .await
        .unwrap();
    let app = Router::new()
        .route("/events", get(events::<DB>))
        .with_state(pool.clone())
        .layer(guard.http_layer());
    let response = app
        .oneshot(Request::get("/events").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert!(response.status().is_success());
    sqlx::query("DROP TABLE db_span_events")
        .execute(&pool)
        .await
        .unwrap();
    drop(_scope);
    guard.shutdown().unwrap();
    (collector.spans(), collector)
}

fn request_and_statements(spans: &[Span]) -> (&Span, Vec<&Span>) {
    let request = spans
        .iter()
        .find(|s| s.name == "GET /events")
        .unwrap_or_else(|| panic!("no request span: {spans:#?}"));
    let statements = spans
        .iter()
        .filter(|s| s.kind == SPAN_KIND_CLIENT)
        .collect();
    (request, statements)
}

fn find<'a>(statements: &[&'a Span], operation: &str) -> &'a Span {
    statements
        .iter()
        .find(|s| attr(&s.attributes, "db.operation.name").as_deref() == Some(operation))
        .unwrap_or_else(|| panic!("no {operation} span: {statements:#?}"))
}

#[tokio::test]
async fn sqlite_statements_are_client_spans_under_the_request_and_nothing_else() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
    // Local at debug: the statement text is exported too.
    let identity = DatabaseIdentity::from_url("sqlite::memory:").unwrap();
    let (spans, collector) = run(AppEnv::Local, pool, Some(identity), true).await;
    let (request, statements) = request_and_statements(&spans);
    // Statements outside any span (CREATE and DROP around the request) are
    // not traced; what the request ran is (the pool's own PRAGMA included).
    for operation in ["CREATE", "DROP"] {
        assert!(
            statements
                .iter()
                .all(|s| attr(&s.attributes, "db.operation.name").as_deref() != Some(operation)),
            "{operation} ran outside any span: {statements:#?}"
        );
    }
    for statement in &statements {
        assert_eq!(statement.trace_id, request.trace_id);
        assert_eq!(
            hex(&statement.parent_span_id),
            hex(&request.span_id),
            "{} is a child of the request span",
            statement.name
        );
        assert!(statement.start_time_unix_nano >= request.start_time_unix_nano);
        assert!(statement.end_time_unix_nano <= request.end_time_unix_nano);
        assert_eq!(
            attr(&statement.attributes, "db.system.name").as_deref(),
            Some("sqlite")
        );
        assert_eq!(
            attr(&statement.attributes, "db.namespace"),
            None,
            "an in-memory database has no name"
        );
    }
    let select = find(&statements, "SELECT");
    assert_eq!(select.name, "SELECT db_span_events");
    let a = &select.attributes;
    assert_eq!(
        attr(a, "db.collection.name").as_deref(),
        Some("db_span_events")
    );
    assert_eq!(
        attr(a, "db.query.summary").as_deref(),
        Some("SELECT db_span_events")
    );
    assert_eq!(attr(a, "db.response.returned_rows").as_deref(), Some("1"));
    assert_eq!(
        attr(a, "db.query.text").as_deref(),
        Some("SELECT title FROM db_span_events WHERE title = 'launch'"),
        "local at debug carries the text"
    );
    assert_eq!(find(&statements, "INSERT").name, "INSERT db_span_events");

    // Exported once: not as events of the request span, not as log records.
    let events = format!("{:?}", request.events);
    assert!(
        !events.contains("db_span_events"),
        "statement span events: {events}"
    );
    let logs = format!("{:?}", collector.logs());
    assert!(!logs.contains("db_span_events"), "{logs}");
}

#[tokio::test]
async fn postgres_statements_name_their_system_and_database() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let url = std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let pool = match sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(3))
        .connect(&url)
        .await
    {
        Ok(pool) => pool,
        Err(err) if std::env::var_os("CI").is_none() => {
            eprintln!(
                "SKIPPED postgres_statements_name_their_system_and_database: PostgreSQL unreachable ({err})"
            );
            return;
        }
        Err(err) => panic!("PostgreSQL unreachable under CI: {err}"),
    };
    // A schema of its own (named from this process id, no outside input),
    // so parallel runs do not share the table.
    let schema = format!("db_spans_{}", std::process::id());
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE SCHEMA IF NOT EXISTS {schema}"
    )))
    .execute(&pool)
    .await
    .unwrap();
    let scoped = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .after_connect({
            let schema = schema.clone();
            move |conn, _| {
                let schema = schema.clone();
                Box::pin(async move {
                    sqlx::Executor::execute(
                        conn,
                        sqlx::AssertSqlSafe(format!("SET search_path TO {schema}")),
                    )
                    .await
                    .map(|_| ())
                })
            }
        })
        .connect(&url)
        .await
        .unwrap();
    let identity = DatabaseIdentity::from_url(&url).unwrap();
    let (spans, _) = run(AppEnv::Staging, scoped.clone(), Some(identity), false).await;
    scoped.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&pool)
        .await
        .unwrap();
    let (request, statements) = request_and_statements(&spans);
    let select = find(&statements, "SELECT");
    assert_eq!(hex(&select.parent_span_id), hex(&request.span_id));
    assert_eq!(
        attr(&select.attributes, "db.system.name").as_deref(),
        Some("postgresql")
    );
    let database = url.rsplit('/').next().unwrap().split('?').next().unwrap();
    assert_eq!(
        attr(&select.attributes, "db.namespace").as_deref(),
        Some(database)
    );
    for statement in &statements {
        assert_eq!(
            attr(&statement.attributes, "db.query.text"),
            None,
            "no statement text outside local: {}",
            statement.name
        );
    }
}
