//! example-api end to end in local, staging and production: the real
//! binary, real databases, HTTP.

mod support;

use serde_json::{Value, json};
use support::*;

const EXIT_CONFIG: i32 = 78;
const EXIT_PENDING: i32 = 3;

#[test]
fn local_with_no_variables_serves_sqlite_with_debug_config_and_no_rate_limit() {
    let setup = Setup::new(&[]);
    let server = setup.spawn().ready();

    assert!(
        data_file(setup.dir.path()).is_file(),
        "SQLite file under ./data/"
    );

    let readyz = server.get("/readyz");
    assert_eq!(readyz.status(), 200);
    assert_eq!(readyz.headers()["x-api-version"], "1");
    let body: Value = readyz.json().unwrap();
    assert_eq!(body["status"], "ready", "{body}");

    let debug = server.get("/debug/config");
    assert_eq!(debug.status(), 200);
    let explain: Value = debug.json().unwrap();
    assert_eq!(explain["env"], "local");
    let entry = |key: &str| {
        explain["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["key"] == key)
            .cloned()
            .unwrap_or_else(|| panic!("{key} in {explain}"))
    };
    assert_eq!(
        entry("database.url")["value"],
        "sqlite://data/example-api.db"
    );
    let source = entry("rate_limit.max")["source"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(source.ends_with("config/default.toml:13"), "{source}");

    // Rate limiting is off in local: more than the quota of 100 all pass,
    // without RateLimit fields.
    for _ in 0..120 {
        let response = server.get("/v1/events");
        assert_eq!(response.status(), 200);
        assert!(response.headers().get("ratelimit").is_none());
    }

    // Pretty (not JSON) logs.
    let stdout = server.stdout();
    assert!(stdout.contains("configuration loaded"), "{stdout}");
    assert!(
        json_lines(&stdout).is_empty(),
        "local logs are pretty:\n{stdout}"
    );
}

#[test]
fn local_events_round_trip_with_bearer_auth_validation_and_cors() {
    let setup = Setup::new(&[
        ("JWT_SECRET", SENTINEL_JWT),
        ("CORS_ORIGIN", "https://app.example.com"),
    ]);
    let server = setup.spawn().ready();
    let post = |body: &Value, token: Option<&str>| {
        let mut request = server.client.post(server.url("/v1/events")).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().unwrap()
    };
    let event = json!({"type": "user.signup", "payload": {"plan": "pro"}});

    // No token, a token signed with another key: 401 problem+json.
    for token in [
        None,
        Some(token("another-key-of-at-least-32-bytes!!", "mallory").as_str()),
    ] {
        let response = post(&event, token);
        assert_eq!(response.status(), 401);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
    }

    let good = token(SENTINEL_JWT, "alice");
    let created = post(&event, Some(&good));
    assert_eq!(created.status(), 201);
    let created: Value = created.json().unwrap();
    assert_eq!(created["type"], "user.signup");
    assert_eq!(created["actor"], "alice");
    assert_eq!(created["payload"], json!({"plan": "pro"}));

    // Invalid input: 422 with every field problem.
    let invalid = post(&json!({"type": "", "payload": [1]}), Some(&good));
    assert_eq!(invalid.status(), 422);
    assert_eq!(
        invalid.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = invalid.json().unwrap();
    assert_eq!(problem["status"], 422);
    let pointers: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(pointers, ["/type", "/payload"]);

    let listed: Value = server.get("/v1/events").json().unwrap();
    assert_eq!(listed["events"].as_array().unwrap().len(), 1);
    assert_eq!(listed["events"][0]["id"], created["id"]);

    // CORS for the configured origin only.
    let allowed = server
        .client
        .get(server.url("/v1/events"))
        .header("origin", "https://app.example.com")
        .send()
        .unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    // The browser may read the quota, request id and version headers.
    let exposed = allowed.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_owned();
    for name in [
        "ratelimit",
        "ratelimit-policy",
        "retry-after",
        "x-request-id",
        "x-api-version",
    ] {
        assert!(exposed.contains(name), "{name} not exposed: {exposed}");
    }
    let other = server
        .client
        .get(server.url("/v1/events"))
        .header("origin", "https://evil.example")
        .send()
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());

    // Unknown routes: 404 problem+json, still versioned.
    let missing = server.get("/nope");
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.headers()["x-api-version"], "1");

    // SIGTERM: drains and exits 0 after flushing telemetry.
    server.terminate();
    let (code, output) = server.wait();
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("requests drained"), "{output}");
    assert_no_secret("local output", &output);
}

