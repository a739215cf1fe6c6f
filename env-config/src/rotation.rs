//! Secrets that rotate: [`SecretHandle`] (a secret re-read from its
//! `NAME_FILE` while the service runs) and [`KeyRing`] (the current value
//! plus the previous ones from `NAME_PREVIOUS` / `NAME_PREVIOUS_FILE`).
//!
//! A reloadable secret is polled: every [`ReloadOptions::interval`] a
//! thread of its own re-reads the file by its path and compares the
//! contents with what it saw last. See [Rotating secrets](crate#rotating-secrets)
//! for why polling rather than file-system notifications.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::env::Environment;
use crate::error::Error;
use crate::placeholders::Placeholders;
use crate::policy::{Check, Level, PolicyFinding};
use crate::provenance::{Explain, Provenance, Source, fingerprint};
use crate::rules;
use crate::secret::SecretString;
use crate::sources;

/// How often a reloadable secret file is re-read when
/// [`ReloadOptions::interval`] is not set.
pub const DEFAULT_RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// The suffix of the variable holding a secret's previous values.
pub const PREVIOUS_SUFFIX: &str = "_PREVIOUS";

/// How a reloadable secret is watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReloadOptions {
    /// How often the file is re-read ([`DEFAULT_RELOAD_INTERVAL`]).
    pub interval: Duration,
}

impl Default for ReloadOptions {
    fn default() -> Self {
        ReloadOptions {
            interval: DEFAULT_RELOAD_INTERVAL,
        }
    }
}

impl ReloadOptions {
    /// Re-reads the file every `interval` (at least one millisecond).
    #[must_use]
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval.max(Duration::from_millis(1));
        self
    }
}

/// Whether a secret can change while the service runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ReloadMode {
    /// Read once: the process environment, a `.env` or TOML file, a default
    /// or an override. Changing it takes a restart.
    Static,
    /// A `NAME_FILE` secret file, re-read while the service runs.
    File,
}

impl fmt::Display for ReloadMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReloadMode::Static => "static",
            ReloadMode::File => "reloadable",
        })
    }
}

/// What `explain` says about a secret: static or reloadable, and for a
/// reloadable one when it was last loaded and the fingerprint of its value
/// (never the value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reload {
    /// Static or reloadable.
    pub mode: ReloadMode,
    /// When the value in use was read (RFC 3339, UTC); reloadable only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loaded_at: Option<String>,
    /// [`secret_fingerprint`] of the value in use; reloadable only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// How many new values were refused since startup; reloadable only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected: Option<u64>,
}

impl Reload {
    pub(crate) fn fixed() -> Reload {
        Reload {
            mode: ReloadMode::Static,
            loaded_at: None,
            fingerprint: None,
            rejected: None,
        }
    }

    pub(crate) fn file(key: &str, value: &str, at: SystemTime, rejected: u64) -> Reload {
        Reload {
            mode: ReloadMode::File,
            loaded_at: Some(rfc3339(at)),
            fingerprint: Some(secret_fingerprint(key, value)),
            rejected: Some(rejected),
        }
    }
}

impl fmt::Display for Reload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.loaded_at, &self.fingerprint) {
            (Some(at), Some(print)) => write!(f, "{}, loaded {at}, fingerprint {print}", self.mode),
            _ => write!(f, "{}", self.mode),
        }
    }
}

