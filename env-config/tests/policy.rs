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

fn rules(list: &[appenv_config::PolicyFinding]) -> Vec<&'static str> {
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

    let r = report(&with(&[("JWT_SECRET", "short-Zq3v9w0P1b2n")]));
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
        "postgres://app:pw@127.0.0.1:5432/events?sslmode=require",
    )]));
    assert_eq!(rules(&r.violations), ["database.loopback-host"], "{r}");
    let r = report(&with(&[(
        "DATABASE_URL",
        "postgres://app:pw@localhost/events?sslmode=require",
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
        "postgres://app:pw@staging-db.internal/events?sslmode=require",
    )]));
    assert_eq!(rules(&r.violations), ["database.other-environment"], "{r}");
    let r = report(&with(&[(
        "DATABASE_URL",
        "postgres://app:pw@db.internal/events_dev?sslmode=require",
    )]));
    assert_eq!(rules(&r.violations), ["database.other-environment"], "{r}");
    // A word that merely contains a marker is not a match.
    let r = report(&with(&[(
        "DATABASE_URL",
        "postgres://app:pw@db.internal/products?sslmode=require",
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
fn cors_origins_that_no_browser_sends_are_refused_in_every_environment() {
    for (entry, fix) in [
        (
            "https://app.example.com/",
            "write `https://app.example.com`",
        ),
        (
            "https://app.example.com/login",
            "write `https://app.example.com`",
        ),
        (
            "https://APP.example.com:443",
            "write `https://app.example.com`",
        ),
        ("app.example.com", "scheme://host[:port]"),
        ("mailto:ops@example.com", "scheme://host[:port]"),
        ("https://", "scheme://host[:port]"),
        ("https://*.example.com", "list each origin"),
        ("capacitor://localhost/", "write `capacitor://localhost`"),
    ] {
        for env in ["local", "staging", "production"] {
            let mut vars = if env == "production" {
                with(&[])
            } else {
                vec![("APP_ENV", env)]
            };
            vars.push(("CORS_ORIGIN", entry));
            let r = report(&vars);
            assert!(!r.is_ok(), "{env} {entry}: {r}");
            let found = r
                .violations
                .iter()
                .find(|v| v.rule == "cors.origin")
                .unwrap_or_else(|| panic!("{env} {entry}: {r}"));
            assert_eq!(found.key, "server.cors_origin");
            assert!(found.message.contains(entry), "{}", found.message);
            assert!(found.fix.contains(fix), "{entry}: {}", found.fix);
        }
    }
    // Origins as browsers send them pass: a non-default port, IPv6, app
    // and extension origins, and `null` (sandboxed iframes, `file://`).
    let r = report(&with(&[(
        "CORS_ORIGIN",
        "https://app.example.com, http://localhost:5173,https://[::1]:8443,\
         capacitor://localhost,chrome-extension://abcdefghijklmnop,null",
    )]));
    assert!(r.is_ok(), "{r}");
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
            (
                "DATABASE_URL",
                "postgres://app:pw@localhost/events?sslmode=require",
            ),
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
        (
            "DATABASE_URL",
            "postgres://a:b@db.internal/events?sslmode=verify-full",
        ),
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
        "postgres://app:pw@events.db.example.dev/events?sslmode=require",
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
        "postgres://app:pw@/events?host=localhost&sslmode=require",
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
    let r = report(&with(&[(
        "DATABASE_URL",
        "mysql://app:pw@db.internal/events?sslmode=disabled",
    )]));
    assert_eq!(rules(&r.violations), ["database.tls-disabled"], "{r}");
    // sqlx and libpq read parameter names case-sensitively: these do not
    // disable TLS, they leave it at the driver's downgradable default.
    for url in [
        "mysql://app:pw@db.internal/events?ssl_mode=DISABLED",
        "postgres://app:pw@db.internal/events?SSLMODE=Disable",
    ] {
        let r = report(&with(&[("DATABASE_URL", url)]));
        assert_eq!(
            rules(&r.violations),
            ["database.tls-optional"],
            "{url}: {r}"
        );
        assert!(r.violations[0].message.contains("not read"), "{r}");
    }
    for url in [
        "POSTGRES://app:pw@LOCALHOST/events?sslmode=require",
        "postgres://app:pw@[::ffff:127.0.0.1]/events?sslmode=require",
        "postgres://app:pw@0.0.0.0/events?sslmode=require",
        "mysql://app:pw@[::1]:3306/events?ssl-mode=REQUIRED",
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
        "MYSQL://app:pw@DB.INTERNAL/EVENTS?ssl-mode=VERIFY_IDENTITY",
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
fn database_rules_read_the_url_as_the_driver_does_when_the_password_is_unencoded() {
    // An unencoded `#` or `/` ends the authority for the driver too (sqlx
    // refuses these URLs): reported as not parsing, with how to fix it.
    for url in [
        "postgres://app:pa#ss@localhost/events",
        "postgres://app:pa/ss@127.0.0.1:5432/events",
    ] {
        let r = report(&with(&[("DATABASE_URL", url)]));
        assert_eq!(rules(&r.violations), ["database.url-invalid"], "{url}: {r}");
        assert!(r.violations[0].message.contains("percent-encode"), "{r}");
    }
    // An unencoded `@` is read up to the last `@`, as the driver does.
    let r = report(&with(&[(
        "DATABASE_URL",
        "postgres://app:p@ss@db.internal/events?sslmode=disable",
    )]));
    assert_eq!(rules(&r.violations), ["database.tls-disabled"], "{r}");
}

// --- Database URLs: never skipped, every host, TLS that cannot be downgraded.

fn db(env: &str, url: &str) -> PolicyReport {
    let mut vars: Vec<(&str, &str)> = if env == "production" {
        support::production_ok()
    } else {
        vec![("APP_ENV", env)]
    };
    vars.retain(|(k, _)| *k != "DATABASE_URL");
    vars.push(("DATABASE_URL", url));
    report(&vars)
}

#[test]
fn a_database_url_that_does_not_parse_is_a_violation_naming_key_and_source() {
    for (env, url) in [
        (
            "production",
            "postgres://app:pw@db.internal:54x2/events?sslmode=require",
        ),
        ("production", "postgres//app:pw@db.internal/events"),
        ("staging", "postgres://app:pa#ss@localhost/events"),
        (
            "local",
            "postgres://app:DBPASS-sentinel-4f8a2c6e/x@[::1/events",
        ),
        (
            "production",
            "postgres://app:pw@db.internal/events?sslmode=sometimes",
        ),
        ("local", "postgres://app:pw@h1:5432,,h2/events"),
    ] {
        let r = db(env, url);
        let found: Vec<_> = r
            .violations
            .iter()
            .filter(|f| f.rule == "database.url-invalid")
            .collect();
        assert_eq!(found.len(), 1, "{env} {url}: {r}");
        let v = found[0];
        assert_eq!(v.key, "database.url");
        assert_eq!(v.source, "env DATABASE_URL");
        let text = format!("{r}");
        for leak in ["pw@", "pa#ss", "ss@", support::DB_SENTINEL, "sentinel"] {
            assert!(!text.contains(leak), "{leak} in {text}");
        }
    }
}

#[test]
fn every_host_of_a_multi_host_url_is_checked() {
    let r = db(
        "production",
        "postgres://app:pw@db1.internal:5432,127.0.0.1:5433/events?sslmode=verify-full",
    );
    assert_eq!(rules(&r.violations), ["database.loopback-host"], "{r}");
    assert!(r.violations[0].message.contains("127.0.0.1"), "{r}");

    let r = db(
        "staging",
        "postgres://app:pw@db1.internal,db2.prod.internal/events",
    );
    assert_eq!(rules(&r.violations), ["database.other-environment"], "{r}");

    let r = db(
        "local",
        "postgres://app:pw@localhost:5432,db.example.com:5432/events",
    );
    assert_eq!(
        rules(&r.violations),
        ["database.remote-host-in-local"],
        "{r}"
    );

    // libpq's `host=` list and `hostaddr=` are hosts too.
    let r = db(
        "production",
        "postgres://app:pw@/events?host=db1.internal,localhost&sslmode=require",
    );
    assert_eq!(rules(&r.violations), ["database.loopback-host"], "{r}");
    let r = db(
        "production",
        "postgres://app:pw@db.internal/events?hostaddr=127.0.0.1&sslmode=require",
    );
    assert_eq!(rules(&r.violations), ["database.loopback-host"], "{r}");
    let r = db(
        "production",
        "postgres://app:pw@db1.internal:5432,db2.internal:5433/events?sslmode=require",
    );
    assert!(r.is_ok(), "{r}");
}

#[test]
fn loopback_in_every_spelling_is_loopback() {
    for host in [
        "127.0.0.1",
        "127.1",
        "127.0.1",
        "127.255.255.254",
        "2130706433",
        "0x7f000001",
        "0x7f.1",
        "0177.0.0.1",
        "[::1]",
        "[0:0:0:0:0:0:0:1]",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "localhost",
        "LOCALHOST",
        "localhost.",
        "db.localhost",
        "localhost.localdomain",
        "0.0.0.0",
    ] {
        let url = format!("postgres://app:pw@{host}:5432/events?sslmode=require");
        let r = db("production", &url);
        assert_eq!(
            rules(&r.violations),
            ["database.loopback-host"],
            "{host}: {r}"
        );
        // The same host is not "remote" in local.
        assert!(db("local", &url).is_ok(), "{host}");
    }
    for host in [
        "128.0.0.1",
        "10.0.0.1",
        "[2001:db8::1]",
        "localhost.example.com",
        "db.internal",
    ] {
        let url = format!("postgres://app:pw@{host}:5432/events?sslmode=require");
        let r = db("production", &url);
        assert!(r.is_ok(), "{host}: {r}");
    }
}

#[test]
fn tls_in_production_cannot_be_silently_downgraded() {
    for (url, rule) in [
        (
            "postgres://app:pw@db.internal/events",
            "database.tls-optional",
        ),
        (
            "postgres://app:pw@db.internal/events?sslmode=allow",
            "database.tls-optional",
        ),
        (
            "postgres://app:pw@db.internal/events?sslmode=prefer",
            "database.tls-optional",
        ),
        (
            "postgres://app:pw@db.internal/events?sslmode=disable",
            "database.tls-disabled",
        ),
        (
            "postgresql://app:pw@db.internal/events?ssl-mode=disable",
            "database.tls-disabled",
        ),
        // Parameter names are case-sensitive in sqlx and libpq: not read.
        (
            "postgres://app:pw@db.internal/events?SSLMODE=require",
            "database.tls-optional",
        ),
        ("mysql://app:pw@db.internal/events", "database.tls-optional"),
        (
            "mysql://app:pw@db.internal/events?ssl-mode=PREFERRED",
            "database.tls-optional",
        ),
        (
            "mariadb://app:pw@db.internal/events?ssl-mode=preferred",
            "database.tls-optional",
        ),
        (
            "mysql://app:pw@db.internal/events?ssl-mode=DISABLED",
            "database.tls-disabled",
        ),
        (
            "mysql://app:pw@db.internal/events?sslmode=disabled",
            "database.tls-disabled",
        ),
        // Spellings sqlx does not read leave TLS at PREFERRED.
        (
            "mysql://app:pw@db.internal/events?ssl=true",
            "database.tls-optional",
        ),
        (
            "mysql://app:pw@db.internal/events?ssl_mode=REQUIRED",
            "database.tls-optional",
        ),
        (
            "mysql://app:pw@db.internal/events?useSSL=true",
            "database.tls-optional",
        ),
    ] {
        let r = db("production", url);
        assert_eq!(rules(&r.violations), [rule], "{url}: {r}");
        assert!(!format!("{r}").contains("pw@"), "{r}");
    }
    let r = db("production", "mysql://app:pw@db.internal/events?ssl=true");
    assert!(r.violations[0].message.contains("`ssl`"), "{r}");

    for url in [
        "postgres://app:pw@db.internal/events?sslmode=require",
        "postgres://app:pw@db.internal/events?sslmode=verify-ca",
        "postgres://app:pw@db.internal/events?sslmode=verify-full",
        "postgres://app:pw@db.internal/events?ssl-mode=verify-full",
        "mysql://app:pw@db.internal/events?ssl-mode=REQUIRED",
        "mysql://app:pw@db.internal/events?ssl-mode=VERIFY_CA",
        "mariadb://app:pw@db.internal/events?ssl-mode=verify_identity",
        "mysql://app:pw@db.internal/events?sslmode=required",
    ] {
        let r = db("production", url);
        assert!(r.is_ok(), "{url}: {r}");
    }
    // Outside production TLS is not checked.
    assert!(db("staging", "postgres://app:pw@db.internal/events").is_ok());
}

#[test]
fn sqlite_in_production_is_a_waivable_violation() {
    let r = db("production", "sqlite://data/events.db");
    assert_eq!(
        rules(&r.violations),
        ["database.sqlite-in-production"],
        "{r}"
    );
    assert!(
        r.violations[0]
            .fix
            .contains("database.sqlite-in-production")
    );
    let r = report(&with(&[
        ("DATABASE_URL", "sqlite:///var/lib/events.db"),
        ("POLICY_ALLOW", "database.sqlite-in-production"),
    ]));
    assert!(r.is_ok(), "{r}");
    assert_eq!(rules(&r.waived), ["database.sqlite-in-production"]);
    assert!(db("staging", "sqlite::memory:").is_ok());
    assert!(db("local", "sqlite://data/events.db").is_ok());
}

/// Database URLs (host and database) that name another environment than
/// the one they are used in.
const NAMES_ANOTHER_ENV: &[(&str, &str)] = &[
    ("staging", "postgres://app:pw@db.internal/eventsprod"),
    ("staging", "postgres://app:pw@db.internal/prod_events"),
    ("production", "postgres://app:pw@db.internal/events-stg"),
    ("production", "postgres://app:pw@db.internal/eventsStaging"),
    ("staging", "postgres://app:pw@db.internal/events_production"),
    ("production", "postgres://app:pw@db.internal/events%5Fdev"),
    ("production", "postgres://app:pw@db.internal/%65vents_dev"),
    ("staging", "postgres://app:pw@db.internal/events-prd"),
    ("production", "postgres://app:pw@db.internal/events01dev"),
    (
        "production",
        "postgres://app:pw@db.internal/myapp_development",
    ),
    // A whole word `development` names local even before another word.
    (
        "production",
        "postgres://app:pw@db.internal/development_tools",
    ),
    // Kubernetes service.namespace forms.
    ("production", "postgres://app:pw@postgres.staging/events"),
    (
        "production",
        "postgres://app:pw@postgres.staging.svc/events",
    ),
    (
        "production",
        "postgres://app:pw@postgres.dev.svc.cluster.local/events",
    ),
    (
        "staging",
        "postgres://app:pw@postgres.prod.svc.cluster.local:5432/events",
    ),
    ("local", "postgres://app:pw@postgres.production/events"),
    ("production", "postgres://app:pw@pg-staging.internal/events"),
    // libpq's `dbname` parameter names the database.
    (
        "production",
        "postgres://app:pw@db.internal/x?dbname=events_dev",
    ),
];

/// Names that contain a marker's letters but name no environment.
const CLEAN_NAMES: &[&str] = &[
    "product",
    "products_db",
    "reproduction",
    "devices",
    "stagecoach",
    "prodigy",
    "backstage",
    "developer_portal",
    "localization",
    "events",
    "upstage",
    "produce_orders",
];

#[test]
fn cross_environment_guard_true_positives() {
    for (env, url) in NAMES_ANOTHER_ENV {
        let r = db(env, url);
        assert!(
            rules(&r.violations).contains(&"database.other-environment"),
            "{env} {url}: {r}"
        );
    }
}

#[test]
fn cross_environment_guard_false_positive_corpus() {
    for name in CLEAN_NAMES {
        for env in ["local", "staging", "production"] {
            let host = if env == "local" {
                "localhost"
            } else {
                "db.internal"
            };
            let url = format!("postgres://app:pw@{host}/{name}?sslmode=require");
            let r = db(env, &url);
            assert!(r.is_ok(), "{env} {name}: {r}");
        }
        let url = format!("postgres://app:pw@{name}.internal/events?sslmode=require");
        let r = db("production", &url);
        assert!(r.is_ok(), "host {name}: {r}");
    }
}

// --- Secrets: weak values, placeholders without a file at runtime.

#[test]
fn weak_secrets_are_refused_in_production_without_printing_them() {
    let weak: Vec<(String, &str)> = vec![
        ("a".repeat(40), "single character"),
        ("ab".repeat(20), "repeated pattern"),
        ("Zq3v9w0P".repeat(5), "repeated pattern"),
        ("1234567890".repeat(4), "digits"),
        ("01234567890123456789012345678901234567".into(), "digits"),
        (
            "abababababcdcdcdcdcdababababcdcdcdcdcdab".into(),
            "distinct characters",
        ),
        (
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKL".into(),
            "consecutive",
        ),
    ];
    for (value, what) in weak {
        let vars = [
            ("APP_ENV", "production"),
            ("JWT_SECRET", value.as_str()),
            (
                "DATABASE_URL",
                "postgres://app:pw@db.internal:5432/events?sslmode=require",
            ),
        ];
        let r = report(&vars);
        assert_eq!(rules(&r.violations), ["secret.weak"], "{value}: {r}");
        let v = &r.violations[0];
        assert!(v.message.contains(what), "{what}: {}", v.message);
        assert_eq!(v.source, "env JWT_SECRET");
        let text = format!("{r}{}", r.to_json());
        assert!(!text.contains(&value), "{text}");
        assert!(!text.contains(&value[..8]), "{text}");
        // A warning outside production.
        let r = report(&[("APP_ENV", "staging"), ("JWT_SECRET", value.as_str())]);
        assert!(
            r.is_ok() && rules(&r.warnings).contains(&"secret.weak"),
            "{r}"
        );
    }
    // Random-looking secrets of every common shape pass.
    for strong in [
        STRONG,
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b",
        "dGhpcyBpcyBub3QgYSByZWFsIHNlY3JldCBidXQgaXQgaXMgbG9uZw==",
        "Vq3-x9_LmQ7ZpRt6Yv1Bn5Hc0Df3Gs9Ua2We8Kj",
    ] {
        let r = report(&with(&[("JWT_SECRET", strong)]));
        assert!(r.is_ok(), "{strong}: {r}");
    }
}

#[test]
fn built_in_placeholders_need_no_file() {
    for value in [
        "replace-me-with-32-or-more-random-bytes",
        "your-secret-here-0123456789abcdefghij",
        "django-insecure-2x9#k3l!m4n5o6p7q8r9s0t1u2",
        "PLACEHOLDER_Zq3v9w0P1b2n4m5k6j7h8g9f0d1s",
        "change_me_Zq3v9w0P1b2n4m5k6j7h8g9f0d1s2a",
    ] {
        let r = report(&with(&[("JWT_SECRET", value)]));
        assert_eq!(rules(&r.violations), ["secret.placeholder"], "{value}: {r}");
    }
}

#[test]
fn the_services_env_example_is_compiled_in() {
    // `placeholders!` reads the file at build time, relative to the crate
    // that calls it: a container without the file still knows its values.
    let placeholders = appenv_config::placeholders!("tests/fixtures/env.example");
    assert!(placeholders.contains("compiled-in-example-value-Zq3v9w0P1b2n4m5k6"));
    assert!(!placeholders.contains(""));
    let s = Scratch::new();
    assert!(!s.path().join(".env.example").exists());
    let loaded = s
        .loader(with(&[(
            "JWT_SECRET",
            "compiled-in-example-value-Zq3v9w0P1b2n4m5k6",
        )]))
        .placeholders(placeholders)
        .load::<support::Config>()
        .unwrap();
    let r = loaded.policy();
    assert_eq!(rules(&r.violations), ["secret.placeholder"], "{r}");
    assert!(!format!("{r}").contains("compiled-in"), "{r}");
}
