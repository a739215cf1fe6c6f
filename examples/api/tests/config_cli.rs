//! `example-api config explain/check` as a black box: the same loader and
//! checks as `serve`, load errors as documents, warnings shown, named
//! environments, and no files read from where the binary was built.

mod support;

use support::{BIN, Setup};

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|err| panic!("not JSON ({err}): {text}"))
}

#[test]
fn a_load_error_is_a_check_document_with_exit_78() {
    let setup = Setup::new(&[("PORT", "not-a-port")]);
    let run = setup.run(&["config", "check", "--format", "json"]);
    assert_eq!(run.code(), Some(78), "{}", run.output());
    let doc = json(&run.stdout);
    assert_eq!(doc["env"], "local");
    assert_eq!(doc["errors"][0]["key"], "server.port");
    assert_eq!(doc["errors"][0]["source"], "env PORT");
    assert_eq!(doc["violations"], serde_json::json!([]));

    // `serve` refuses with the same words.
    let serve = setup.run(&["serve"]);
    assert_eq!(serve.code(), Some(78), "{}", serve.output());
    let message = doc["errors"][0]["message"].as_str().unwrap();
    assert!(
        serve.stderr.contains(message),
        "{}\n---\n{message}",
        serve.stderr
    );

    // Text form: on stderr, exit 78.
    let text = setup.run(&["config", "check"]);
    assert_eq!(text.code(), Some(78));
    assert!(text.stderr.contains("server.port"), "{}", text.output());

    // An unknown APP_ENV: `env` is null, the error names APP_ENV.
    let setup = Setup::new(&[("APP_ENV", "qa")]);
    let run = setup.run(&["config", "check", "--format", "json"]);
    assert_eq!(run.code(), Some(78));
    let doc = json(&run.stdout);
    assert_eq!(doc["env"], serde_json::Value::Null);
    assert_eq!(doc["errors"][0]["key"], "APP_ENV");
    assert!(
        doc["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("preview (staging)")
    );
}

#[test]
fn explain_shows_the_loaders_warnings() {
    let setup = Setup::new(&[("RATE_LIMIT_MAXX", "5")]);
    let text = setup.run(&["config", "explain"]);
    assert_eq!(text.code(), Some(0), "{}", text.output());
    assert!(
        text.stderr.contains("did you mean RATE_LIMIT_MAX"),
        "{}",
        text.stderr
    );
    let run = setup.run(&["config", "explain", "--format", "json"]);
    let doc = json(&run.stdout);
    let warnings = doc["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w["rule"] == "config.unknown-variable" && w["source"] == "env RATE_LIMIT_MAXX"),
        "{doc:#}"
    );
    // check carries the same warning.
    let run = setup.run(&["config", "check", "--format", "json"]);
    let doc = json(&run.stdout);
    assert!(
        doc["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["rule"] == "config.unknown-variable"),
        "{doc:#}"
    );
}

#[test]
fn a_named_environment_reports_its_name_and_tier() {
    let setup = Setup::new(&[("APP_ENV", "preview")]);
    let run = setup.run(&["config", "explain", "--format", "json"]);
    assert_eq!(run.code(), Some(0), "{}", run.output());
    let doc = json(&run.stdout);
    assert_eq!(doc["env"], "preview");
    assert_eq!(doc["tier"], "staging");
    let run = setup.run(&["config", "check", "--format", "json"]);
    let doc = json(&run.stdout);
    assert_eq!(doc["env"], "preview");
    assert_eq!(doc["tier"], "staging");
}

#[test]
fn a_copied_binary_reads_only_its_working_directory() {
    // No APP_CONFIG_DIR and no CARGO_MANIFEST_DIR: the binary as deployed.
    let dir = tempfile::tempdir().unwrap();
    let run = std::process::Command::new(BIN)
        .args(["config", "explain", "--format", "json"])
        .env_clear()
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0));
    let doc = json(&String::from_utf8_lossy(&run.stdout));
    let sources: Vec<String> = doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["source"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        sources.iter().all(|s| s == "default"),
        "read files from the build tree: {sources:?}"
    );

    // A `.env` and a `config/` in the working directory are read in local.
    std::fs::write(dir.path().join(".env"), "PORT=4321\n").unwrap();
    std::fs::create_dir(dir.path().join("config")).unwrap();
    std::fs::write(
        dir.path().join("config/default.toml"),
        "[rate_limit]\nmax = 9\n",
    )
    .unwrap();
    let run = std::process::Command::new(BIN)
        .args(["config", "explain", "--format", "json"])
        .env_clear()
        .current_dir(dir.path())
        .output()
        .unwrap();
    let doc = json(&String::from_utf8_lossy(&run.stdout));
    let entry = |key: &str| {
        doc["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["key"] == key)
            .cloned()
            .unwrap()
    };
    assert_eq!(entry("server.port")["value"], 4321);
    assert_eq!(entry("server.port")["source"], ".env:1 (PORT)");
    assert_eq!(entry("rate_limit.max")["value"], 9);
}
