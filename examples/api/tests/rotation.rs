//! Secrets rotated while example-api serves: the JWT signing key through
//! its mounted files (a Kubernetes-style volume swapped atomically), under
//! continuous requests.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::*;

/// The key the JWT secret is rotated to; a sentinel like `SENTINEL_JWT`.
const ROTATED_JWT: &str = "sentinel-jwt-rotated-8d2b4f6a-Qx7Lm3Wp9Zk1";

fn assert_clean(what: &str, text: &str) {
    assert_no_secret(what, text);
    assert!(
        !text.contains(ROTATED_JWT),
        "{what} contains a secret:\n{text}"
    );
}

/// Waits (polling, up to a generous bound) until `done` holds.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A Kubernetes-style secret volume: each file a symlink into `..data`,
/// which is swapped to a new directory in one rename.
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

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_owned()
    }

    fn publish(&mut self, files: &[(&str, &str)]) {
        self.generation += 1;
        let generation = format!("..generation_{}", self.generation);
        std::fs::create_dir(self.dir.join(&generation)).unwrap();
        for (name, text) in files {
            std::fs::write(self.dir.join(&generation).join(name), format!("{text}\n")).unwrap();
        }
        let tmp = self.dir.join("..data_tmp");
        std::os::unix::fs::symlink(&generation, &tmp).unwrap();
        std::fs::rename(&tmp, self.dir.join("..data")).unwrap();
    }
}

fn post(server: &Server, token: &str) -> u16 {
    server
        .client
        .post(server.url("/v1/events"))
        .bearer_auth(token)
        .json(&json!({"type": "user.signup", "payload": {"plan": "pro"}}))
        .send()
        .map_or(0, |r| r.status().as_u16())
}

/// `example-api token --sub <sub>`: signed with the key the files hold now.
fn issue(setup: &Setup, sub: &str) -> String {
    let run = setup.run(&["token", "--sub", sub]);
    assert_eq!(run.code(), Some(0), "{}", run.output());
    run.stdout.trim().to_owned()
}

fn signed_by(token: &str, key: &str) -> bool {
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.validate_exp = false;
    jsonwebtoken::decode::<Value>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(key.as_bytes()),
        &validation,
    )
    .is_ok()
}

fn jwt_reload(server: &Server) -> Value {
    let explain: Value = server.get("/debug/config").json().unwrap();
    explain["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"] == "jwt_secret")
        .unwrap()["reload"]
        .clone()
}

#[test]
fn a_jwt_key_rotated_through_its_mounted_file_logs_no_one_out_until_it_leaves_the_ring() {
    let setup_dir = tempfile::tempdir().unwrap();
    let mut volume = SecretVolume::new(
        setup_dir.path(),
        &[("jwt", SENTINEL_JWT), ("jwt_previous", "")],
    );
    let setup = Setup::new(&[
        ("JWT_SECRET_FILE", &volume.path("jwt")),
        ("JWT_SECRET_PREVIOUS_FILE", &volume.path("jwt_previous")),
    ]);
    let server = Arc::new(setup.spawn().ready());
    let old = issue(&setup, "alice");
    assert!(signed_by(&old, SENTINEL_JWT));
    assert_eq!(post(&server, &old), 201);
    let before = jwt_reload(&server);
    assert_eq!(before["mode"], "file", "{before}");

    // Continuous requests with the old token across the rotation.
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let (server, stop, old) = (Arc::clone(&server), Arc::clone(&stop), old.clone());
        std::thread::spawn(move || {
            let mut statuses = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                statuses.push(post(&server, &old));
            }
            statuses
        })
    };

    // The new key signs; the old one is kept for verification.
    volume.publish(&[("jwt", ROTATED_JWT), ("jwt_previous", SENTINEL_JWT)]);
    let new = issue(&setup, "bob");
    assert!(signed_by(&new, ROTATED_JWT), "new tokens use the new key");
    eventually("the server accepts tokens of the new key", || {
        post(&server, &new) == 201
    });
    // Some more traffic after the swap, then stop.
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let statuses = traffic.join().unwrap();
    assert!(!statuses.is_empty());
    eprintln!(
        "{} requests with the old token during the rotation",
        statuses.len()
    );
    let failed: Vec<_> = statuses.iter().filter(|s| **s != 201).collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests with the old token failed during the rotation: {failed:?}\n{}",
        failed.len(),
        statuses.len(),
        server.output()
    );
    let after = jwt_reload(&server);
    assert_ne!(before["fingerprint"], after["fingerprint"], "{after}");
    assert_eq!(post(&server, &old), 201, "the old key is still in the ring");

    // The old key leaves the ring: its tokens get 401, new ones still work.
    volume.publish(&[("jwt", ROTATED_JWT), ("jwt_previous", "")]);
    eventually("tokens of the old key are refused", || {
        post(&server, &old) == 401
    });
    assert_eq!(post(&server, &new), 201);

    let output = server.output();
    assert!(output.contains("secret reloaded"), "{output}");
    assert_clean("server output", &output);
    assert_clean(
        "/debug/config",
        &server.get("/debug/config").text().unwrap(),
    );
    for (args, says) in [
        (&["config", "explain"][..], "[reloadable, loaded "),
        (
            &["config", "explain", "--format", "json"],
            "\"mode\": \"file\"",
        ),
    ] {
        let run = setup.run(args);
        assert_eq!(run.code(), Some(0), "{}", run.output());
        assert!(run.stdout.contains(says), "{}", run.stdout);
        assert_clean("config explain", &run.output());
    }
}

#[test]
fn a_previous_key_that_fails_the_secret_rules_refuses_startup_without_printing_it() {
    let dir = tempfile::tempdir().unwrap();
    let previous = dir.path().join("previous");
    std::fs::write(&previous, "sentinel-jwt-short\n").unwrap();
    let setup = Setup::new(&[
        ("JWT_SECRET", SENTINEL_JWT),
        ("JWT_SECRET_PREVIOUS_FILE", previous.to_str().unwrap()),
    ]);
    let mut server = setup.spawn();
    assert_eq!(server.wait_ready(), Err(Some(78)));
    let output = server.output();
    assert!(output.contains("secret.too-short"), "{output}");
    assert!(output.contains("JWT_SECRET_PREVIOUS_FILE"), "{output}");
    assert!(!output.contains("sentinel-jwt-short"), "{output}");
    assert_clean("refused startup", &output);
}
