//! Secrets that rotate: `NAME_FILE` secrets re-read while the service runs
//! (Kubernetes symlink swaps and rewritten files), refused new values,
//! previous values for key rings, and what explain and the logs say —
//! never the values.

mod support;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use appenv_config::{KeyRing, ReloadMode, ReloadOptions, SecretHandle};
use support::{SENTINEL, STRONG, Scratch};

/// New values, each strong enough for production and each a sentinel.
const ROTATED: &str = "SENTINEL-rotated-Qm4Zx8Lp2Wn6Kt0Rb3Vy7Hd";
const ROTATED_AGAIN: &str = "SENTINEL-again-Jf5Nc9Ts1Xg3Pk7Mw2Ae6Ub";
const SHORT: &str = "SENTINEL-short";
const FAST: Duration = Duration::from_millis(20);

/// Every event the `appenv_config` target logs, as text.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Recorder {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Fields(String);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!("{}={:?} ", field.name(), value));
            }
        }
        let mut fields = Fields(format!(
            "{} {} ",
            event.metadata().level(),
            event.metadata().target()
        ));
        event.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
    }
}

/// The process-wide recorder (one global subscriber for the binary: the
/// pollers log from their own threads).
fn logs() -> &'static Recorder {
    static RECORDER: OnceLock<Recorder> = OnceLock::new();
    RECORDER.get_or_init(|| {
        use tracing_subscriber::layer::SubscriberExt;
        let recorder = Recorder::default();
        tracing::subscriber::set_global_default(
            tracing_subscriber::registry().with(recorder.clone()),
        )
        .unwrap();
        recorder
    })
}

fn log_lines_about(key: &str) -> Vec<String> {
    logs()
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains(&format!("key=\"{key}\"")) || l.contains(&format!("key={key} ")))
        .cloned()
        .collect()
}

fn assert_no_sentinel(what: &str, text: &str) {
    assert!(!text.contains("SENTINEL"), "{what} leaks a secret: {text}");
}

fn assert_logs_clean() {
    for line in logs().0.lock().unwrap().iter() {
        assert_no_sentinel("a log line", line);
    }
}

/// Waits (up to a generous bound, polling) until `done` holds.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A Kubernetes-style secret volume: `NAME` → `..data/NAME`, `..data` →
/// a timestamped directory, swapped atomically by renaming a new symlink
/// over `..data`.
struct SecretVolume {
    dir: PathBuf,
    generation: usize,
}