#[test]
fn staging_with_postgres_verifies_migrations_logs_json_and_rate_limits() {
    let Some(admin) = postgres_url() else { return };
    let db = TempDatabase::postgres(&admin, "example_api");
    let mut setup = Setup::new(&[
        ("APP_ENV", "staging"),
        ("JWT_SECRET", SENTINEL_JWT),
        ("RATE_LIMIT_MAX", "3"),
        ("RATE_LIMIT_WINDOW_MS", "3600000"),
    ]);
    setup.set("DATABASE_URL", db.url.clone());

    // A fresh database: every migration is pending and startup refuses,
    // naming them.
    let mut refused = setup.spawn();
    assert_eq!(refused.wait_ready(), Err(Some(EXIT_PENDING)));
    let output = refused.output();
    assert!(output.contains("V1__create_events"), "{output}");
    drop(refused);

    // The release step applies them; then it starts.
    let up = setup.run(&["migrate", "up"]);
    assert_eq!(up.code(), Some(0), "{}", up.output());
    assert!(up.stdout.contains("V1__create_events"), "{}", up.output());
    let verify = setup.run(&["migrate", "verify"]);
    assert_eq!(verify.code(), Some(0), "{}", verify.output());

    let server = setup.spawn().ready();
    assert_eq!(server.get("/readyz").status(), 200);
    assert_eq!(server.get("/debug/config").status(), 200);

    // Rate limiting on, with IETF RateLimit fields; the 4th request is refused.
    for _ in 0..3 {
        let response = server.get("/v1/events");
        assert_eq!(response.status(), 200);
        assert!(response.headers().get("ratelimit").is_some());
        assert!(response.headers().get("ratelimit-policy").is_some());
    }
    let refused = server.get("/v1/events");
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().get("retry-after").is_some());
    assert_eq!(refused.headers()["x-api-version"], "1");
    // Health checks are not rate limited.
    assert_eq!(server.get("/readyz").status(), 200);

    // JSON logs at debug.
    let lines = json_lines(&server.stdout());
    assert!(
        !lines.is_empty(),
        "staging logs are JSON:\n{}",
        server.stdout()
    );
    let levels: Vec<String> = lines
        .iter()
        .filter_map(|l| l["level"].as_str().map(str::to_lowercase))
        .collect();
    assert!(
        levels.iter().any(|l| l == "debug"),
        "debug level in staging: {levels:?}"
    );
}

