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
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::env::{AppEnv, Environment};
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
    /// The fingerprint of the value in use ([`SecretVersion::fingerprint`]);
    /// reloadable only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// How many new values were refused since the key's watch started;
    /// reloadable only.
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

    pub(crate) fn file(fingerprint: String, at: SystemTime, rejected: u64) -> Reload {
        Reload {
            mode: ReloadMode::File,
            loaded_at: Some(rfc3339(at)),
            fingerprint: Some(fingerprint),
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
/// replicas holding different versions) without showing the value.
///
/// It is unkeyed, so a guessable value can be found from it by trying
/// candidates. appenv therefore shows it only for a value that passes the
/// secret rules outright (at least [`MIN_SECRET_BYTES`](crate::MIN_SECRET_BYTES),
/// not a placeholder, not weak; for a URL, its password); any other value
/// gets a `local-` print keyed with a random key of this process, which
/// tells versions apart within the process and nowhere else.
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

/// How an audit record names the credentials in `url` without showing
/// them: `user=app fingerprint=3fa1b2c3d4e5f607` when the password passes the
/// secret rules outright (the [`secret_fingerprint`] of user and password
/// under the key `credentials`, the same on every machine, so an operator
/// holding a candidate password can check it), `user=app password=none`
/// without a password, and `user=app fingerprint=withheld` when the
/// password is too weak for an unkeyed fingerprint to hide it. `None` when
/// the URL names no user (SQLite, a URL that does not parse).
pub fn credentials_summary(url: &str) -> Option<String> {
    let parsed = crate::ServiceUrl::parse(url).ok()?;
    let user: String = parsed.user()?.chars().take(128).collect();
    let password = crate::service_url::password_of(url);
    let redactions = crate::redact_url(url).matches(crate::REDACTED).count();
    if redactions > usize::from(password.is_some()) {
        // A password in a query parameter: not judged, never printed.
        return Some(format!("user={user} fingerprint=withheld"));
    }
    let Some(password) = password else {
        return Some(format!("user={user} password=none"));
    };
    if strong(&Placeholders::default(), "password", &password) {
        let print = secret_fingerprint("credentials", &format!("{user}\0{password}"));
        Some(format!("user={user} fingerprint={print}"))
    } else {
        Some(format!("user={user} fingerprint=withheld"))
    }
}

/// The start of a process-local print.
pub(crate) const LOCAL_PRINT: &str = "local-";

/// A fingerprint of `key`'s `value` that only this process can reproduce:
/// `local-` and the first 16 hex digits of SHA-256 over a random key drawn
/// at first use, the key and the value.
fn local_fingerprint(key: &str, value: &str) -> String {
    static PROCESS_KEY: OnceLock<[u8; 32]> = OnceLock::new();
    let process_key = PROCESS_KEY.get_or_init(|| {
        let mut bytes = [0u8; 32];
        if getrandom::fill(&mut bytes).is_err() {
            // No OS randomness: std's per-process random hash keys instead.
            use std::hash::{BuildHasher, Hasher};
            for (i, chunk) in bytes.chunks_mut(8).enumerate() {
                let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
                hasher.write_usize(i);
                chunk.copy_from_slice(&hasher.finish().to_le_bytes());
            }
        }
        bytes
    });
    let mut hasher = Sha256::new();
    hasher.update(process_key);
    hasher.update(b"appenv-secret\0");
    hasher.update(key.as_bytes());
    hasher.update(b"\0");
    hasher.update(value.as_bytes());
    let digest = hasher.finalize();
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("{LOCAL_PRINT}{hex}")
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
    /// The watch of every key a handle or ring was made for.
    pub(crate) watches: Mutex<BTreeMap<String, KeyWatch>>,
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
    /// The value (it prints as `[REDACTED]`).
    pub fn value(&self) -> &SecretString {
        &self.value
    }

    /// The fingerprint of the value: [`secret_fingerprint`] when the value
    /// is strong, else a `local-` print that only this process can compare
    /// (see [Rotating secrets](crate#rotating-secrets)).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// When it was read.
    pub fn loaded_at(&self) -> SystemTime {
        self.loaded_at
    }
}

/// The counters and last refusal of one watched file.
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

    fn last_refusal(&self) -> Option<String> {
        self.last_refusal
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// What every handle and ring of one key shares. One thread polls the
/// key's files and feeds them all, so their values, counters and `explain`
/// agree.
#[derive(Debug)]
struct KeyState {
    key: Arc<str>,
    source: Arc<Source>,
    mode: ReloadMode,
    health: Health,
    /// The previous values, once a key ring asked for them.
    ring: Mutex<Option<RingSide>>,
    /// The previous-values channel of a file, to see whether it has
    /// receivers without taking the poller's lock (held across file reads).
    previous_tx: OnceLock<watch::Sender<PreviousVersion>>,
}

/// A key's previous values, shared by its key rings.
#[derive(Debug, Clone)]
struct RingSide {
    source: Option<Arc<Source>>,
    mode: ReloadMode,
    health: Arc<Health>,
    tx: watch::Sender<PreviousVersion>,
}

/// The poller's slot for a previous-values file, filled when a key ring
/// first asks for one.
type PreviousSlot = Arc<Mutex<Option<PreviousFeed>>>;

/// A previous-values poller and the channel it feeds.
struct PreviousFeed {
    poller: PreviousPoller,
    tx: watch::Sender<PreviousVersion>,
}

/// A key's entry in [`Rotation`]'s registry of watched keys.
pub(crate) struct KeyWatch {
    state: Arc<KeyState>,
    tx: watch::Sender<SecretVersion>,
    previous: PreviousSlot,
    /// Whether a poller thread runs for the key.
    polled: bool,
}

impl KeyWatch {
    /// Whether a handle, ring or receiver of the key is still alive (else
    /// its poller is stopping and the entry is stale).
    fn live(&self) -> bool {
        !self.tx.is_closed() || previous_open(&self.state)
    }

    fn handle(&self) -> SecretHandle {
        SecretHandle {
            state: Arc::clone(&self.state),
            rx: self.tx.subscribe(),
        }
    }
}

/// Whether the key's previous-values file channel has receivers.
fn previous_open(state: &KeyState) -> bool {
    state.previous_tx.get().is_some_and(|tx| !tx.is_closed())
}

/// A secret that always yields its current value. From a `NAME_FILE` it is
/// reloadable: the file is re-read while the service runs (atomic symlink
/// swaps of mounted Kubernetes secrets and rewritten files alike), and a
/// new value that passes the secret's policy replaces the old one. From
/// anywhere else it is static. Get one with [`crate::Loaded::secret_handle`].
///
/// A new value is taken once two reads in a row (one interval apart) agree,
/// so a file caught halfway through a quick rewrite is not used. It is refused — the old one
/// stays, an error is logged (`appenv_config` target, with key, source and
/// reason, never the value) and [`SecretHandle::rejected`] counts it — when
/// it is empty, unreadable, larger than
/// [`MAX_SECRET_FILE_BYTES`](crate::MAX_SECRET_FILE_BYTES), not UTF-8, or
/// fails the rules startup applies to it (see
/// [Rotating secrets](crate#rotating-secrets)). An accepted change is logged
/// with key, source, the new value's fingerprint and the new configuration
/// fingerprint.
///
/// Every handle of one key (and the key's [`KeyRing`]s) shares one watch:
/// one thread polls the file, at the interval of the first handle made,
/// and the counters are the key's. The file is polled until the last
/// handle and every [`SecretHandle::subscribe`] receiver is dropped.
#[derive(Clone)]
pub struct SecretHandle {
    state: Arc<KeyState>,
    rx: watch::Receiver<SecretVersion>,
}

impl fmt::Debug for SecretHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretHandle")
            .field("key", &self.state.key)
            .field("source", &self.state.source.to_string())
            .field("mode", &self.state.mode)
            .field("fingerprint", &self.fingerprint())
            .finish()
    }
}

impl SecretHandle {
    /// The dotted key.
    pub fn key(&self) -> &str {
        &self.state.key
    }

    /// Where the value comes from.
    pub fn source(&self) -> &Source {
        &self.state.source
    }

    /// Static or reloadable.
    pub fn mode(&self) -> ReloadMode {
        self.state.mode
    }

    /// The current value.
    pub fn current(&self) -> SecretString {
        SecretString::clone(&self.rx.borrow().value)
    }

    /// The current version: value, fingerprint and when it was read.
    pub fn version(&self) -> SecretVersion {
        self.rx.borrow().clone()
    }

    /// The fingerprint of the current value ([`SecretVersion::fingerprint`]).
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

    /// How many new values of the key were refused since its watch started
    /// (the same count for every handle of the key, and in `explain`).
    pub fn rejected(&self) -> u64 {
        self.state.health.rejected.load(Ordering::Acquire)
    }

    /// How many new values of the key were accepted since its watch
    /// started.
    pub fn reloads(&self) -> u64 {
        self.state.health.reloads.load(Ordering::Relaxed)
    }

    /// Why the last new value was refused (never the value).
    pub fn last_refusal(&self) -> Option<String> {
        self.state.health.last_refusal()
    }

    /// What `explain` says about it.
    pub fn reload(&self) -> Reload {
        match self.state.mode {
            ReloadMode::Static => Reload::fixed(),
            ReloadMode::File => {
                let version = self.rx.borrow();
                Reload::file(
                    version.fingerprint.clone(),
                    version.loaded_at,
                    self.rejected(),
                )
            }
        }
    }
}

impl Rotation {
    /// The handle of `key`: from the key's live watch, else from a new one
    /// (whose poller starts now for a `NAME_FILE` secret).
    pub(crate) fn handle(
        self: &Arc<Self>,
        key: &str,
        initial: String,
        options: ReloadOptions,
    ) -> Result<SecretHandle, Error> {
        let mut watches = self.watches.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(self.watch_of(&mut watches, key, initial, options)?.handle())
    }

    /// The live watch of `key` in `watches`, made (and its poller started)
    /// when there is none.
    fn watch_of<'w>(
        self: &Arc<Self>,
        watches: &'w mut BTreeMap<String, KeyWatch>,
        key: &str,
        initial: String,
        options: ReloadOptions,
    ) -> Result<&'w mut KeyWatch, Error> {
        if !watches.get(key).is_some_and(KeyWatch::live) {
            let (watch, poller) = self.new_watch(key, initial);
            let mut watch = watch;
            if let Some(current) = poller {
                let poller = KeyPoller {
                    rotation: Arc::clone(self),
                    state: Arc::clone(&watch.state),
                    current: Some(current),
                    current_tx: watch.tx.clone(),
                    previous: Arc::clone(&watch.previous),
                };
                spawn(key, &watch.state.source, move || {
                    poller.run(options.interval);
                })?;
                watch.polled = true;
            }
            watches.insert(key.to_owned(), watch);
        }
        Ok(watches.get_mut(key).expect("inserted above"))
    }

    /// A new watch of `key`, and for a `NAME_FILE` the poller of its file
    /// (not started).
    fn new_watch(self: &Arc<Self>, key: &str, initial: String) -> (KeyWatch, Option<FilePoller>) {
        let source = self.sources.get(key).cloned().unwrap_or(Source::Default);
        let now = SystemTime::now();
        let Source::SecretFile { var, path } = &source else {
            let (tx, _rx) = watch::channel(self.version(key, initial, now));
            let state = KeyState {
                key: key.into(),
                source: Arc::new(source),
                mode: ReloadMode::Static,
                health: Health::default(),
                ring: Mutex::new(None),
                previous_tx: OnceLock::new(),
            };
            let watch = KeyWatch {
                state: Arc::new(state),
                tx,
                previous: PreviousSlot::default(),
                polled: false,
            };
            return (watch, None);
        };
        // Re-read now: the file may have changed since the load, and the
        // handle must start from what the file holds.
        let base = var.strip_suffix("_FILE").unwrap_or(var).to_owned();
        let first = match sources::read_secret_file(&base, path) {
            Ok(text) if self.refusal(key, &text, false).is_none() => text,
            _ => initial,
        };
        let settled = Settled::at(Seen::Text(digest(&first)));
        let version = self.version(key, first, now);
        self.record(
            key,
            Reload::file(version.fingerprint.clone(), version.loaded_at, 0),
        );
        let (tx, _rx) = watch::channel(version);
        let state = Arc::new(KeyState {
            key: key.into(),
            source: Arc::new(source.clone()),
            mode: ReloadMode::File,
            health: Health::default(),
            ring: Mutex::new(None),
            previous_tx: OnceLock::new(),
        });
        let poller = FilePoller {
            rotation: Arc::clone(self),
            state: Arc::clone(&state),
            var: base,
            path: path.clone(),
            settled,
        };
        let watch = KeyWatch {
            state,
            tx,
            previous: PreviousSlot::default(),
            polled: false,
        };
        (watch, Some(poller))
    }

    /// A version of `key` holding `value`, with the fingerprint it may show.
    fn version(&self, key: &str, value: String, loaded_at: SystemTime) -> SecretVersion {
        SecretVersion {
            fingerprint: self.print(key, &value),
            value: Arc::new(SecretString::new(value)),
            loaded_at,
        }
    }

    /// A version of `key`'s previous values.
    fn previous_version(
        &self,
        key: &str,
        values: Vec<String>,
        loaded_at: SystemTime,
    ) -> PreviousVersion {
        let joined = values.join("\n");
        let fingerprint = if values.iter().all(|v| self.strong(key, v)) {
            secret_fingerprint(key, &joined)
        } else {
            local_fingerprint(key, &joined)
        };
        PreviousVersion {
            fingerprint,
            values: Arc::new(values.into_iter().map(SecretString::new).collect()),
            loaded_at,
        }
    }

    fn print(&self, key: &str, value: &str) -> String {
        shown_fingerprint(&self.placeholders, key, value)
    }

    fn strong(&self, key: &str, value: &str) -> bool {
        strong(&self.placeholders, key, value)
    }
}

