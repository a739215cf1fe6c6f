//! `example-api config check/explain` as a black box for the database URL,
//! weak-secret and redaction rules: what `check` reports, `serve` refuses
//! with the same rule ids, and no password is ever printed.

mod support;

use support::{SENTINEL_JWT, Setup, assert_no_secret};

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|err| panic!("not JSON ({err}): {text}"))
}

fn rules(doc: &serde_json::Value) -> Vec<String> {
    let mut ids: Vec<String> = doc["violations"]
        .as_array()
        .unwrap_or_else(|| panic!("violations in {doc}"))
        .iter()
        .map(|v| v["rule"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

fn production(url: &str) -> Setup {
    Setup::new(&[
        ("APP_ENV", "production"),
        ("JWT_SECRET", SENTINEL_JWT),
        ("CORS_ORIGIN", "https://app.example.com"),
        ("OTEL_SDK_DISABLED", "true"),
        ("DATABASE_URL", url),
    ])
}

#[test]
fn production_database_urls_are_checked_host_by_host_and_tls_by_tls() {
    for (url, want) in [
        (
            "postgres://app:sentinelDbPw7731@db.internal:54x2/events?sslmode=require",
            "database.url-invalid",
        ),
        (
            "postgres://app:sentinel#DbPw7731@db.internal/events?sslmode=require",
            "database.url-invalid",
        ),
        (
            "postgres://app:sentinelDbPw7731@db1.internal:5432,127.1:5433/events?sslmode=verify-full",
            "database.loopback-host",
        ),
        (
            "postgres://app:sentinelDbPw7731@db.internal/events",
            "database.tls-optional",
        ),
        (
            "mysql://app:sentinelDbPw7731@db.internal/events?ssl=true",
            "database.tls-optional",
        ),
        (
            "mariadb://app:sentinelDbPw7731@db.internal/events?ssl-mode=DISABLED",
            "database.tls-disabled",
        ),
        (
            "sqlite:///var/lib/events.db",
            "database.sqlite-in-production",
        ),
        (
            "postgres://app:sentinelDbPw7731@postgres.staging.svc.cluster.local/events?sslmode=require",
            "database.other-environment",
        ),
    ] {
        let setup = production(url);
        let check = setup.run(&["config", "check", "--format", "json"]);
        assert_eq!(check.code(), Some(78), "{url}: {}", check.output());
        let doc = json(&check.stdout);
        let ids = rules(&doc);
        assert!(ids.contains(&want.to_owned()), "{url}: {ids:?}");
        let found = doc["violations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["rule"] == want)
            .unwrap();
        assert_eq!(found["key"], "database.url");
        assert_eq!(found["source"], "env DATABASE_URL");
        assert_no_secret(url, &check.output());
        assert!(!check.output().contains("DbPw7731"), "{}", check.output());

        // `serve` refuses with the same rule ids.
        let serve = setup.run(&["serve"]);
        assert_eq!(serve.code(), Some(78), "{url}: {}", serve.output());
        for id in &ids {
            assert!(
                serve.output().contains(id.as_str()),
                "{id}: {}",
                serve.output()
            );
        }
        assert_no_secret(url, &serve.output());
    }
}

#[test]
fn weak_and_example_secrets_are_refused_without_being_printed() {
    let ok_db = "postgres://app:pw@db.internal/events?sslmode=verify-full";
    for (secret, want) in [
        ("sentinel".repeat(6), "secret.weak"),
        ("7".repeat(48), "secret.weak"),
        // The example's own .env.example value, with no file around.
        (
            "local-only-example-jwt-key-4e1f0c9b2a7d".to_owned(),
            "secret.placeholder",
        ),
    ] {
        let mut setup = production(ok_db);
        setup.set("JWT_SECRET", secret.clone());
        let check = setup.run(&["config", "check", "--format", "json"]);
        assert_eq!(check.code(), Some(78), "{}", check.output());
        let ids = rules(&json(&check.stdout));
        assert!(ids.contains(&want.to_owned()), "{ids:?}");
        assert!(!check.output().contains(&secret), "{}", check.output());
    }
}

#[test]
fn explain_redacts_passwords_of_any_spelling() {
    for password in [
        "pa ss'w\"ord",
        "p@ss@sentinel",
        "sentinel%zz",
        "pässwörd✓sentinel",
    ] {
        let url = format!("postgres://app:{password}@localhost:5432/events");
        let setup = Setup::new(&[("DATABASE_URL", url.as_str())]);
        for args in [
            &["config", "explain"][..],
            &["config", "explain", "--format", "json"],
        ] {
            let run = setup.run(args);
            assert!(
                run.stdout
                    .contains("postgres://app:[REDACTED]@localhost:5432/events"),
                "{password}: {}",
                run.output()
            );
            assert!(
                !run.output().contains(password),
                "{password}: {}",
                run.output()
            );
        }
    }
}

#[test]
fn explain_redacts_secret_parameters_of_otlp_and_redis_urls() {
    let setup = Setup::new(&[
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "https://otlp.example.com:4318?X-Api-Key=sentinelOtlpKey",
        ),
        (
            "RATE_LIMIT_REDIS_URL",
            "rediss://default:sentinel redis pw@cache.internal:6380/0",
        ),
    ]);
    let run = setup.run(&["config", "explain", "--format", "json"]);
    assert_eq!(run.code(), Some(0), "{}", run.output());
    assert!(
        run.stdout
            .contains("https://otlp.example.com:4318?X-Api-Key=[REDACTED]"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("rediss://default:[REDACTED]@cache.internal:6380/0"),
        "{}",
        run.stdout
    );
    assert!(!run.output().contains("sentinel"), "{}", run.output());
}
