//! Every built-in policy rule fires on what it guards and stays quiet
//! otherwise; all violations are reported at once; waivers work by id.

mod support;

use appenv_config::{Error, PolicyReport};
use support::{STRONG, Scratch};

fn report(vars: &[(&str, &str)]) -> PolicyReport {
    Scratch::new()
        .load(vars.iter().copied())
        .unwrap()
        .policy()
        .clone()
}

fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut vars = support::production_ok();
    vars.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
    vars.extend_from_slice(extra);
    vars
}

fn rules(list: &[appenv_config::Finding]) -> Vec<&'static str> {
    list.iter().map(|f| f.rule).collect()
}

#[test]
fn a_good_production_setup_passes() {
    let r = report(&support::production_ok());
    assert!(r.is_ok(), "{r}");
    assert!(r.violations.is_empty() && r.waived.is_empty(), "{r}");
}

#[test]
fn secret_rules() {
    let mut vars = support::production_ok();
    vars.retain(|(k, _)| *k != "JWT_SECRET");
    let r = report(&vars);
    assert_eq!(rules(&r.violations), ["secret.missing"], "{r}");
    let v = &r.violations[0];
    assert_eq!(v.key, "jwt_secret");
    assert_eq!(v.source, "default");
    assert!(v.fix.contains("JWT_SECRET"), "{}", v.fix);

    let r = report(&with(&[("JWT_SECRET", "short-but-not-a-placeholder")]));
    assert_eq!(rules(&r.violations), ["secret.too-short"], "{r}");
    assert_eq!(r.violations[0].source, "env JWT_SECRET");

    for placeholder in ["changeme", "secret", "development_password"] {
        let r = report(&with(&[("JWT_SECRET", placeholder)]));
        assert_eq!(
            rules(&r.violations),
            ["secret.placeholder"],
            "{placeholder}: {r}"
        );
    }

    // Values from `.env.example` count as placeholders.
    let s = Scratch::new();
    s.write(
        ".env.example",
        "JWT_SECRET=copy-me-from-the-example-file-0123456789\n",
    );
    let r = s
        .load(with(&[(
            "JWT_SECRET",
            "copy-me-from-the-example-file-0123456789",
        )]))
        .unwrap()
        .policy()
        .clone();
    assert_eq!(rules(&r.violations), ["secret.placeholder"], "{r}");

    // Outside production the same findings are warnings.
    let r = report(&[("APP_ENV", "staging")]);
    assert!(r.is_ok());
    assert!(rules(&r.warnings).contains(&"secret.missing"), "{r}");
}

#[test]
fn database_rules_in_production() {
    let r = report(&with(&[(
        "DATABASE_URL",
        "postgres://app:pw@127.0.0.1:5432/events",
    )]));
    assert_eq!(rules(&r.violations), ["database.loopback-host"], "{r}");
    let r = report(&with(&[(
        "DATABASE_URL",
        "postgres://app:pw@localhost/events",
    )]));
    assert_eq!(rules(&r.violations), ["database.loopback-host"], "{r}");

    let r = report(&with(&[(
        "DATABASE_URL",
        "postgres://app:pw@db.internal/events?sslmode=disable",
    )]));
    assert_eq!(rules(&r.violations), ["database.tls-disabled"], "{r}");
    let r = report(&with(&[(
        "DATABASE_URL",
        "mysql://app:pw@db.internal/events?ssl-mode=DISABLED",
    )]));
    assert_eq!(rules(&r.violations), ["database.tls-disabled"], "{r}");

    let r = report(&with(&[(
        "DATABASE_URL",
        "postgres://app:pw@staging-db.internal/events",
    )]));
    assert_eq!(rules(&r.violations), ["database.other-environment"], "{r}");
    let r = report(&with(&[(
        "DATABASE_URL",
        "postgres://app:pw@db.internal/events_dev",
    )]));
    assert_eq!(rules(&r.violations), ["database.other-environment"], "{r}");
    // A word that merely contains a marker is not a match.
    let r = report(&with(&[(
        "DATABASE_URL",
        "postgres://app:pw@db.internal/products",
    )]));
    assert!(r.is_ok(), "{r}");
}

#[test]
fn cross_environment_guard_refuses_in_every_environment() {
    let r = report(&[("DATABASE_URL", "postgres://u:p@prod-db:5432/app")]);
    assert_eq!(rules(&r.violations), ["database.other-environment"], "{r}");
    assert_eq!(r.violations[0].source, "env DATABASE_URL");

    let r = report(&[
        ("APP_ENV", "staging"),
        ("DATABASE_URL", "postgres://u:p@db/app_production"),
    ]);
    assert_eq!(rules(&r.violations), ["database.other-environment"], "{r}");

    let r = report(&[
        ("APP_ENV", "staging"),
        ("DATABASE_URL", "postgres://u:p@db/app_staging"),
    ]);
    assert!(r.is_ok(), "{r}");
}