/// A short fingerprint of a secret's value: the first 16 hex digits of the
/// SHA-256 of the key and the value. It tells two versions apart (and two
/// replicas holding different versions) without showing the value; it is
/// not a substitute for a strong secret (a guessable value can be found
/// from its fingerprint by trying candidates).
pub fn secret_fingerprint(key: &str, value: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"appenv-secret\0");
    hasher.update(key.as_bytes());
    hasher.update(b"\0");
    hasher.update(value.as_bytes());
    hasher
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn rfc3339(at: SystemTime) -> String {
    time::OffsetDateTime::from(at)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// What a [`crate::Loaded`] keeps to check and track rotated secrets: the
/// policy inputs of the load, where each key came from, the previous-value
/// variables, and the live state of the reloadable secrets.
pub(crate) struct Rotation {
    pub(crate) environment: Environment,
    pub(crate) allow: Vec<String>,
    pub(crate) placeholders: Placeholders,
    pub(crate) prefix: String,
    pub(crate) secrets: Vec<String>,
    pub(crate) database_urls: Vec<String>,
    /// Every key's winning source.
    pub(crate) sources: BTreeMap<String, Source>,
    /// `NAME_PREVIOUS` and `NAME_PREVIOUS_FILE` variables, by name.
    pub(crate) previous_vars: BTreeMap<String, (Source, SecretString)>,
    /// The explain document as loaded.
    pub(crate) explain: Explain,
    /// The current state of every reloadable secret a handle watches.
    pub(crate) live: Mutex<BTreeMap<String, Reload>>,
}

impl fmt::Debug for Rotation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rotation")
            .field("environment", &self.environment)
            .field(
                "previous_vars",
                &self.previous_vars.keys().collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Rotation {
    /// The explain document with the live state of every watched secret,
    /// and its fingerprint recomputed.
    pub(crate) fn current_explain(&self) -> Explain {
        let mut explain = self.explain.clone();
        let live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        for entry in &mut explain.entries {
            if let Some(state) = live.get(&entry.key) {
                entry.reload = Some(state.clone());
            }
        }
        drop(live);
        explain.fingerprint = fingerprint(&explain.env, &explain.entries);
        explain
    }

    fn record(&self, key: &str, state: Reload) -> String {
        self.live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.to_owned(), state);
        self.current_explain().fingerprint
    }

    /// Why `value` may not replace `key`'s value, or `None`. The same
    /// built-in rules startup runs (secret rules for a registered secret,
    /// database rules for a database URL, secret rules for every previous
    /// value), refusing every finding that is not a plain warning and not
    /// waived by `policy.allow` — in every environment: a reload has no one
    /// watching for warnings, and the old value is known to work.
    fn refusal(&self, key: &str, value: &str, as_secret: bool) -> Option<String> {
        if value.trim().is_empty() {
            return Some("the new value is empty".to_owned());
        }
        let provenance = Provenance::default();
        let mut findings: Vec<PolicyFinding> = Vec::new();
        let mut check = Check::new(self.environment.tier(), &provenance, &mut findings);
        if as_secret || self.secrets.iter().any(|k| k == key) {
            rules::secret_rules(&mut check, key, value, &self.placeholders);
        }
        if self.database_urls.iter().any(|k| k == key) {
            rules::database_rules(&mut check, key, value, &self.prefix);
        }
        let refused: Vec<String> = findings
            .into_iter()
            .filter(|f| f.level != Level::Warning)
            .filter(|f| f.level == Level::Forbid || !self.allow.iter().any(|id| id == f.rule))
            .map(|f| format!("[{}] {}", f.rule, f.message))
            .collect();
        (!refused.is_empty()).then(|| refused.join("; "))
    }

    /// The variable base a key's previous values are named after:
    /// `JWT_SECRET` for `JWT_SECRET_FILE` or `JWT_SECRET`, else the key's
    /// flat name with the loader's prefix.
    fn var_base(&self, key: &str, source: &Source) -> String {
        match source {
            Source::SecretFile { var, .. } => var.strip_suffix("_FILE").unwrap_or(var).to_owned(),
            Source::Env { var } | Source::Dotenv { var, .. } => var.clone(),
            _ => format!(
                "{}{}",
                self.prefix,
                key.replace('.', "_").to_ascii_uppercase()
            ),
        }
    }
}

/// The `explain` view as it is at each call, for a service endpoint that
/// shows it while the service runs: [`crate::Loaded::current_explain`]
/// detached from the [`crate::Loaded`] (cheap to clone).
#[derive(Debug, Clone)]
pub struct LiveExplain(pub(crate) Arc<Rotation>);

impl LiveExplain {
    /// The explain document now.
    pub fn current(&self) -> Explain {
        self.0.current_explain()
    }
}

/// One version of a reloadable secret.
#[derive(Clone)]
pub struct SecretVersion {
    value: Arc<SecretString>,
    fingerprint: String,
    loaded_at: SystemTime,
}

impl fmt::Debug for SecretVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretVersion")
            .field("value", &self.value)
            .field("fingerprint", &self.fingerprint)
            .field("loaded_at", &rfc3339(self.loaded_at))
            .finish()
    }
}

