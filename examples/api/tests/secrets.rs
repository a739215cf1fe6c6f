//! A sentinel JWT secret and database password never reach stdout,
//! stderr, `config explain`, `config check`, `/debug/config` or error
//! output, in any environment.

mod support;

use support::*;

#[test]
fn local_explain_and_debug_config_redact_the_jwt_secret() {
    let setup = Setup::new(&[("JWT_SECRET", SENTINEL_JWT)]);
    for args in [
        &["config", "explain"][..],
        &["config", "explain", "--format", "json"],
        &["config", "check"],
        &["config", "check", "--format", "json"],
    ] {
        let run = setup.run(args);
        assert_eq!(run.code(), Some(0), "{args:?}: {}", run.output());
        if args[1] == "explain" {
            assert!(
                run.stdout.contains("jwt_secret"),
                "{args:?}: {}",
                run.stdout
            );
        }
        assert_no_secret(&format!("{args:?}"), &run.output());
    }
    let server = setup.spawn().ready();
    let debug = server.get("/debug/config").text().unwrap();
    assert!(debug.contains("[REDACTED]"), "{debug}");
    assert_no_secret("/debug/config", &debug);
    assert_no_secret("server output", &server.output());
}

#[test]
fn staging_never_prints_the_database_password_or_jwt_secret() {
    let Some(admin) = postgres_url() else { return };
    let db = TempDatabase::postgres(&admin, "example_api");
    let mut setup = Setup::new(&[("APP_ENV", "staging"), ("JWT_SECRET", SENTINEL_JWT)]);
    setup.set("DATABASE_URL", db.url_with_password(SENTINEL_DB_PASSWORD));

    // Refused startup (pending migrations) and the migrate commands.
    let mut refused = setup.spawn();
    assert!(refused.wait_ready().is_err());
    assert_no_secret("refused startup", &refused.output());
    drop(refused);
    for args in [
        &["migrate", "plan"][..],
        &["migrate", "up"],
        &["migrate", "--format", "json", "status"],
        &["migrate", "verify"],
        &["config", "explain"],
        &["config", "explain", "--format", "json"],
        &["config", "check", "--format", "json"],
    ] {
        let run = setup.run(args);
        assert_eq!(run.code(), Some(0), "{args:?}: {}", run.output());
        assert_no_secret(&format!("{args:?}"), &run.output());
    }

    let server = setup.spawn().ready();
    let debug = server.get("/debug/config").text().unwrap();
    assert!(debug.contains("database.url"), "{debug}");
    assert_no_secret("/debug/config", &debug);
    // A request that fails authentication is logged, the token is not.
    let _ = server
        .client
        .post(server.url("/v1/events"))
        .bearer_auth(SENTINEL_JWT)
        .body("{}")
        .send()
        .unwrap();
    assert_no_secret("staging server output", &server.output());

    // A wrong password: the connection error names the host, not the password.
    let mut wrong = Setup::new(&[("APP_ENV", "staging"), ("JWT_SECRET", SENTINEL_JWT)]);
    wrong.set(
        "DATABASE_URL",
        format!("postgres://nobody:{SENTINEL_DB_PASSWORD}@127.0.0.1:1/none"),
    );
    let mut failed = wrong.spawn();
    assert!(failed.wait_ready().is_err());
    assert_no_secret("connection failure", &failed.output());
}