#[test]
fn local_refuses_remote_hosts_but_not_service_names() {
    let r = report(&[("DATABASE_URL", "postgres://u:p@db.example.com/app")]);
    assert_eq!(
        rules(&r.violations),
        ["database.remote-host-in-local"],
        "{r}"
    );
    for ok in [
        "postgres://postgres@127.0.0.1:5432/test",
        "postgres://u:p@postgres:5432/app",
        "mysql://root@localhost/test",
        "sqlite://data/app.db",
    ] {
        let r = report(&[("DATABASE_URL", ok)]);
        assert!(r.is_ok(), "{ok}: {r}");
    }
    let r = report(&[
        ("DATABASE_URL", "postgres://u:p@db.example.com/app"),
        ("POLICY_ALLOW", "database.remote-host-in-local"),
    ]);
    assert!(r.is_ok(), "{r}");
    assert_eq!(rules(&r.waived), ["database.remote-host-in-local"]);
}

#[test]
fn server_rules() {
    let r = report(&with(&[("CORS_ORIGIN", "https://a.app,*")]));
    assert_eq!(rules(&r.violations), ["cors.wildcard"], "{r}");
    assert_eq!(r.violations[0].key, "server.cors_origin");

    let r = report(&with(&[("ENABLE_DEBUG_ENDPOINTS", "true")]));
    assert_eq!(rules(&r.violations), ["server.debug-endpoints"], "{r}");

    // Debug endpoints cannot be turned on in production, not even by waiver.
    let r = report(&with(&[
        ("ENABLE_DEBUG_ENDPOINTS", "true"),
        ("POLICY_ALLOW", "server.debug-endpoints"),
    ]));
    assert_eq!(rules(&r.violations), ["server.debug-endpoints"], "{r}");

    let r = report(&[("APP_ENV", "staging"), ("CORS_ORIGIN", "*")]);
    assert!(r.is_ok());
    assert!(rules(&r.warnings).contains(&"cors.wildcard"));
}

#[test]
fn service_rules_run_and_can_be_waived_from_a_file() {
    let r = report(&with(&[("DISABLE_RATE_LIMITING", "true")]));
    assert_eq!(rules(&r.violations), ["rate-limit.disabled"], "{r}");
    assert_eq!(r.violations[0].source, "env DISABLE_RATE_LIMITING");

    let s = Scratch::new();
    s.write(
        "config/production.toml",
        "[policy]\nallow = [\"rate-limit.disabled\"]\n",
    );
    let loaded = s.load(with(&[("DISABLE_RATE_LIMITING", "true")])).unwrap();
    assert!(loaded.policy().is_ok(), "{}", loaded.policy());
    assert_eq!(rules(&loaded.policy().waived), ["rate-limit.disabled"]);
    let allow = loaded.explain().get("policy.allow").unwrap();
    assert_eq!(allow.value, serde_json::json!(["rate-limit.disabled"]));
    assert!(
        allow.source.to_string().ends_with("production.toml:2"),
        "{}",
        allow.source
    );
}

#[test]
fn unknown_waiver_is_warned_about() {
    let loaded = Scratch::new()
        .load([("POLICY_ALLOW", "no.such-rule")])
        .unwrap();
    assert!(
        loaded
            .warnings()
            .iter()
            .any(|w| w.message.contains("no.such-rule")),
        "{:?}",
        loaded.warnings()
    );
}

#[test]
fn all_violations_are_reported_at_once_and_enforce_refuses() {
    let s = Scratch::new();
    let loaded = s
        .load([
            ("APP_ENV", "production"),
            ("JWT_SECRET", "changeme"),
            ("DATABASE_URL", "postgres://app:pw@localhost/events"),
            ("CORS_ORIGIN", "*"),
            ("ENABLE_DEBUG_ENDPOINTS", "1"),
            ("DISABLE_RATE_LIMITING", "yes"),
        ])
        .unwrap();
    let mut got = rules(&loaded.policy().violations);
    got.sort_unstable();
    assert_eq!(
        got,
        [
            "cors.wildcard",
            "database.loopback-host",
            "rate-limit.disabled",
            "secret.placeholder",
            "server.debug-endpoints",
        ]
    );
    let json = loaded.policy().to_json();
    assert_eq!(json["env"], "production");
    let first = &json["violations"][0];
    for field in ["rule", "key", "source", "message", "fix"] {
        assert!(first[field].is_string(), "{field} missing in {first}");
    }
    let err = loaded.enforce().unwrap_err();
    assert!(matches!(err, Error::Policy(_)));
    assert_eq!(err.exit_code(), 78);
    let text = err.to_string();
    assert!(text.contains("5 policy violation(s)"), "{text}");
    assert!(!text.contains("changeme"), "{text}");

    let ok = s.load([
        ("APP_ENV", "production"),
        ("JWT_SECRET", STRONG),
        ("DATABASE_URL", "postgres://a:b@db.internal/events"),
    ]);
    assert!(ok.unwrap().enforce().is_ok());
}