impl SecretVersion {
    fn new(key: &str, value: String, loaded_at: SystemTime) -> SecretVersion {
        SecretVersion {
            fingerprint: secret_fingerprint(key, &value),
            value: Arc::new(SecretString::new(value)),
            loaded_at,
        }
    }

    /// The value (it prints as `[REDACTED]`).
    pub fn value(&self) -> &SecretString {
        &self.value
    }

    /// [`secret_fingerprint`] of the value.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// When it was read.
    pub fn loaded_at(&self) -> SystemTime {
        self.loaded_at
    }
}

/// The counters and last refusal of one watched secret.
#[derive(Debug, Default)]
struct Health {
    rejected: AtomicU64,
    reloads: AtomicU64,
    last_refusal: Mutex<Option<String>>,
}

impl Health {
    fn refuse(&self, reason: String) {
        self.refuse_then(reason, |_| {});
    }

    /// Counts a refusal after `publish` has made the new count known
    /// elsewhere (the explain state): whoever sees the count go up sees
    /// `explain` agree. Only the key's poller thread refuses, so reading
    /// and then storing the count loses nothing.
    fn refuse_then<R>(&self, reason: String, publish: impl FnOnce(u64) -> R) {
        *self
            .last_refusal
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(reason);
        let count = self.rejected.load(Ordering::Acquire) + 1;
        let _ = publish(count);
        self.rejected.store(count, Ordering::Release);
    }
}

/// A secret that always yields its current value. From a `NAME_FILE` it is
/// reloadable: the file is re-read while the service runs (atomic symlink
/// swaps of mounted Kubernetes secrets and rewritten files alike), and a
/// new value that passes the secret's policy replaces the old one. From
/// anywhere else it is static. Get one with [`crate::Loaded::secret_handle`].
///
/// A new value is refused — the old one stays, an error is logged
/// (`appenv_config` target, with key, source and reason, never the value)
/// and [`SecretHandle::rejected`] counts it — when it is empty, unreadable,
/// larger than [`MAX_SECRET_FILE_BYTES`](crate::MAX_SECRET_FILE_BYTES), not
/// UTF-8, or fails the rules startup applies to it (see
/// [Rotating secrets](crate#rotating-secrets)). An accepted change is logged
/// with key, source, the new value's fingerprint and the new configuration
/// fingerprint.
///
/// Clones share the watch; the file is polled until the last clone (and
/// every [`SecretHandle::subscribe`] receiver) is dropped.
#[derive(Clone)]
pub struct SecretHandle {
    key: Arc<str>,
    source: Arc<Source>,
    mode: ReloadMode,
    health: Arc<Health>,
    rx: watch::Receiver<SecretVersion>,
}

impl fmt::Debug for SecretHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretHandle")
            .field("key", &self.key)
            .field("source", &self.source.to_string())
            .field("mode", &self.mode)
            .field("fingerprint", &self.fingerprint())
            .finish()
    }
}

impl SecretHandle {
    /// The dotted key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Where the value comes from.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// Static or reloadable.
    pub fn mode(&self) -> ReloadMode {
        self.mode
    }

    /// The current value.
    pub fn current(&self) -> SecretString {
        SecretString::clone(&self.rx.borrow().value)
    }

    /// The current version: value, fingerprint and when it was read.
    pub fn version(&self) -> SecretVersion {
        self.rx.borrow().clone()
    }

    /// [`secret_fingerprint`] of the current value.
    pub fn fingerprint(&self) -> String {
        self.rx.borrow().fingerprint.clone()
    }

