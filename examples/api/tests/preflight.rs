//! One preflight: over a corpus of configurations (the configuration error
//! cases of the four crates), `config check` and `serve` agree.
//!
//! - `check` exits 0 ⇒ `serve` does not refuse for a configuration reason
//!   (no exit 78) and never panics (no exit 101): the constructors
//!   (`init`, `RateLimitLayer::new`, `Migrator::with_config`, the pool)
//!   accept what the policy accepted.
//! - `check` exits 78 ⇒ `serve` exits 78 naming the same rule ids (or, for
//!   a load error, the same message).

mod support;

use std::collections::BTreeSet;

use support::Setup;

/// Each case: a name and the variables it sets on top of a local setup.
fn corpus() -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    let limited = ("DISABLE_RATE_LIMITING", "false");
    vec![
        ("local defaults", vec![]),
        // Telemetry.
        (
            "sampler ratio above one",
            vec![
                ("OTEL_TRACES_SAMPLER", "traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
            ],
        ),
        (
            "sampler ratio not a number",
            vec![
                ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", "half"),
            ],
        ),
        (
            "unknown sampler",
            vec![("OTEL_TRACES_SAMPLER", "sometimes")],
        ),
        (
            "metric interval zero",
            vec![("OTEL_METRIC_EXPORT_INTERVAL", "0")],
        ),
        (
            "https collector",
            vec![("OTEL_EXPORTER_OTLP_ENDPOINT", "https://127.0.0.1:1")],
        ),
        (
            "unknown OTLP protocol",
            vec![
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon"),
            ],
        ),
        (
            "collector URL without a scheme",
            vec![("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317")],
        ),
        ("unknown log level", vec![("LOG_LEVEL", "verbose")]),
        ("unknown log format", vec![("LOG_FORMAT", "xml")]),
        ("malformed RUST_LOG", vec![("RUST_LOG", "sqlx=[[[")]),
        // Rate limiting.
        ("zero quota", vec![limited, ("RATE_LIMIT_MAX", "0")]),
        ("zero window", vec![limited, ("RATE_LIMIT_WINDOW_MS", "0")]),
        (
            "redis backend without a URL",
            vec![limited, ("RATE_LIMIT_BACKEND", "redis")],
        ),
        (
            "redis URL of another scheme",
            vec![
                limited,
                ("RATE_LIMIT_BACKEND", "redis"),
                ("RATE_LIMIT_REDIS_URL", "ftp://127.0.0.1:1"),
            ],
        ),
        (
            "TLS redis",
            vec![
                limited,
                ("RATE_LIMIT_BACKEND", "redis"),
                ("RATE_LIMIT_REDIS_URL", "rediss://127.0.0.1:1"),
            ],
        ),
        (
            "zero key cap",
            vec![limited, ("RATE_LIMIT_MAX_TRACKED_KEYS", "0")],
        ),
        // Database.
        ("zero pool", vec![("DATABASE_MAX_CONNECTIONS", "0")]),
        (
            "min above max",
            vec![
                ("DATABASE_MIN_CONNECTIONS", "10"),
                ("DATABASE_MAX_CONNECTIONS", "2"),
            ],
        ),
        (
            "zero connect timeout",
            vec![("DATABASE_CONNECT_TIMEOUT_MS", "0")],
        ),
        (
            "database URL that does not parse",
            vec![("DATABASE_URL", "::not a url::")],
        ),
        (
            "database of an unknown kind",
            vec![("DATABASE_URL", "oracle://db/events")],
        ),
        // Server and loader.
        ("port out of range", vec![("SERVER__PORT", "70000")]),
        ("host not an address", vec![("HOST", "my host")]),
        ("debug endpoints in staging", vec![("APP_ENV", "staging")]),
    ]
}

fn check(setup: &Setup) -> (Option<i32>, serde_json::Value) {
    let run = setup.run(&["config", "check", "--format", "json"]);
    let doc = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|err| panic!("check printed no JSON ({err}):\n{}", run.output()));
    (run.code(), doc)
}

fn rule_ids(doc: &serde_json::Value) -> BTreeSet<String> {
    doc["violations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["rule"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn check_and_serve_agree_on_every_configuration_of_the_corpus() {
    let mut disagreements = Vec::new();
    for (name, vars) in corpus() {
        let setup = Setup::new(&vars);
        let (code, doc) = check(&setup);
        let mut server = setup.spawn();
        let served = server.wait_ready();
        let output = server.output();
        drop(server);
        match code {
            Some(0) => {
                if let Err(status @ (Some(78) | Some(101) | None)) = served {
                    disagreements.push(format!(
                        "{name}: check passed, serve exited {status:?}:\n{output}"
                    ));
                }
            }
            Some(78) => {
                if served != Err(Some(78)) {
                    disagreements.push(format!(
                        "{name}: check refused ({doc}), serve gave {served:?}:\n{output}"
                    ));
                    continue;
                }
                for rule in rule_ids(&doc) {
                    if !output.contains(&rule) {
                        disagreements.push(format!(
                            "{name}: check named {rule}, serve did not:\n{output}"
                        ));
                    }
                }
                for error in doc["errors"].as_array().into_iter().flatten() {
                    let message = error["message"].as_str().unwrap_or_default();
                    if !output.contains(message) {
                        disagreements.push(format!(
                            "{name}: check said `{message}`, serve did not:\n{output}"
                        ));
                    }
                }
            }
            other => disagreements.push(format!("{name}: check exited {other:?}: {doc}")),
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} disagreement(s):\n\n{}",
        disagreements.len(),
        disagreements.join("\n\n")
    );
}

#[test]
fn the_corpus_exercises_both_verdicts() {
    // Guards the property above against a corpus that stopped refusing
    // anything (or stopped passing anything).
    let mut verdicts = BTreeSet::new();
    for (_, vars) in corpus() {
        verdicts.insert(check(&Setup::new(&vars)).0);
    }
    assert!(verdicts.contains(&Some(0)), "{verdicts:?}");
    assert!(verdicts.contains(&Some(78)), "{verdicts:?}");
}
