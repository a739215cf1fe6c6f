//! Database credentials that rotate: [`CredentialRotation`] moves a pool to
//! a new URL (from `DATABASE_URL_FILE`, re-read by appenv-config) without a
//! restart and retires the connections opened with the old credentials.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use appenv_config::{SecretHandle, redact_url};
use sqlx::pool::{PoolConnectionMetadata, PoolOptions};
use sqlx::{Connection, Pool};

/// Rotates a pool's credentials. Build the pool with
/// [`CredentialRotation::pool_options`] and call
/// [`CredentialRotation::follow`] with the handle of the database URL:
///
/// - each new URL the handle accepts becomes the pool's connect options
///   ([`Pool::set_connect_options`]), so every connection opened from then
///   on uses the new credentials;
/// - connections opened before are retired: an idle one at once, a busy one
///   when its query finishes and it is released (a query in flight is never
///   interrupted). The longest query running at the rotation bounds how long
///   an old connection lives;
/// - the migrator and readiness check, built from the pool
///   ([`IntoDatabase`](crate::IntoDatabase) for `&Pool`), open their
///   dedicated connections with the pool's options as they are at each run.
///
/// Rotate the password in the database first (`ALTER ROLE app PASSWORD …`:
/// existing sessions stay logged in), then update the secret file; keep
/// the old password valid until the file is updated everywhere (or use two
/// roles and switch between them).
#[derive(Debug, Clone, Default)]
pub struct CredentialRotation {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// When the pool last moved to new credentials.
    rotated_at: Mutex<Option<Instant>>,
    rotations: AtomicU64,
    retired: AtomicU64,
}

impl CredentialRotation {
    /// A rotation that has not rotated yet.
    pub fn new() -> CredentialRotation {
        CredentialRotation::default()
    }

    /// `options` with hooks that retire connections opened before the last
    /// rotation: they are closed instead of being handed out
    /// (`before_acquire`) or put back (`after_release`).
    pub fn pool_options<DB: sqlx::Database>(&self, options: PoolOptions<DB>) -> PoolOptions<DB> {
        let acquire = self.clone();
        let release = self.clone();
        options
            .before_acquire(move |_, meta| {
                let keep = acquire.keep(&meta);
                Box::pin(async move { Ok(keep) })
            })
            .after_release(move |_, meta| {
                let keep = release.keep(&meta);
                Box::pin(async move { Ok(keep) })
            })
    }

    /// `false` for a connection opened before the last rotation.
    fn keep(&self, meta: &PoolConnectionMetadata) -> bool {
        let rotated_at = *self
            .inner
            .rotated_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let old = rotated_at.is_some_and(|at| meta.age > at.elapsed());
        if old {
            self.inner.retired.fetch_add(1, Ordering::Relaxed);
        }
        !old
    }

    /// How many times the pool moved to new credentials.
    pub fn rotations(&self) -> u64 {
        self.inner.rotations.load(Ordering::Relaxed)
    }

    /// How many connections opened with old credentials were closed.
    pub fn retired(&self) -> u64 {
        self.inner.retired.load(Ordering::Relaxed)
    }

    /// Moves `pool` to `url` now and retires its idle connections. Call it
    /// within a tokio runtime (connections are returned to the pool on it).
    ///
    /// # Errors
    /// When the driver refuses the URL (the message never shows the
    /// password); the pool keeps its options.
    pub fn rotate<DB>(&self, pool: &Pool<DB>, url: &str) -> Result<(), String>
    where
        DB: sqlx::Database,
        <DB::Connection as Connection>::Options: FromStr,
        <<DB::Connection as Connection>::Options as FromStr>::Err: std::fmt::Display,
    {
        // sqlx spells it mysql://; appenv also accepts mariadb://.
        let url = url
            .strip_prefix("mariadb:")
            .map_or_else(|| url.to_owned(), |rest| format!("mysql:{rest}"));
        let options = url
            .parse::<<DB::Connection as Connection>::Options>()
            .map_err(|err| redact_url(&err.to_string()).into_owned())?;
        pool.set_connect_options(options);
        *self
            .inner
            .rotated_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        self.inner.rotations.fetch_add(1, Ordering::Relaxed);
        // Idle connections: taking each one and putting it back runs
        // `after_release`, which closes it when it is old; a new one goes
        // back to the idle queue.
        for _ in 0..pool.num_idle() {
            drop(pool.try_acquire());
        }
        Ok(())
    }

    /// Follows `url` (the handle of the database URL, reloadable when it
    /// comes from `DATABASE_URL_FILE`) on a task of the current tokio
    /// runtime until the pool is closed: every accepted change is applied
    /// with [`CredentialRotation::rotate`] and logged (target
    /// `appenv_migrate`) with the key and the new value's fingerprint,
    /// never the URL's password. A static handle never changes; the task
    /// then only waits for the pool to close.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn follow<DB>(&self, pool: &Pool<DB>, url: &SecretHandle) -> tokio::task::JoinHandle<()>
    where
        DB: sqlx::Database,
        <DB::Connection as Connection>::Options: FromStr,
        <<DB::Connection as Connection>::Options as FromStr>::Err: std::fmt::Display,
    {
        let rotation = self.clone();
        let pool = pool.clone();
        let key = url.key().to_owned();
        let mut changes = url.subscribe();
        tokio::spawn(async move {
            let closed = pool.close_event();
            tokio::pin!(closed);
            loop {
                tokio::select! {
                    () = &mut closed => return,
                    changed = changes.changed() => {
                        if changed.is_err() {
                            return;
                        }
                    }
                }
                let version = changes.borrow_and_update().clone();
                match rotation.rotate(&pool, version.value().expose()) {
                    Ok(()) => tracing::info!(
                        target: "appenv_migrate",
                        key = %key,
                        fingerprint = %version.fingerprint(),
                        "database credentials rotated: new connections use them, old ones are retired"
                    ),
                    Err(reason) => tracing::error!(
                        target: "appenv_migrate",
                        key = %key,
                        reason = %reason,
                        "rotated database URL refused by the driver: the pool keeps the old one"
                    ),
                }
            }
        })
    }
}