    /// A receiver that wakes on every accepted change
    /// ([`watch::Receiver::changed`]).
    pub fn subscribe(&self) -> watch::Receiver<SecretVersion> {
        let mut rx = self.rx.clone();
        rx.mark_unchanged();
        rx
    }

    /// How many new values were refused since the handle was made.
    pub fn rejected(&self) -> u64 {
        self.health.rejected.load(Ordering::Acquire)
    }

    /// How many new values were accepted since the handle was made.
    pub fn reloads(&self) -> u64 {
        self.health.reloads.load(Ordering::Relaxed)
    }

    /// Why the last new value was refused (never the value).
    pub fn last_refusal(&self) -> Option<String> {
        self.health
            .last_refusal
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// What `explain` says about it.
    pub fn reload(&self) -> Reload {
        match self.mode {
            ReloadMode::Static => Reload::fixed(),
            ReloadMode::File => {
                let version = self.rx.borrow();
                Reload {
                    mode: ReloadMode::File,
                    loaded_at: Some(rfc3339(version.loaded_at)),
                    fingerprint: Some(version.fingerprint.clone()),
                    rejected: Some(self.rejected()),
                }
            }
        }
    }

    /// Makes the handle for `key` and starts watching its file.
    pub(crate) fn start(
        rotation: &Arc<Rotation>,
        key: &str,
        initial: String,
        options: ReloadOptions,
    ) -> Result<SecretHandle, Error> {
        let (handle, poller) = SecretHandle::prepare(rotation, key, initial);
        if let Some((poller, tx)) = poller {
            spawn(key, handle.source(), move || {
                poller.run(&tx, options.interval);
            })?;
        }
        Ok(handle)
    }

    /// Makes the handle for `key`, and for a `NAME_FILE` the poller that
    /// feeds it (not started).
    pub(crate) fn prepare(
        rotation: &Arc<Rotation>,
        key: &str,
        initial: String,
    ) -> (
        SecretHandle,
        Option<(FilePoller, watch::Sender<SecretVersion>)>,
    ) {
        let source = rotation
            .sources
            .get(key)
            .cloned()
            .unwrap_or(Source::Default);
        let now = SystemTime::now();
        let health = Arc::new(Health::default());
        let Source::SecretFile { var, path } = &source else {
            let (_tx, rx) = watch::channel(SecretVersion::new(key, initial, now));
            let handle = SecretHandle {
                key: key.into(),
                source: Arc::new(source),
                mode: ReloadMode::Static,
                health,
                rx,
            };
            return (handle, None);
        };
        // Re-read now: the file may have changed since the load, and the
        // handle must start from what the file holds.
        let base = var.strip_suffix("_FILE").unwrap_or(var).to_owned();
        let first = match sources::read_secret_file(&base, path) {
            Ok(text) if rotation.refusal(key, &text, false).is_none() => text,
            _ => initial,
        };
        let seen = Some(Seen::Text(digest(&first)));
        let version = SecretVersion::new(key, first, now);
        rotation.record(key, Reload::file(key, version.value.expose(), now, 0));
        let (tx, rx) = watch::channel(version);
        let poller = FilePoller {
            rotation: Arc::clone(rotation),
            key: key.to_owned(),
            var: base,
            path: path.clone(),
            source: source.clone(),
            health: Arc::clone(&health),
            seen,
        };
        let handle = SecretHandle {
            key: key.into(),
            source: Arc::new(source),
            mode: ReloadMode::File,
            health,
            rx,
        };
        (handle, Some((poller, tx)))
    }
}

/// Starts a named polling thread.
fn spawn(key: &str, source: &Source, run: impl FnOnce() + Send + 'static) -> Result<(), Error> {
    std::thread::Builder::new()
        .name(format!("appenv-secret {key}"))
        .spawn(run)
        .map(drop)
        .map_err(|err| Error::Invalid {
            key: key.to_owned(),
            origin: source.clone(),
            message: format!("cannot start watching the secret file: {err}"),
        })
}

/// What a file read gave, to tell "unchanged" from "changed".
#[derive(PartialEq, Eq)]
enum Seen {
    Text([u8; 32]),
    Error(String),
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// The polling loop of one reloadable secret.
pub(crate) struct FilePoller {
    rotation: Arc<Rotation>,
    key: String,
    var: String,
    path: PathBuf,
    source: Source,
    health: Arc<Health>,
    seen: Option<Seen>,
}

impl FilePoller {
    fn run(mut self, tx: &watch::Sender<SecretVersion>, interval: Duration) {
        loop {
            std::thread::sleep(interval);
            if tx.is_closed() {
                return;
            }
            let current = tx.borrow().clone();
            if let Some((version, config_fingerprint)) = self.tick(&current) {
                self.publish(tx, version, &config_fingerprint);
            }
        }
    }