#[test]
fn kubernetes_and_dev_tld_hosts_do_not_name_another_environment() {
    let cluster = "postgres://app:pw@postgres.default.svc.cluster.local:5432/events";
    let r = report(&[("APP_ENV", "staging"), ("DATABASE_URL", cluster)]);
    assert!(
        !rules(&r.violations).contains(&"database.other-environment"),
        "{r}"
    );
    let r = report(&with(&[(
        "DATABASE_URL",
        "postgres://app:pw@postgres.default.svc.cluster.local:5432/events?sslmode=require",
    )]));
    assert!(r.is_ok(), "{r}");
    let r = report(&with(&[(
        "DATABASE_URL",
        "postgres://app:pw@events.db.example.dev/events",
    )]));
    assert!(r.is_ok(), "{r}");
    // A namespace that names another environment still does.
    let r = report(&[
        ("APP_ENV", "staging"),
        (
            "DATABASE_URL",
            "postgres://app:pw@postgres.prod.svc.cluster.local/events",
        ),
    ]);
    assert_eq!(rules(&r.violations), ["database.other-environment"], "{r}");
}

#[test]
fn database_rules_read_socket_and_host_parameters() {
    // libpq's `host` parameter is the host: checked like one.
    let r = report(&[
        ("APP_ENV", "staging"),
        (
            "DATABASE_URL",
            "postgres://app:pw@/events?host=prod-db.internal",
        ),
    ]);
    assert_eq!(rules(&r.violations), ["database.other-environment"], "{r}");
    let r = report(&[(
        "DATABASE_URL",
        "postgres://app:pw@/events?host=db.example.com",
    )]);
    assert_eq!(
        rules(&r.violations),
        ["database.remote-host-in-local"],
        "{r}"
    );
    let r = report(&with(&[(
        "DATABASE_URL",
        "postgres://app:pw@/events?host=localhost",
    )]));
    assert_eq!(rules(&r.violations), ["database.loopback-host"], "{r}");

    // A Unix socket is fine in local, and named as a socket in production.
    let socket = "postgres:///events?host=/var/run/postgresql";
    assert!(report(&[("DATABASE_URL", socket)]).is_ok());
    let r = report(&with(&[("DATABASE_URL", socket)]));
    assert_eq!(rules(&r.violations), ["database.loopback-host"], "{r}");
    let v = &r.violations[0];
    assert!(v.message.contains("/var/run/postgresql"), "{}", v.message);
    assert!(!v.message.contains("``"), "{}", v.message);
}

#[test]
fn database_rules_cover_driver_spellings_and_address_forms() {
    for url in [
        "mysql://app:pw@db.internal/events?sslmode=disabled",
        "mysql://app:pw@db.internal/events?ssl_mode=DISABLED",
        "postgres://app:pw@db.internal/events?SSLMODE=Disable",
    ] {
        let r = report(&with(&[("DATABASE_URL", url)]));
        assert_eq!(
            rules(&r.violations),
            ["database.tls-disabled"],
            "{url}: {r}"
        );
    }
    for url in [
        "POSTGRES://app:pw@LOCALHOST/events",
        "postgres://app:pw@[::ffff:127.0.0.1]/events",
        "postgres://app:pw@0.0.0.0/events",
        "mysql://app:pw@[::1]:3306/events",
    ] {
        let r = report(&with(&[("DATABASE_URL", url)]));
        assert_eq!(
            rules(&r.violations),
            ["database.loopback-host"],
            "{url}: {r}"
        );
    }
    for url in [
        "postgresql://app:pw@[2001:db8::1]:5432/events?sslmode=verify-full",
        "MYSQL://app:pw@DB.INTERNAL/EVENTS",
    ] {
        let r = report(&with(&[("DATABASE_URL", url)]));
        assert!(r.is_ok(), "{url}: {r}");
    }
    // An IPv6 host is not a single-label service name in local.
    let r = report(&[("DATABASE_URL", "postgres://app:pw@[2001:db8::1]/events")]);
    assert_eq!(
        rules(&r.violations),
        ["database.remote-host-in-local"],
        "{r}"
    );
}

#[test]
fn database_rules_apply_when_the_password_keeps_the_url_from_parsing() {
    for url in [
        "postgres://app:pa#ss@localhost/events",
        "postgres://app:pa/ss@127.0.0.1:5432/events",
    ] {
        let r = report(&with(&[("DATABASE_URL", url)]));
        assert_eq!(
            rules(&r.violations),
            ["database.loopback-host"],
            "{url}: {r}"
        );
    }
    let r = report(&with(&[(
        "DATABASE_URL",
        "postgres://app:p@ss@db.internal/events?sslmode=disable",
    )]));
    assert_eq!(rules(&r.violations), ["database.tls-disabled"], "{r}");
}