#[test]
fn production_refuses_an_unsafe_setup_listing_every_violation() {
    let password_url = format!("postgres://app:{SENTINEL_DB_PASSWORD}@127.0.0.1:5432/events");
    let setup = Setup::new(&[
        ("APP_ENV", "production"),
        ("JWT_SECRET", "changeme"),
        ("DATABASE_URL", &password_url),
        ("CORS_ORIGIN", "*"),
        ("ENABLE_DEBUG_ENDPOINTS", "true"),
    ]);
    let mut server = setup.spawn();
    assert_eq!(server.wait_ready(), Err(Some(EXIT_CONFIG)));
    let output = server.output();
    for expected in [
        "secret.",
        "jwt_secret",
        "database.loopback-host",
        "database.url",
        "cors.wildcard",
        "server.cors_origin",
        "server.debug-endpoints",
        "env ENABLE_DEBUG_ENDPOINTS",
    ] {
        assert!(
            output.contains(expected),
            "`{expected}` missing from:\n{output}"
        );
    }
    assert!(!output.contains("changeme"), "{output}");
    assert_no_secret("refusal", &output);

    // `config check` says the same, as the stable JSON document, exit 78.
    let check = setup.run(&["config", "check", "--format", "json"]);
    assert_eq!(check.code(), Some(EXIT_CONFIG), "{}", check.output());
    let report: Value = serde_json::from_str(&check.stdout).unwrap();
    let rules: Vec<&str> = report["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["rule"].as_str().unwrap())
        .collect();
    for rule in [
        "database.loopback-host",
        "cors.wildcard",
        "server.debug-endpoints",
    ] {
        assert!(rules.contains(&rule), "{rule} in {rules:?}");
    }
    assert!(rules.iter().any(|r| r.starts_with("secret.")), "{rules:?}");
    assert_no_secret("config check", &check.output());
}

#[test]
fn production_with_a_valid_setup_starts_strict_and_hides_debug_endpoints() {
    let Some(admin) = postgres_url() else { return };
    let db = TempDatabase::postgres(&admin, "example_api");
    let mut setup = Setup::new(&[
        ("APP_ENV", "production"),
        ("JWT_SECRET", SENTINEL_JWT),
        ("CORS_ORIGIN", "https://app.example.com"),
        // The test database is on loopback, without TLS; a real
        // deployment's is neither.
        // Waiving the rule by name is logged at startup.
        (
            "POLICY_ALLOW",
            "database.loopback-host,database.tls-optional",
        ),
        ("HOST", "127.0.0.1"),
        ("OTEL_SDK_DISABLED", "true"),
    ]);
    setup.set("DATABASE_URL", db.url_with_password(SENTINEL_DB_PASSWORD));
    setup
        .set("RATE_LIMIT_MAX", "2")
        .set("RATE_LIMIT_WINDOW_MS", "3600000");
    // Strict rate limiting, shared through Redis when it is there.
    if let Some(redis) = redis_url() {
        setup
            .set("RATE_LIMIT_BACKEND", "redis")
            .set("RATE_LIMIT_REDIS_URL", redis);
        setup.set("RATE_LIMIT_REDIS_PREFIX", unique("example-api-prod"));
        setup.set("RATE_LIMIT_REDIS_TIMEOUT_MS", "2000");
    }

    let check = setup.run(&["config", "check"]);
    assert_eq!(check.code(), Some(0), "{}", check.output());

    // Production `up` needs --yes (no prompt without a terminal).
    let unconfirmed = setup.run(&["migrate", "up"]);
    assert_ne!(unconfirmed.code(), Some(0), "{}", unconfirmed.output());
    let up = setup.run(&["migrate", "up", "--yes"]);
    assert_eq!(up.code(), Some(0), "{}", up.output());

    let server = setup.spawn().ready();
    assert_eq!(server.get("/readyz").status(), 200);
    assert_eq!(server.get("/debug/config").status(), 404);
    for _ in 0..2 {
        let response = server.get("/v1/events");
        assert_eq!(response.status(), 200);
        assert!(response.headers().get("ratelimit").is_some());
    }
    let refused = server.get("/v1/events");
    assert_eq!(refused.status(), 429);
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );

    let stdout = server.stdout();
    let lines = json_lines(&stdout);
    assert!(!lines.is_empty(), "production logs are JSON:\n{stdout}");
    assert!(
        lines.iter().all(|l| l["level"]
            .as_str()
            .is_some_and(|level| !level.eq_ignore_ascii_case("debug"))),
        "production logs at info:\n{stdout}"
    );
    assert!(
        stdout.contains("database.loopback-host"),
        "the waiver is logged:\n{stdout}"
    );
    assert_no_secret("production output", &server.output());
    assert_no_secret("production migrate", &up.output());
}

#[test]
fn local_with_mysql_applies_its_own_migrations() {
    let Some(admin) = mysql_url() else { return };
    let db = TempDatabase::mysql(&admin, "example_api");
    let mut setup = Setup::new(&[("JWT_SECRET", SENTINEL_JWT)]);
    setup.set("DATABASE_URL", db.url.clone());
    let server = setup.spawn().ready();
    assert_eq!(server.get("/readyz").status(), 200);
    let created = server
        .client
        .post(server.url("/v1/events"))
        .bearer_auth(token(SENTINEL_JWT, "bob"))
        .json(&json!({"type": "order.paid", "payload": {"total": 42}}))
        .send()
        .unwrap();
    assert_eq!(created.status(), 201);
    let listed: Value = server.get("/v1/events").json().unwrap();
    assert_eq!(listed["events"][0]["payload"]["total"], 42);
    let status = setup.run(&["migrate", "--format", "json", "status"]);
    assert_eq!(status.code(), Some(0), "{}", status.output());
    assert!(status.stdout.contains("\"mysql\""), "{}", status.stdout);
}

#[test]
fn migrate_lint_checks_each_backends_migrations_without_a_database() {
    // Staging without DATABASE_URL: lint with a dialect still runs (CI).
    let setup = Setup::new(&[("APP_ENV", "staging")]);
    for dialect in ["postgres", "mysql", "sqlite"] {
        let run = setup.run(&["migrate", "lint", "--dialect", dialect]);
        assert_eq!(run.code(), Some(0), "{dialect}: {}", run.output());
        assert!(
            run.stdout.contains(&format!("linted for {dialect}")),
            "{}",
            run.stdout
        );
    }
    // Any other migrate command needs the URL, and says which variable.
    let status = setup.run(&["migrate", "status"]);
    assert_eq!(status.code(), Some(EXIT_CONFIG), "{}", status.output());
    assert!(
        status.output().contains("set DATABASE_URL"),
        "{}",
        status.output()
    );
    // Serving without a database is a configuration error naming the key.
    let mut server = setup.spawn();
    assert_eq!(server.wait_ready(), Err(Some(EXIT_CONFIG)));
    assert!(
        server.output().contains("database.url"),
        "{}",
        server.output()
    );
}