    /// Sends an accepted version to the handles and logs the change.
    fn publish(
        &self,
        tx: &watch::Sender<SecretVersion>,
        version: SecretVersion,
        config_fingerprint: &str,
    ) {
        let fingerprint = version.fingerprint.clone();
        self.health.reloads.fetch_add(1, Ordering::Relaxed);
        tx.send_replace(version);
        tracing::info!(target: "appenv_config", key = self.key.as_str(), source = %self.source, fingerprint = %fingerprint, config_fingerprint = %config_fingerprint, "secret reloaded");
    }

    /// Re-reads the file: the new version to publish (with the new
    /// configuration fingerprint), or `None` when nothing changed or the new
    /// value was refused.
    fn tick(&mut self, current: &SecretVersion) -> Option<(SecretVersion, String)> {
        let read = sources::read_secret_file(&self.var, &self.path);
        let seen = match &read {
            Ok(text) => Seen::Text(digest(text)),
            Err(err) => Seen::Error(err.to_string()),
        };
        if self.seen.as_ref() == Some(&seen) {
            return None;
        }
        self.seen = Some(seen);
        let key = self.key.as_str();
        let text = match read {
            Ok(text) => text,
            Err(err) => {
                // The error names the file and the variable, never contents.
                let reason = err.to_string();
                tracing::error!(target: "appenv_config", key, source = %self.source, reason = %reason, "secret reload refused: the old value stays in use");
                self.health
                    .refuse_then(reason, |count| self.record_with(current, count));
                return None;
            }
        };
        if text == *current.value.expose() {
            return None;
        }
        if let Some(reason) = self.rotation.refusal(key, &text, false) {
            tracing::error!(target: "appenv_config", key, source = %self.source, reason = %reason, "secret reload refused: the old value stays in use");
            self.health
                .refuse_then(reason, |count| self.record_with(current, count));
            return None;
        }
        let version = SecretVersion::new(key, text, SystemTime::now());
        let config_fingerprint = self.record(&version);
        Some((version, config_fingerprint))
    }

    /// Records `version` as the key's live state; the new configuration
    /// fingerprint.
    fn record(&self, version: &SecretVersion) -> String {
        self.record_with(version, self.health.rejected.load(Ordering::Acquire))
    }