/// The fingerprint `value` of `key` may show: [`secret_fingerprint`] when
/// the value is strong, a process-local print otherwise.
pub(crate) fn shown_fingerprint(placeholders: &Placeholders, key: &str, value: &str) -> String {
    if strong(placeholders, key, value) {
        secret_fingerprint(key, value)
    } else {
        local_fingerprint(key, value)
    }
}

/// Whether the secret in `value` passes the secret rules outright (no
/// finding at all, waived or not): the password of a URL that carries one,
/// else the whole value. Only such a value is hard enough to guess for its
/// plain fingerprint to be shown.
fn strong(placeholders: &Placeholders, key: &str, value: &str) -> bool {
    let password = crate::service_url::password_of(value);
    // A URL with a secret anywhere but its user information (`?password=`,
    // `sslpassword=`, a token parameter) cannot be judged by its parts: an
    // unkeyed print of it would let its secret be guessed.
    let redactions = crate::redact_url(value).matches(crate::REDACTED).count();
    if redactions > usize::from(password.is_some()) {
        return false;
    }
    let material = password.as_deref().unwrap_or(value);
    let provenance = Provenance::default();
    let mut findings: Vec<PolicyFinding> = Vec::new();
    let mut check = Check::new(AppEnv::Production, &provenance, &mut findings);
    rules::secret_rules(&mut check, key, material, placeholders);
    findings.is_empty()
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
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Text([u8; 32]),
    Error(String),
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// The reads of one file, settled: a change counts once two polls in a row
/// read the same new thing. A file caught halfway through a rewrite that is
/// not atomic (`echo new > file` truncates, then writes) reads differently
/// on the next poll, so it is never taken, refused or logged.
#[derive(Debug, Default)]
struct Settled {
    /// The last settled read.
    seen: Option<Seen>,
    /// A different read waiting for a second identical one.
    candidate: Option<Seen>,
}

impl Settled {
    fn at(seen: Seen) -> Settled {
        Settled {
            seen: Some(seen),
            candidate: None,
        }
    }

    /// Takes one read: `true` when it settles a change.
    fn observe(&mut self, read: Seen) -> bool {
        if self.seen.as_ref() == Some(&read) {
            self.candidate = None;
            return false;
        }
        if self.candidate.as_ref() == Some(&read) {
            self.seen = self.candidate.take();
            return true;
        }
        self.candidate = Some(read);
        false
    }

    /// Whether a change is waiting for its second read.
    fn unsettled(&self) -> bool {
        self.candidate.is_some()
    }
}

/// The polling of one reloadable secret file.
pub(crate) struct FilePoller {
    rotation: Arc<Rotation>,
    state: Arc<KeyState>,
    var: String,
    path: PathBuf,
    settled: Settled,
}

impl FilePoller {
    /// Sends an accepted version to the handles and logs the change.
    fn publish(
        &self,
        tx: &watch::Sender<SecretVersion>,
        version: SecretVersion,
        config_fingerprint: &str,
    ) {
        let fingerprint = version.fingerprint.clone();
        self.state.health.reloads.fetch_add(1, Ordering::Relaxed);
        tx.send_replace(version);
        tracing::info!(target: "appenv_config", key = &*self.state.key, source = %self.state.source, fingerprint = %fingerprint, config_fingerprint = %config_fingerprint, "secret reloaded");
    }

    /// Re-reads the file: the new version to publish (with the new
    /// configuration fingerprint), or `None` when nothing changed, the
    /// change is not settled yet, or the new value was refused.
    fn tick(&mut self, current: &SecretVersion) -> Option<(SecretVersion, String)> {
        let read = sources::read_secret_file(&self.var, &self.path);
        let seen = match &read {
            Ok(text) => Seen::Text(digest(text)),
            Err(err) => Seen::Error(err.to_string()),
        };
        if !self.settled.observe(seen) {
            return None;
        }
        let key = &*self.state.key;
        let source = &self.state.source;
        let text = match read {
            Ok(text) => text,
            Err(err) => {
                // The error names the file and the variable, never contents.
                let reason = err.to_string();
                tracing::error!(target: "appenv_config", key, source = %source, reason = %reason, "secret reload refused: the old value stays in use");
                self.state
                    .health
                    .refuse_then(reason, |count| self.record_with(current, count));
                return None;
            }
        };
        if text == *current.value.expose() {
            return None;
        }
        if let Some(reason) = self.rotation.refusal(key, &text, false) {
            tracing::error!(target: "appenv_config", key, source = %source, reason = %reason, "secret reload refused: the old value stays in use");
            self.state
                .health
                .refuse_then(reason, |count| self.record_with(current, count));
            return None;
        }
        let version = self.rotation.version(key, text, SystemTime::now());
        let config_fingerprint =
            self.record_with(&version, self.state.health.rejected.load(Ordering::Acquire));
        Some((version, config_fingerprint))
    }

    /// Records `version` as the key's live state, with `rejected` refusals
    /// so far; the new configuration fingerprint.
    /// A poller whose key got a new watch after its last handle went (it
    /// is about to stop) records nothing: `explain` follows the new watch.
    fn record_with(&self, version: &SecretVersion, rejected: u64) -> String {
        let watches = self
            .rotation
            .watches
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let ours = watches
            .get(&*self.state.key)
            .is_some_and(|w| Arc::ptr_eq(&w.state, &self.state));
        if !ours {
            return self.rotation.current_explain().fingerprint;
        }
        self.rotation.record(
            &self.state.key,
            Reload::file(version.fingerprint.clone(), version.loaded_at, rejected),
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
    /// The previous values, in the order given.
    pub fn values(&self) -> &[SecretString] {
        &self.values
    }

    /// The fingerprint of the list: [`secret_fingerprint`] when every value
    /// is strong, else a `local-` print.
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
/// no previous values. Get one with [`crate::Loaded::key_ring`]; the rings
/// and handles of one key share one watch.
#[derive(Clone)]
pub struct KeyRing {
    current: SecretHandle,
    side: RingSide,
    previous: watch::Receiver<PreviousVersion>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("current", &self.current)
            .field(
                "previous_source",
                &self.side.source.as_ref().map(ToString::to_string),
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
        self.side.source.as_deref()
    }

    /// Whether the previous values are re-read while the service runs.
    pub fn previous_mode(&self) -> ReloadMode {
        self.side.mode
    }

    /// The current previous-values version.
    pub fn previous_version(&self) -> PreviousVersion {
        self.previous.borrow().clone()
    }

    /// How many new previous-value lists were refused.
    pub fn previous_rejected(&self) -> u64 {
        self.side.health.rejected.load(Ordering::Relaxed)
    }

    /// Why the last previous-value list was refused (never a value).
    pub fn previous_last_refusal(&self) -> Option<String> {
        self.side.health.last_refusal()
    }

    /// A receiver that wakes when the previous values change.
    pub fn subscribe_previous(&self) -> watch::Receiver<PreviousVersion> {
        let mut rx = self.previous.clone();
        rx.mark_unchanged();
        rx
    }

    /// The ring of `key`, sharing the key's watch. The first ring of a key
    /// reads its previous values; with a previous-values file, the key's
    /// one poller thread polls both files, so a rotation that changes both
    /// at once (one Kubernetes secret update) is taken in one step: the new
    /// previous list is published before the new current value, and at no
    /// moment is the old key missing from the ring.
    pub(crate) fn start(
        rotation: &Arc<Rotation>,
        key: &str,
        initial: String,
        options: ReloadOptions,
    ) -> Result<KeyRing, Error> {
        let mut watches = rotation
            .watches
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let watch = rotation.watch_of(&mut watches, key, initial, options)?;
        let current = watch.handle();
        let known = watch
            .state
            .ring
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let side = match known {
            Some(side) => side,
            None => {
                let side = KeyRing::attach(rotation, watch, &current, options)?;
                *watch
                    .state
                    .ring
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(side.clone());
                side
            }
        };
        let previous = side.tx.subscribe();
        Ok(KeyRing {
            current,
            side,
            previous,
        })
    }

    /// Reads the previous values of `watch`'s key and, for a file, gives
    /// the key's poller (started here when the current value is static) its
    /// file to poll.
    fn attach(
        rotation: &Arc<Rotation>,
        watch: &mut KeyWatch,
        current: &SecretHandle,
        options: ReloadOptions,
    ) -> Result<RingSide, Error> {
        let key = current.key().to_owned();
        let base = rotation.var_base(&key, current.source());
        let value_var = format!("{base}{PREVIOUS_SUFFIX}");
        let file_var = format!("{value_var}_FILE");
        let value = rotation.previous_vars.get(&value_var);
        let file = rotation.previous_vars.get(&file_var);
        let now = SystemTime::now();
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
        let fixed = |source: Option<Arc<Source>>, values: Vec<String>| {
            let (tx, _rx) = watch::channel(rotation.previous_version(&key, values, now));
            RingSide {
                source,
                mode: ReloadMode::Static,
                health: Arc::default(),
                tx,
            }
        };
        match (value, file) {
            (Some((value_origin, _)), Some((file_origin, _))) => Err(Error::Conflict {
                var: value_var.clone(),
                value_origin: Box::new(value_origin.clone()),
                file_origin: Box::new(file_origin.clone()),
            }),
            (None, None) => Ok(fixed(None, Vec::new())),
            (Some((origin, text)), None) => {
                let values = split_previous(text.expose());
                check(origin, &values)?;
                Ok(fixed(Some(Arc::new(origin.clone())), values))
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
                let (tx, _rx) = watch::channel(rotation.previous_version(&key, values, now));
                let health = Arc::new(Health::default());
                let poller = PreviousPoller {
                    rotation: Arc::clone(rotation),
                    key: key.clone(),
                    var: value_var,
                    path,
                    source: source.clone(),
                    health: Arc::clone(&health),
                    settled: Settled::at(Seen::Text(digest(&text))),
                    pending: false,
                    recheck: false,
                };
                *watch
                    .previous
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(PreviousFeed {
                    poller,
                    tx: tx.clone(),
                });
                let _ = watch.state.previous_tx.set(tx.clone());
                if !watch.polled {
                    let poller = KeyPoller {
                        rotation: Arc::clone(rotation),
                        state: Arc::clone(&watch.state),
                        current: None,
                        current_tx: watch.tx.clone(),
                        previous: Arc::clone(&watch.previous),
                    };
                    spawn(&key, &source, move || poller.run(options.interval))?;
                    watch.polled = true;
                }
                Ok(RingSide {
                    source: Some(Arc::new(source)),
                    mode: ReloadMode::File,
                    health,
                    tx,
                })
            }
        }
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
    settled: Settled,
    /// The file holds a list that was refused.
    pending: bool,
    /// The current value moved while `pending`: re-check once settled.
    recheck: bool,
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
        let file_changed = self.settled.observe(seen);
        // A move of the current value is remembered until the file holds
        // still, so a blip at that moment cannot lose the re-check.
        self.recheck |= current_moved && self.pending;
        let recheck = self.recheck && !self.settled.unsettled();
        if !(file_changed || recheck) {
            return None;
        }
        self.recheck = false;
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
        let version = self
            .rotation
            .previous_version(key, values, SystemTime::now());
        (version.values != in_use.values).then_some(version)
    }
}

/// The one thread of a key: it polls the current value's file (when it has
/// one) and the previous-values file (once a key ring gave it one).
struct KeyPoller {
    rotation: Arc<Rotation>,
    state: Arc<KeyState>,
    current: Option<FilePoller>,
    current_tx: watch::Sender<SecretVersion>,
    previous: PreviousSlot,
}

impl KeyPoller {
    fn run(mut self, interval: Duration) {
        loop {
            std::thread::sleep(interval);
            if self.unwatched() {
                // Decided under the registry's lock, so a handle made at the
                // same moment either keeps this poller or gets a new one.
                let mut watches = self
                    .rotation
                    .watches
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                if self.unwatched() {
                    let ours = watches
                        .get(&*self.state.key)
                        .is_some_and(|w| Arc::ptr_eq(&w.state, &self.state));
                    if ours {
                        watches.remove(&*self.state.key);
                    }
                    return;
                }
            }
            self.tick();
        }
    }

    /// No handle, ring or receiver of the key is left.
    fn unwatched(&self) -> bool {
        self.current_tx.is_closed() && !previous_open(&self.state)
    }

    fn tick(&mut self) {
        let in_use = self.current_tx.borrow().clone();
        let next = self
            .current
            .as_mut()
            .and_then(|poller| poller.tick(&in_use));
        let candidate = match &next {
            Some((version, _)) => SecretString::clone(&version.value),
            None => SecretString::clone(&in_use.value),
        };
        let mut slot = self.previous.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(feed) = slot.as_mut() {
            let previous_in_use = feed.tx.borrow().clone();
            if let Some(list) = feed
                .poller
                .tick(&candidate, next.is_some(), &previous_in_use)
            {
                let count = list.values.len();
                let fingerprint = list.fingerprint.clone();
                feed.poller.health.reloads.fetch_add(1, Ordering::Relaxed);
                feed.tx.send_replace(list);
                tracing::info!(target: "appenv_config", key = feed.poller.key.as_str(), source = %feed.poller.source, previous = count, fingerprint = %fingerprint, "previous secret values reloaded");
            }
        }
        drop(slot);
        if let (Some(poller), Some((version, config_fingerprint))) = (&self.current, next) {
            poller.publish(&self.current_tx, version, &config_fingerprint);
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

    fn text(seen: &str) -> Seen {
        Seen::Text(digest(seen))
    }

    #[test]
    fn a_change_counts_once_two_reads_in_a_row_agree() {
        let mut settled = Settled::at(text("old"));
        assert!(!settled.observe(text("old")), "unchanged");
        assert!(!settled.observe(text("half")), "first read of a change");
        assert!(!settled.observe(text("new")), "it moved on: not settled");
        assert!(settled.observe(text("new")), "two reads agree");
        assert!(!settled.observe(text("new")), "reported once");
        // A blip that goes back to the settled value is never reported.
        assert!(!settled.observe(Seen::Error("missing".into())));
        assert!(!settled.observe(text("new")));
        assert!(!settled.unsettled());
        assert!(!settled.observe(Seen::Error("missing".into())));
        assert!(settled.observe(Seen::Error("missing".into())));
    }

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Signing {
        jwt_secret: Option<SecretString>,
    }

    impl crate::Section for Signing {
        fn defaults(_: AppEnv) -> Self {
            Signing { jwt_secret: None }
        }
        fn register(reg: &mut crate::Registry<'_, Self>) {
            reg.secret("jwt_secret");
        }
    }

    const WHOLE: &str = "whole-Qm4Zx8Lp2Wn6Kt0Rb3Vy7Hd-Jf5Nc9Ts1Xg3Pk7Mw2Ae6Ub";

    #[test]
    fn a_file_caught_halfway_through_a_rewrite_is_never_taken() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("jwt");
        let first = "first-Ae6Ub2Mw7Pk3Xg1Ts9Nc5Jf-Hd7Vy3Rb0Kt6Wn2Lp8Zx4Qm";
        std::fs::write(&file, first).unwrap();
        let loaded = crate::Loader::hermetic([
            ("APP_ENV", "local"),
            ("JWT_SECRET_FILE", file.to_str().unwrap()),
        ])
        .config_dir(dir.path().join("none"))
        .dotenv_dir(dir.path())
        .load::<Signing>()
        .unwrap();
        let (watch, poller) = loaded.rotation.new_watch("jwt_secret", first.to_owned());
        let mut poller = poller.expect("a file secret is polled");
        let in_use = watch.tx.borrow().clone();

        // A writer that is not atomic: the first 40 bytes land, a poll reads
        // them (a value that would pass every rule), then the rest lands.
        let torn = &WHOLE[..40];
        std::fs::write(&file, torn).unwrap();
        assert!(poller.tick(&in_use).is_none(), "one read decides nothing");
        std::fs::write(&file, WHOLE).unwrap();
        assert!(poller.tick(&in_use).is_none(), "the file moved on");
        let (version, _) = poller.tick(&in_use).expect("two reads agree");
        assert_eq!(version.value().expose(), WHOLE);
        assert_eq!(poller.state.health.rejected.load(Ordering::Acquire), 0);

        // Truncated to nothing for a moment (`echo new > file`): no refusal
        // is counted or logged for what was never there to take.
        std::fs::write(&file, "").unwrap();
        assert!(poller.tick(&version).is_none());
        std::fs::write(&file, WHOLE).unwrap();
        assert!(poller.tick(&version).is_none());
        assert!(poller.tick(&version).is_none());
        assert_eq!(poller.state.health.rejected.load(Ordering::Acquire), 0);
    }

    #[test]
    fn the_password_of_a_url_is_what_decides_its_fingerprint() {
        let placeholders = Placeholders::default();
        let strong_url = format!("postgres://app:{WHOLE}@db:5432/app");
        assert!(strong(&placeholders, "database.url", &strong_url));
        assert!(!strong(
            &placeholders,
            "database.url",
            "postgres://app:hunter2@db:5432/app-with-a-long-name"
        ));
        assert!(!strong(&placeholders, "jwt_secret", "changeme"));
        // The password is in the query: the URL as a whole is long and
        // varied, but its secret is `hunter2`.
        assert!(!strong(
            &placeholders,
            "database.url",
            "postgres://app@db.internal:5432/app?password=hunter2&sslmode=require"
        ));
        assert!(!strong(
            &placeholders,
            "database.url",
            &format!("postgres://app:{WHOLE}@db/app?sslpassword=hunter2")
        ));
        assert!(strong(&placeholders, "jwt_secret", WHOLE));
        let weak = shown_fingerprint(&placeholders, "database.url", "postgres://app:pw@db/app");
        assert!(weak.starts_with(LOCAL_PRINT), "{weak}");
        assert_eq!(
            weak,
            shown_fingerprint(&placeholders, "database.url", "postgres://app:pw@db/app"),
            "stable within the process"
        );
        assert_eq!(
            crate::service_url::password_of("redis://:p%40ss@cache:6379").as_deref(),
            Some("p@ss")
        );
        assert_eq!(
            crate::service_url::password_of("postgres://app@db/app"),
            None
        );
        assert_eq!(crate::service_url::password_of("not a url"), None);
    }

    #[test]
    fn credentials_are_summarised_without_the_password() {
        let strong_url = format!("postgres://app:{WHOLE}@db:5432/app");
        let summary = credentials_summary(&strong_url).unwrap();
        assert_eq!(
            summary,
            format!(
                "user=app fingerprint={}",
                secret_fingerprint("credentials", &format!("app\0{WHOLE}"))
            )
        );
        assert_eq!(
            credentials_summary("mysql://root:hunter2@db/app").as_deref(),
            Some("user=root fingerprint=withheld")
        );
        assert_eq!(
            credentials_summary("postgres://app@db/app").as_deref(),
            Some("user=app password=none")
        );
        assert_eq!(credentials_summary("sqlite://data/app.db"), None);
        assert_eq!(
            credentials_summary(&format!("postgres://app@db/app?password={WHOLE}")).as_deref(),
            Some("user=app fingerprint=withheld"),
            "a password in the query is not taken for no password"
        );
        for text in [
            summary,
            credentials_summary("mysql://root:hunter2@db/app").unwrap(),
        ] {
            assert!(!text.contains(WHOLE) && !text.contains("hunter2"), "{text}");
        }
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
