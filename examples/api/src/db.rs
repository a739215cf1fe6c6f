//! The events store: one sqlx pool per backend behind an enum, the embedded
//! migrations of each backend, and the two queries the API needs.
//!
//! An enum over typed pools (rather than sqlx's `Any` driver) keeps each
//! backend's native types and placeholders, and hands appenv-migrate the
//! pool it expects (`&Pool<Postgres>` and so on implement `IntoDatabase`).

use appenv_config::SecretHandle;
use appenv_migrate::{CredentialRotation, Database, DatabaseConfig, DatabaseKind, Migrations};
use appenv_observability::Health;
use serde::Serialize;
use sqlx::{MySqlPool, PgPool, SqlitePool};

/// The migrations compiled into this binary for `backend`
/// (`migrations/{postgres,mysql,sqlite}/`, undo scripts included).
pub(crate) fn migrations(backend: DatabaseKind) -> Result<Migrations, appenv_migrate::Error> {
    match backend {
        DatabaseKind::Postgres => appenv_migrate::embed_migrations!("migrations/postgres"),
        DatabaseKind::MySql => appenv_migrate::embed_migrations!("migrations/mysql"),
        _ => appenv_migrate::embed_migrations!("migrations/sqlite"),
    }
}

/// A pool for one of the supported backends.
#[derive(Debug, Clone)]
pub(crate) enum Db {
    Postgres(PgPool),
    MySql(MySqlPool),
    Sqlite(SqlitePool),
}

/// One stored event.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Event {
    pub(crate) id: String,
    #[serde(rename = "type")]
    pub(crate) kind: String,
    #[serde(serialize_with = "raw_json")]
    pub(crate) payload: String,
    pub(crate) actor: String,
    pub(crate) created_at: String,
}

fn raw_json<S: serde::Serializer>(payload: &str, s: S) -> Result<S::Ok, S::Error> {
    let value: serde_json::Value =
        serde_json::from_str(payload).map_err(serde::ser::Error::custom)?;
    value.serialize(s)
}

impl Db {
    /// A lazily connecting pool for `config.url` (appenv-migrate reads the
    /// URL: `mariadb://`, a local SQLite file and its `./data/` directory).
    /// Connections opened before a credential rotation of `rotation` are
    /// retired.
    pub(crate) fn connect_lazy(
        config: &DatabaseConfig,
        rotation: &CredentialRotation,
    ) -> Result<Db, appenv_migrate::Error> {
        let url = config.url.expose();
        Ok(match Database::from_url(url)?.backend() {
            DatabaseKind::Postgres => Db::Postgres(
                config.connect_lazy_with(rotation.pool_options(config.pool_options()))?,
            ),
            DatabaseKind::MySql => {
                Db::MySql(config.connect_lazy_with(rotation.pool_options(config.pool_options()))?)
            }
            _ => Db::Sqlite(config.connect_lazy()?),
        })
    }

    /// Moves the pool to each new URL `url` yields (a rotated
    /// `DATABASE_URL_FILE`), until the pool closes. SQLite has no
    /// credentials to rotate.
    pub(crate) fn follow(&self, rotation: &CredentialRotation, url: &SecretHandle) {
        match self {
            Db::Postgres(pool) => drop(rotation.follow(pool, url)),
            Db::MySql(pool) => drop(rotation.follow(pool, url)),
            Db::Sqlite(_) => {}
        }
    }

    pub(crate) fn backend(&self) -> DatabaseKind {
        match self {
            Db::Postgres(_) => DatabaseKind::Postgres,
            Db::MySql(_) => DatabaseKind::MySql,
            Db::Sqlite(_) => DatabaseKind::Sqlite,
        }
    }

    /// The pool as appenv-migrate's `Database` (its connect options, for
    /// the migrator's dedicated connection).
    pub(crate) fn database(&self) -> Result<Database, appenv_migrate::Error> {
        use appenv_migrate::IntoDatabase;
        match self {
            Db::Postgres(pool) => pool.into_database(),
            Db::MySql(pool) => pool.into_database(),
            Db::Sqlite(pool) => pool.into_database(),
        }
    }

    /// Adds the readiness check `name`: appenv-observability's ping of
    /// this pool.
    pub(crate) fn readiness(&self, health: Health, name: &str) -> Health {
        match self {
            Db::Postgres(pool) => health.sqlx_pool(name, pool.clone()),
            Db::MySql(pool) => health.sqlx_pool(name, pool.clone()),
            Db::Sqlite(pool) => health.sqlx_pool(name, pool.clone()),
        }
    }

    pub(crate) async fn insert_event(&self, event: &Event) -> Result<(), sqlx::Error> {
        const PG: &str =
            "INSERT INTO events (id, kind, payload, actor, created_at) VALUES ($1, $2, $3, $4, $5)";
        const OTHER: &str =
            "INSERT INTO events (id, kind, payload, actor, created_at) VALUES (?, ?, ?, ?, ?)";
        macro_rules! insert {
            ($sql:expr, $pool:expr) => {
                sqlx::query($sql)
                    .bind(&event.id)
                    .bind(&event.kind)
                    .bind(&event.payload)
                    .bind(&event.actor)
                    .bind(&event.created_at)
                    .execute($pool)
                    .await
                    .map(drop)
            };
        }
        match self {
            Db::Postgres(pool) => insert!(PG, pool),
            Db::MySql(pool) => insert!(OTHER, pool),
            Db::Sqlite(pool) => insert!(OTHER, pool),
        }
    }

    /// The newest `limit` events, newest first.
    pub(crate) async fn recent_events(&self, limit: i64) -> Result<Vec<Event>, sqlx::Error> {
        const PG: &str = "SELECT id, kind, payload, actor, created_at FROM events \
                          ORDER BY created_at DESC, id DESC LIMIT $1";
        const OTHER: &str = "SELECT id, kind, payload, actor, created_at FROM events \
                             ORDER BY created_at DESC, id DESC LIMIT ?";
        type Row = (String, String, String, String, String);
        let rows: Vec<Row> = match self {
            Db::Postgres(pool) => sqlx::query_as(PG).bind(limit).fetch_all(pool).await?,
            Db::MySql(pool) => sqlx::query_as(OTHER).bind(limit).fetch_all(pool).await?,
            Db::Sqlite(pool) => sqlx::query_as(OTHER).bind(limit).fetch_all(pool).await?,
        };
        Ok(rows
            .into_iter()
            .map(|(id, kind, payload, actor, created_at)| Event {
                id,
                kind,
                payload,
                actor,
                created_at,
            })
            .collect())
    }

    pub(crate) async fn close(&self) {
        match self {
            Db::Postgres(pool) => pool.close().await,
            Db::MySql(pool) => pool.close().await,
            Db::Sqlite(pool) => pool.close().await,
        }
    }
}