    /// As [`record`](Self::record), with `rejected` refusals so far.
    fn record_with(&self, version: &SecretVersion, rejected: u64) -> String {
        self.rotation.record(
            &self.key,
            Reload::file(
                &self.key,
                version.value.expose(),
                version.loaded_at,
                rejected,
            ),
        )
    }
}

/// One version of a secret's previous values.
#[derive(Clone)]
pub struct PreviousVersion {
    values: Arc<Vec<SecretString>>,
    fingerprint: String,
    loaded_at: SystemTime,
}

impl fmt::Debug for PreviousVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreviousVersion")
            .field("count", &self.values.len())
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl PreviousVersion {
    fn new(key: &str, values: Vec<String>, loaded_at: SystemTime) -> PreviousVersion {
        PreviousVersion {
            fingerprint: secret_fingerprint(key, &values.join("\n")),
            values: Arc::new(values.into_iter().map(SecretString::new).collect()),
            loaded_at,
        }
    }

    /// The previous values, in the order given.
    pub fn values(&self) -> &[SecretString] {
        &self.values
    }

    /// [`secret_fingerprint`] of the list.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// When the list was read.
    pub fn loaded_at(&self) -> SystemTime {
        self.loaded_at
    }
}

/// Splits a previous-values text: one per line or comma-separated, items
/// trimmed, empty items dropped (an empty file means none).
pub(crate) fn split_previous(text: &str) -> Vec<String> {
    text.split(['\n', ','])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A signing secret with the values it replaced: sign with
/// [`KeyRing::current`], accept what any of [`KeyRing::keys`] verifies, so
/// rotating the key logs no one out; once a value leaves the previous list,
/// what it signed is refused.
///
/// The previous values come from `NAME_PREVIOUS` (static) or
/// `NAME_PREVIOUS_FILE` (reloadable like `NAME_FILE`), where `NAME` is the
/// variable the secret itself came from (`JWT_SECRET_FILE` → the previous
/// values are `JWT_SECRET_PREVIOUS[_FILE]`). Each passes the secret rules
/// and none equals the current value; a list that does not is refused as a
/// new value of the secret is (the old list stays). Neither variable set:
/// no previous values. Get one with [`crate::Loaded::key_ring`].
#[derive(Clone)]
pub struct KeyRing {
    current: SecretHandle,
    previous_source: Option<Arc<Source>>,
    previous_mode: ReloadMode,
    previous_health: Arc<Health>,
    previous: watch::Receiver<PreviousVersion>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("current", &self.current)
            .field(
                "previous_source",
                &self.previous_source.as_ref().map(ToString::to_string),
            )
            .field("previous", &*self.previous.borrow())
            .finish()
    }
}

impl KeyRing {
    /// The handle of the current value.
    pub fn handle(&self) -> &SecretHandle {
        &self.current
    }

    /// The value to sign with.
    pub fn current(&self) -> SecretString {
        self.current.current()
    }

    /// The previous values (never the current one).
    pub fn previous(&self) -> Vec<SecretString> {
        let current = self.current.current();
        self.previous
            .borrow()
            .values
            .iter()
            .filter(|v| **v != current)
            .cloned()
            .collect()
    }

    /// Every value to verify with: the current one first, then the
    /// previous ones.
    pub fn keys(&self) -> Vec<SecretString> {
        let mut keys = vec![self.current.current()];
        keys.extend(self.previous());
        keys
    }

    /// Where the previous values come from (`None`: no variable set them).
    pub fn previous_source(&self) -> Option<&Source> {
        self.previous_source.as_deref()
    }

    /// Whether the previous values are re-read while the service runs.
    pub fn previous_mode(&self) -> ReloadMode {
        self.previous_mode
    }

    /// The current previous-values version.
    pub fn previous_version(&self) -> PreviousVersion {
        self.previous.borrow().clone()
    }

    /// How many new previous-value lists were refused.
    pub fn previous_rejected(&self) -> u64 {
        self.previous_health.rejected.load(Ordering::Relaxed)
    }

