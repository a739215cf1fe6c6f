//! The events store: one sqlx pool per backend behind an enum, the embedded
//! migrations of each backend, and the two queries the API needs.
//!
//! An enum over typed pools (rather than sqlx's `Any` driver) keeps each
//! backend's native types and placeholders, and hands appenv-migrate the
//! pool it expects (`&Pool<Postgres>` and so on implement `IntoDatabase`).

use std::path::Path;

use appenv_migrate::{Database, DatabaseConfig, DatabaseKind, Migrations};
use serde::Serialize;
use sqlx::{MySqlPool, PgPool, SqlitePool};

mod embedded {
    pub(crate) mod postgres {
        refinery::embed_migrations!("migrations/postgres");
    }
    pub(crate) mod mysql {
        refinery::embed_migrations!("migrations/mysql");
    }
    pub(crate) mod sqlite {
        refinery::embed_migrations!("migrations/sqlite");
    }
}

/// The migrations compiled into this binary for `backend`
/// (`migrations/{postgres,mysql,sqlite}/`).
pub(crate) fn migrations(backend: DatabaseKind) -> Migrations {
    match backend {
        DatabaseKind::Postgres => Migrations::embedded(&embedded::postgres::migrations::runner()),
        DatabaseKind::MySql => Migrations::embedded(&embedded::mysql::migrations::runner()),
        _ => Migrations::embedded(&embedded::sqlite::migrations::runner()),
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
    /// A lazily connecting pool for `config.url`. A local SQLite file's
    /// directory (`./data/`) is created, and so is the file.
    pub(crate) fn connect_lazy(config: &DatabaseConfig) -> anyhow::Result<Db> {
        let url = config.url.expose();
        // appenv-migrate parses the URL (and names the backend) for us.
        let database = Database::from_url(url)?;
        Ok(match database.backend() {
            DatabaseKind::Postgres => Db::Postgres(config.pool_options().connect_lazy(url)?),
            DatabaseKind::MySql => {
                // sqlx spells it mysql://; appenv-migrate also accepts mariadb://.
                let url = url
                    .strip_prefix("mariadb:")
                    .map_or_else(|| url.to_owned(), |rest| format!("mysql:{rest}"));
                Db::MySql(config.pool_options().connect_lazy(&url)?)
            }
            _ => {
                let options: sqlx::sqlite::SqliteConnectOptions = url.parse()?;
                if let Some(dir) = options.get_filename().parent()
                    && dir != Path::new("")
                {
                    std::fs::create_dir_all(dir)?;
                }
                Db::Sqlite(
                    config
                        .pool_options()
                        .connect_lazy_with(options.create_if_missing(true)),
                )
            }
        })
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

    /// `SELECT 1` through the pool.
    pub(crate) async fn ping(&self) -> Result<(), sqlx::Error> {
        match self {
            Db::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop),
            Db::MySql(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop),
            Db::Sqlite(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop),
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