impl SecretVolume {
    fn new(root: &Path, files: &[(&str, &str)]) -> SecretVolume {
        let dir = root.join("secrets");
        std::fs::create_dir(&dir).unwrap();
        let mut volume = SecretVolume { dir, generation: 0 };
        volume.publish(files);
        for (name, _) in files {
            std::os::unix::fs::symlink(format!("..data/{name}"), volume.dir.join(name)).unwrap();
        }
        volume
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Writes a new generation and swaps `..data` to it in one rename.
    fn publish(&mut self, files: &[(&str, &str)]) {
        self.generation += 1;
        let gen_dir = format!("..2026_12_02_{:02}", self.generation);
        std::fs::create_dir(self.dir.join(&gen_dir)).unwrap();
        for (name, text) in files {
            std::fs::write(self.dir.join(&gen_dir).join(name), format!("{text}\n")).unwrap();
        }
        let tmp = self.dir.join("..data_tmp");
        std::os::unix::fs::symlink(&gen_dir, &tmp).unwrap();
        std::fs::rename(&tmp, self.dir.join("..data")).unwrap();
    }
}

fn production_with(s: &Scratch, jwt_file: &Path, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let _ = s;
    let mut vars: Vec<(String, String)> = support::production_ok()
        .into_iter()
        .filter(|(k, _)| *k != "JWT_SECRET")
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    vars.push((
        "JWT_SECRET_FILE".to_owned(),
        jwt_file.to_str().unwrap().to_owned(),
    ));
    vars.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    vars
}

fn load(s: &Scratch, vars: &[(String, String)]) -> appenv_config::Loaded<support::Config> {
    let loaded = s
        .load(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .unwrap();
    assert!(loaded.policy().is_ok(), "{}", loaded.policy());
    loaded
}

fn handle(loaded: &appenv_config::Loaded<support::Config>) -> SecretHandle {
    loaded
        .secret_handle_with("jwt_secret", ReloadOptions::default().interval(FAST))
        .unwrap()
}

#[test]
fn a_mounted_secret_swapped_by_symlink_is_reloaded_and_explain_shows_its_version() {
    logs();
    let s = Scratch::new();
    let mut volume = SecretVolume::new(s.path(), &[("jwt", SENTINEL)]);
    let vars = production_with(&s, &volume.path("jwt"), &[]);
    let loaded = load(&s, &vars);
    let secret = handle(&loaded);
    assert_eq!(secret.mode(), ReloadMode::File);
    assert_eq!(secret.current().expose(), SENTINEL);
    let before = loaded.current_explain();
    let entry = before.get("jwt_secret").unwrap();
    let reload = entry.reload.as_ref().unwrap();
    assert_eq!(reload.mode, ReloadMode::File);
    assert_eq!(
        reload.fingerprint.as_deref(),
        Some(secret.fingerprint().as_str())
    );
    assert!(reload.loaded_at.is_some());
    let mut changes = secret.subscribe();

    volume.publish(&[("jwt", ROTATED)]);
    eventually("the rotated value is in use", || {
        secret.current().expose() == ROTATED
    });
    assert!(changes.has_changed().unwrap(), "subscribers are woken");
    assert_eq!(changes.borrow_and_update().value().expose(), ROTATED);
    assert_eq!(secret.rejected(), 0);
    assert_eq!(secret.reloads(), 1);

    let after = loaded.current_explain();
    let reload = after.get("jwt_secret").unwrap().reload.clone().unwrap();
    assert_eq!(
        reload.fingerprint.as_deref(),
        Some(secret.fingerprint().as_str())
    );
    assert_ne!(
        before.fingerprint, after.fingerprint,
        "a new version of a reloadable secret is a new configuration fingerprint"
    );
    // The change is logged with key, source, and the fingerprints.
    let lines = log_lines_about("jwt_secret");
    let reloaded = lines
        .iter()
        .find(|l| l.contains("secret reloaded") && l.contains(&secret.fingerprint()))
        .unwrap_or_else(|| panic!("no reload line in {lines:?}"));
    assert!(reloaded.contains("JWT_SECRET_FILE"), "{reloaded}");
    assert!(reloaded.contains(&after.fingerprint), "{reloaded}");

    for text in [
        after.to_string(),
        after.to_json().to_string(),
        format!("{secret:?}"),
        format!("{:?}", secret.version()),
    ] {
        assert_no_sentinel("explain or debug output", &text);
    }
    assert_logs_clean();
}

#[test]
fn a_rewritten_file_is_reloaded_and_a_too_short_value_is_refused() {
    logs();
    let s = Scratch::new();
    let file = s.write("jwt", SENTINEL);
    let vars = production_with(&s, &file, &[]);
    let loaded = load(&s, &vars);
    let secret = handle(&loaded);

    std::fs::write(&file, SHORT).unwrap();
    eventually("the short value is refused", || secret.rejected() == 1);
    assert_eq!(secret.current().expose(), SENTINEL, "the old value stays");
    let reason = secret.last_refusal().unwrap();
    assert!(reason.contains("secret.too-short"), "{reason}");
    assert_no_sentinel("the refusal", &reason);
    let explain = loaded.current_explain();
    let reload = explain.get("jwt_secret").unwrap().reload.clone().unwrap();
    assert_eq!(reload.rejected, Some(1));
    assert!(
        log_lines_about("jwt_secret")
            .iter()
            .any(|l| l.starts_with("ERROR") && l.contains("secret.too-short")),
        "the refusal is logged as an error"
    );

    // A good value after the refused one is taken.
    std::fs::write(&file, format!("{ROTATED}\r\n")).unwrap();
    eventually("the good value is in use", || {
        secret.current().expose() == ROTATED
    });
    assert_eq!(secret.rejected(), 1);
    assert_logs_clean();
}

/// A refusal reason to expect, and how to cause it.
type Step<'a> = (&'a str, Box<dyn Fn() + 'a>);

#[test]
fn empty_placeholder_oversized_and_missing_files_are_refused_and_the_old_value_stays() {
    logs();
    let s = Scratch::new();
    let file = s.write("jwt", SENTINEL);
    let vars = production_with(&s, &file, &[]);
    let loaded = load(&s, &vars);
    let secret = handle(&loaded);
    let big = "x".repeat(usize::try_from(appenv_config::MAX_SECRET_FILE_BYTES).unwrap() + 1);
    let cases: [Step<'_>; 4] = [
        ("empty", Box::new(|| std::fs::write(&file, "\n").unwrap())),
        (
            "secret.placeholder",
            Box::new(|| std::fs::write(&file, "changeme").unwrap()),
        ),
        (
            "larger than",
            Box::new(|| std::fs::write(&file, &big).unwrap()),
        ),
        (
            "cannot read",
            Box::new(|| std::fs::remove_file(&file).unwrap()),
        ),
    ];
    for (count, (reason, apply)) in (1..).zip(cases) {
        apply();
        eventually(reason, || secret.rejected() == count);
        let refusal = secret.last_refusal().unwrap();
        assert!(refusal.contains(reason), "{reason}: {refusal}");
        assert_no_sentinel("the refusal", &refusal);
        assert_eq!(
            secret.current().expose(),
            SENTINEL,
            "{reason}: old value stays"
        );
    }
    // The file back with the value in use: nothing to do, nothing refused.
    std::fs::write(&file, SENTINEL).unwrap();
    std::fs::write(&file, ROTATED).unwrap();
    eventually("the file is read again", || {
        secret.current().expose() == ROTATED
    });
    assert_logs_clean();
}

#[test]
fn variables_from_the_environment_are_static_and_explain_says_so() {
    let s = Scratch::new();
    let loaded = s.load(support::production_ok()).unwrap();
    let secret = loaded.secret_handle("jwt_secret").unwrap();
    assert_eq!(secret.mode(), ReloadMode::Static);
    assert_eq!(secret.current().expose(), STRONG);
    let explain = loaded.explain();
    let reload = explain.get("jwt_secret").unwrap().reload.clone().unwrap();
    assert_eq!(reload.mode, ReloadMode::Static);
    assert_eq!(reload.fingerprint, None);
    let json = explain.to_json();
    let entry = json["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"] == "jwt_secret")
        .unwrap();
    assert_eq!(entry["reload"], serde_json::json!({"mode": "static"}));
    assert!(explain.to_string().contains("[static]"), "{explain}");
    // Keys that are not secrets say nothing about reloading.
    assert!(explain.get("server.port").unwrap().reload.is_none());

    let err = loaded.secret_handle("no.such.key").unwrap_err().to_string();
    assert!(err.contains("not a key"), "{err}");
}

fn ring(loaded: &appenv_config::Loaded<support::Config>) -> KeyRing {
    loaded
        .key_ring_with("jwt_secret", ReloadOptions::default().interval(FAST))
        .unwrap()
}

fn exposed(keys: Vec<appenv_config::SecretString>) -> Vec<String> {
    keys.iter().map(|k| k.expose().clone()).collect()
}

#[test]
fn a_key_ring_rotates_through_its_files() {
    logs();
    let s = Scratch::new();
    let mut volume = SecretVolume::new(s.path(), &[("jwt", SENTINEL), ("jwt_previous", "")]);
    let previous = volume.path("jwt_previous");
    let vars = production_with(
        &s,
        &volume.path("jwt"),
        &[("JWT_SECRET_PREVIOUS_FILE", previous.to_str().unwrap())],
    );
    let loaded = load(&s, &vars);
    let ring = ring(&loaded);
    assert_eq!(ring.previous_mode(), ReloadMode::File);
    assert_eq!(exposed(ring.keys()), vec![SENTINEL]);

    // Rotation: the new key signs, the old one still verifies — and at no
    // moment of the swap is the old key missing from the ring.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (ring, stop) = (ring.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut samples = 0_u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let keys = exposed(ring.keys());
                assert!(
                    keys.iter().any(|k| k == SENTINEL),
                    "the old key left the ring during the swap"
                );
                samples += 1;
            }
            samples
        })
    };
    volume.publish(&[("jwt", ROTATED), ("jwt_previous", SENTINEL)]);
    eventually("both keys are in the ring", || {
        exposed(ring.keys()) == vec![ROTATED, SENTINEL]
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(sampler.join().expect("the old key stayed in the ring") > 0);
    assert_eq!(ring.current().expose(), ROTATED);

    // The old key leaves the ring.
    volume.publish(&[("jwt", ROTATED), ("jwt_previous", "")]);
    eventually("the old key left the ring", || {
        exposed(ring.keys()) == vec![ROTATED]
    });

    // A too-short previous value is refused: the list in use stays.
    volume.publish(&[
        ("jwt", ROTATED),
        ("jwt_previous", &format!("{ROTATED_AGAIN}\n{SHORT}")),
    ]);
    eventually("the list is refused", || ring.previous_rejected() == 1);
    assert_eq!(exposed(ring.keys()), vec![ROTATED]);
    let reason = ring.previous_last_refusal().unwrap();
    assert!(
        reason.contains("previous value 2") && reason.contains("secret.too-short"),
        "{reason}"
    );
    assert_no_sentinel("the refusal", &reason);
    assert_no_sentinel("ring debug", &format!("{ring:?}"));
    assert_logs_clean();
}

#[test]
fn a_previous_list_holding_the_current_value_waits_for_the_current_value_to_move_on() {
    logs();
    let s = Scratch::new();
    let jwt = s.write("jwt", SENTINEL);
    let previous = s.write("previous", "");
    let vars = production_with(
        &s,
        &jwt,
        &[("JWT_SECRET_PREVIOUS_FILE", previous.to_str().unwrap())],
    );
    let loaded = load(&s, &vars);
    let ring = ring(&loaded);
    // Files rewritten one at a time, the previous list first.
    std::fs::write(&previous, SENTINEL).unwrap();
    eventually("the list equal to the current value is refused", || {
        ring.previous_rejected() == 1
    });
    assert!(
        ring.previous_last_refusal()
            .unwrap()
            .contains("equals the current value")
    );
    std::fs::write(&jwt, ROTATED).unwrap();
    eventually("the list is taken once the current value moved on", || {
        exposed(ring.keys()) == vec![ROTATED, SENTINEL]
    });
    assert_logs_clean();
}

#[test]
fn previous_values_from_a_variable_are_static_and_checked_at_startup() {
    let s = Scratch::new();
    let mut vars: Vec<(String, String)> = support::production_ok()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    vars.push((
        "JWT_SECRET_PREVIOUS".to_owned(),
        format!("{ROTATED}, {ROTATED_AGAIN}"),
    ));
    let loaded = load(&s, &vars);
    let ring = loaded.key_ring("jwt_secret").unwrap();
    assert_eq!(ring.previous_mode(), ReloadMode::Static);
    assert_eq!(exposed(ring.keys()), vec![STRONG, ROTATED, ROTATED_AGAIN]);

    for (bad, reason) in [
        (format!("{ROTATED},{SHORT}"), "secret.too-short"),
        (STRONG.to_owned(), "equals the current value"),
    ] {
        let mut vars = vars.clone();
        vars.last_mut().unwrap().1 = bad;
        let loaded = load(&s, &vars);
        let err = loaded.key_ring("jwt_secret").unwrap_err().to_string();
        assert!(err.contains(reason), "{err}");
        assert!(err.contains("JWT_SECRET_PREVIOUS"), "{err}");
        assert_no_sentinel("the error", &err);
        assert!(!err.contains(STRONG), "{err}");
    }

    let file = s.write("previous", ROTATED);
    let mut both = vars.clone();
    both.push((
        "JWT_SECRET_PREVIOUS_FILE".to_owned(),
        file.to_str().unwrap().to_owned(),
    ));
    let err = load(&s, &both)
        .key_ring("jwt_secret")
        .unwrap_err()
        .to_string();
    assert!(err.contains("both JWT_SECRET_PREVIOUS"), "{err}");
}

#[test]
fn every_handle_of_a_key_shares_one_watch_and_its_counts() {
    logs();
    let s = Scratch::new();
    let file = s.write("jwt", SENTINEL);
    let vars = production_with(&s, &file, &[]);
    let loaded = load(&s, &vars);
    let first = handle(&loaded);
    let second = handle(&loaded);
    let ring = ring(&loaded);

    std::fs::write(&file, SHORT).unwrap();
    eventually("the short value is refused", || first.rejected() == 1);
    // One poller refused it once: every handle, the ring and explain agree.
    for (what, count) in [
        ("the second handle", second.rejected()),
        ("the ring's handle", ring.handle().rejected()),
    ] {
        assert_eq!(count, 1, "{what}");
    }
    let reload = loaded
        .current_explain()
        .get("jwt_secret")
        .unwrap()
        .reload
        .clone()
        .unwrap();
    assert_eq!(reload.rejected, Some(1));

    std::fs::write(&file, ROTATED).unwrap();
    eventually("the new value is in use", || {
        first.current().expose() == ROTATED
    });
    assert_eq!(second.current().expose(), ROTATED);
    assert_eq!(exposed(ring.keys()), vec![ROTATED]);
    assert_eq!((first.reloads(), second.reloads()), (1, 1));
    let reloaded = log_lines_about("jwt_secret")
        .iter()
        .filter(|l| l.contains("secret reloaded") && l.contains(file.to_str().unwrap()))
        .count();
    assert_eq!(reloaded, 1, "one poller, one log line per change");

    // With every handle gone the watch stops; a handle made afterwards
    // starts a new one and follows the file again.
    drop((first, second, ring));
    std::thread::sleep(FAST * 5);
    let again = handle(&loaded);
    assert_eq!(again.current().expose(), ROTATED);
    std::fs::write(&file, ROTATED_AGAIN).unwrap();
    eventually("a new handle follows the file", || {
        again.current().expose() == ROTATED_AGAIN
    });
    assert_logs_clean();
}

#[test]
fn only_a_strong_value_shows_a_fingerprint_other_processes_can_compare() {
    logs();
    let s = Scratch::new();
    let jwt = s.write("jwt", SENTINEL);
    // A database password far too short to hide behind an unkeyed hash.
    let url = s.write(
        "db",
        "postgres://app:SENTINEL-pw@db.internal:5432/events?sslmode=require",
    );
    let mut vars = production_with(&s, &jwt, &[("DATABASE_URL_FILE", url.to_str().unwrap())]);
    vars.retain(|(k, _)| k != "DATABASE_URL");
    let loaded = load(&s, &vars);
    let before = loaded.current_explain().fingerprint;
    let jwt = handle(&loaded);
    let db = loaded
        .secret_handle_with("database.url", ReloadOptions::default().interval(FAST))
        .unwrap();
    assert_eq!(
        jwt.fingerprint(),
        appenv_config::secret_fingerprint("jwt_secret", SENTINEL),
        "a strong secret's fingerprint is the same in every process"
    );
    let print = db.fingerprint();
    assert!(print.starts_with("local-"), "{print}");
    assert_ne!(
        print,
        appenv_config::secret_fingerprint(
            "database.url",
            "postgres://app:SENTINEL-pw@db.internal:5432/events?sslmode=require"
        )
    );
    let explain = loaded.current_explain();
    let reload = explain.get("database.url").unwrap().reload.clone().unwrap();
    assert_eq!(reload.fingerprint.as_deref(), Some(print.as_str()));
    // The configuration fingerprint leaves the process-local print out, so
    // replicas with the same configuration still print alike; the strong
    // secret's version is in it.
    assert_eq!(
        explain.fingerprint,
        loaded.explain().fingerprint,
        "making handles changes no version"
    );
    assert_eq!(before, explain.fingerprint);

    // A strong database password gets the comparable print.
    let strong = format!("postgres://app:{ROTATED}@db.internal:5432/events?sslmode=require");
    std::fs::write(&url, &strong).unwrap();
    eventually("the new URL is in use", || db.current().expose() == &strong);
    assert_eq!(
        db.fingerprint(),
        appenv_config::secret_fingerprint("database.url", &strong)
    );
    assert_logs_clean();
}