    /// Why the last previous-value list was refused (never a value).
    pub fn previous_last_refusal(&self) -> Option<String> {
        self.previous_health
            .last_refusal
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A receiver that wakes when the previous values change.
    pub fn subscribe_previous(&self) -> watch::Receiver<PreviousVersion> {
        let mut rx = self.previous.clone();
        rx.mark_unchanged();
        rx
    }

    /// The ring of `current` (whose file, if any, `poller` watches). With a
    /// previous-values file, one thread polls both files, so a rotation
    /// that changes both at once (one Kubernetes secret update) is taken in
    /// one step: the new previous list is published before the new current
    /// value, and at no moment is the old key missing from the ring.
    pub(crate) fn start(
        rotation: &Arc<Rotation>,
        current: SecretHandle,
        poller: Option<(FilePoller, watch::Sender<SecretVersion>)>,
        options: ReloadOptions,
    ) -> Result<KeyRing, Error> {
        let key = current.key().to_owned();
        let base = rotation.var_base(&key, current.source());
        let value_var = format!("{base}{PREVIOUS_SUFFIX}");
        let file_var = format!("{value_var}_FILE");
        let value = rotation.previous_vars.get(&value_var);
        let file = rotation.previous_vars.get(&file_var);
        let now = SystemTime::now();
        let health = Arc::new(Health::default());
        let check = |origin: &Source, values: &[String]| -> Result<(), Error> {
            match previous_refusal(rotation, &key, values, &current.current()) {
                Some(message) => Err(Error::Invalid {
                    key: format!("{key} (previous values)"),
                    origin: origin.clone(),
                    message,
                }),
                None => Ok(()),
            }
        };
        let (previous_source, previous_mode, previous) = match (value, file) {
            (Some((value_origin, _)), Some((file_origin, _))) => {
                return Err(Error::Conflict {
                    var: value_var.clone(),
                    value_origin: Box::new(value_origin.clone()),
                    file_origin: Box::new(file_origin.clone()),
                });
            }
            (None, None) => {
                let (_tx, rx) = watch::channel(PreviousVersion::new(&key, Vec::new(), now));
                if let Some((poller, tx)) = poller {
                    spawn(&key, current.source(), move || {
                        poller.run(&tx, options.interval);
                    })?;
                }
                (None, ReloadMode::Static, rx)
            }
            (Some((origin, text)), None) => {
                let values = split_previous(text.expose());
                check(origin, &values)?;
                let (_tx, rx) = watch::channel(PreviousVersion::new(&key, values, now));
                if let Some((poller, tx)) = poller {
                    spawn(&key, current.source(), move || {
                        poller.run(&tx, options.interval);
                    })?;
                }
                (Some(Arc::new(origin.clone())), ReloadMode::Static, rx)
            }
            (None, Some((_, path))) => {
                let path = PathBuf::from(path.expose());
                let source = Source::SecretFile {
                    var: file_var.clone(),
                    path: path.clone(),
                };
                let text = sources::read_secret_file(&value_var, &path)?;
                let values = split_previous(&text);
                check(&source, &values)?;
                let (tx, rx) = watch::channel(PreviousVersion::new(&key, values, now));
                let previous = PreviousPoller {
                    rotation: Arc::clone(rotation),
                    key: key.clone(),
                    var: value_var,
                    path,
                    source: source.clone(),
                    health: Arc::clone(&health),
                    seen: Some(Seen::Text(digest(&text))),
                    pending: false,
                };
                let (current_poller, current_tx) = match poller {
                    Some((poller, tx)) => (Some(poller), Some(tx)),
                    None => (None, None),
                };
                let ring = RingPoller {
                    current: current_poller,
                    current_tx,
                    static_current: current.current(),
                    previous,
                    previous_tx: tx,
                };
                spawn(&key, &source, move || ring.run(options.interval))?;
                (Some(Arc::new(source)), ReloadMode::File, rx)
            }
        };
        Ok(KeyRing {
            current,
            previous_source,
            previous_mode,
            previous_health: health,
            previous,
        })
    }
}

/// Why `values` may not be the previous values of `key`, or `None`.
fn previous_refusal(
    rotation: &Rotation,
    key: &str,
    values: &[String],
    current: &SecretString,
) -> Option<String> {
    for (index, value) in values.iter().enumerate() {
        if value == current.expose() {
            return Some(format!(
                "previous value {} equals the current value",
                index + 1
            ));
        }
        if let Some(reason) = rotation.refusal(key, value, true) {
            return Some(format!("previous value {}: {reason}", index + 1));
        }
    }
    None
}

/// The poller of a previous-values file. It re-checks when the file
/// changes and when the current value changes (a list refused because it
/// held the current value may be fine once the current value has moved on).
struct PreviousPoller {
    rotation: Arc<Rotation>,
    key: String,
    var: String,
    path: PathBuf,
    source: Source,
    health: Arc<Health>,
    seen: Option<Seen>,
    /// The file holds a list that was refused.
    pending: bool,
}

impl PreviousPoller {
    /// Re-reads the file against the current value `current` (which
    /// `current_moved` says is new): the new list to publish, or `None`.
    fn tick(
        &mut self,
        current: &SecretString,
        current_moved: bool,
        in_use: &PreviousVersion,
    ) -> Option<PreviousVersion> {
        let read = sources::read_secret_file(&self.var, &self.path);
        let seen = match &read {
            Ok(text) => Seen::Text(digest(text)),
            Err(err) => Seen::Error(err.to_string()),
        };
        let file_changed = self.seen.as_ref() != Some(&seen);
        self.seen = Some(seen);
        if !(file_changed || (current_moved && self.pending)) {
            return None;
        }
        let key = self.key.as_str();
        let text = match read {
            Ok(text) => text,
            Err(err) => {
                let reason = err.to_string();
                tracing::error!(target: "appenv_config", key, source = %self.source, reason = %reason, "previous secret values refused: the old list stays in use");
                self.health.refuse(reason);
                return None;
            }
        };
        let values = split_previous(&text);
        if let Some(reason) = previous_refusal(&self.rotation, key, &values, current) {
            if file_changed {
                tracing::error!(target: "appenv_config", key, source = %self.source, reason = %reason, "previous secret values refused: the old list stays in use");
                self.health.refuse(reason);
            }
            self.pending = true;
            return None;
        }
        self.pending = false;
        let version = PreviousVersion::new(key, values, SystemTime::now());
        (version.fingerprint != in_use.fingerprint).then_some(version)
    }
}

/// One thread for a key ring's two files.
struct RingPoller {
    current: Option<FilePoller>,
    current_tx: Option<watch::Sender<SecretVersion>>,
    /// The current value when it is static.
    static_current: SecretString,
    previous: PreviousPoller,
    previous_tx: watch::Sender<PreviousVersion>,
}

impl RingPoller {
    fn run(mut self, interval: Duration) {
        loop {
            std::thread::sleep(interval);
            let current_closed = self
                .current_tx
                .as_ref()
                .is_none_or(watch::Sender::is_closed);
            if current_closed && self.previous_tx.is_closed() {
                return;
            }
            self.tick();
        }
    }

    fn tick(&mut self) {
        let in_use = self.current_tx.as_ref().map(|tx| tx.borrow().clone());
        let next = match (&mut self.current, &in_use) {
            (Some(poller), Some(in_use)) => poller.tick(in_use),
            _ => None,
        };
        let candidate = match (&next, &in_use) {
            (Some((version, _)), _) => SecretString::clone(&version.value),
            (None, Some(in_use)) => SecretString::clone(&in_use.value),
            (None, None) => self.static_current.clone(),
        };
        let previous_in_use = self.previous_tx.borrow().clone();
        if let Some(list) = self
            .previous
            .tick(&candidate, next.is_some(), &previous_in_use)
        {
            let count = list.values.len();
            let fingerprint = list.fingerprint.clone();
            self.previous.health.reloads.fetch_add(1, Ordering::Relaxed);
            self.previous_tx.send_replace(list);
            tracing::info!(target: "appenv_config", key = self.previous.key.as_str(), source = %self.previous.source, previous = count, fingerprint = %fingerprint, "previous secret values reloaded");
        }
        if let (Some(poller), Some(tx), Some((version, config_fingerprint))) =
            (&self.current, &self.current_tx, next)
        {
            poller.publish(tx, version, &config_fingerprint);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previous_values_split_on_lines_and_commas() {
        assert_eq!(split_previous(""), Vec::<String>::new());
        assert_eq!(split_previous("\n\n"), Vec::<String>::new());
        assert_eq!(split_previous("a, b\nc\r\n\n,d"), vec!["a", "b", "c", "d"]);
    }

    #[test]
    fn fingerprints_differ_by_key_and_value_and_hide_both() {
        let a = secret_fingerprint("jwt_secret", "sentinel-one");
        assert_eq!(a.len(), 16);
        assert_ne!(a, secret_fingerprint("jwt_secret", "sentinel-two"));
        assert_ne!(a, secret_fingerprint("other", "sentinel-one"));
        assert!(!a.contains("sentinel"));
    }
}
