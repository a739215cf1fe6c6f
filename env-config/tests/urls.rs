//! One parse of a database, Redis or OTLP URL: backend, every host,
//! loopback, database name, TLS mode and redaction.

use appenv_config::{Host, ServiceUrl, Tls, UrlBackend, is_loopback_host};

fn parse(url: &str) -> ServiceUrl {
    ServiceUrl::parse(url).unwrap_or_else(|err| panic!("{url}: {err}"))
}

#[test]
fn schemes_name_the_backend() {
    for (url, backend) in [
        ("postgres://h/db", UrlBackend::Postgres),
        ("postgresql://h/db", UrlBackend::Postgres),
        ("POSTGRES://h/db", UrlBackend::Postgres),
        ("mysql://h/db", UrlBackend::MySql),
        ("mariadb://h/db", UrlBackend::MySql),
        ("sqlite://data/app.db", UrlBackend::Sqlite),
        ("sqlite::memory:", UrlBackend::Sqlite),
        ("redis://h:6379", UrlBackend::Redis),
        ("rediss://h:6380", UrlBackend::Redis),
        ("redis+unix:///run/redis.sock", UrlBackend::Redis),
        ("http://collector:4318", UrlBackend::Http),
        ("https://collector:4318/v1/traces", UrlBackend::Http),
        ("mongodb://h/db", UrlBackend::Other),
    ] {
        assert_eq!(parse(url).backend(), backend, "{url}");
    }
    assert_eq!(UrlBackend::from_scheme("MariaDB"), UrlBackend::MySql);
    assert_eq!(parse("mariadb://h/db").scheme(), "mariadb");
}

#[test]
fn every_host_is_read() {
    let url = parse("postgres://u:p@h1:5432,h2:5433,[::1]:5434/db");
    let hosts: Vec<String> = url.hosts().iter().map(|h| h.to_string()).collect();
    assert_eq!(hosts, ["h1:5432", "h2:5433", "[::1]:5434"]);
    assert_eq!(url.hosts()[1].port(), Some(5433));
    assert!(!url.is_local());
    assert!(url.hosts()[2].host().is_loopback());

    // libpq's host= (a list too) replaces the URL's hosts; hostaddr= adds
    // the addresses actually connected to.
    let url = parse("postgres://u@ignored/db?host=a.internal,/var/run/postgresql");
    assert_eq!(
        url.hosts()
            .iter()
            .map(|h| h.host().clone())
            .collect::<Vec<_>>(),
        [
            Host::Name("a.internal".into()),
            Host::Socket("/var/run/postgresql".into())
        ]
    );
    let url = parse("postgres://u@db.internal/db?hostaddr=10.0.0.5");
    assert_eq!(url.hosts().len(), 2);

    // Sockets.
    assert_eq!(
        parse("postgres://%2Fvar%2Frun%2Fpostgresql/db").hosts()[0].host(),
        &Host::Socket("/var/run/postgresql".into())
    );
    assert_eq!(
        parse("mysql://u@localhost/db?socket=/run/mysqld.sock").hosts()[0].host(),
        &Host::Socket("/run/mysqld.sock".into())
    );
    let none = parse("postgres:///db");
    assert_eq!(none.hosts()[0].host(), &Host::Default);
    assert!(none.is_local());
    assert!(parse("sqlite://data/app.db").hosts().is_empty());
}

#[test]
fn loopback_in_every_spelling() {
    for host in [
        "localhost",
        "LocalHost.",
        "api.localhost",
        "localhost.localdomain",
        "127.0.0.1",
        "127.1",
        "127.0.1",
        "127.9.8.7",
        "2130706433",
        "0x7f000001",
        "0X7F.0.0.1",
        "0177.0.0.01",
        "::1",
        "[::1]",
        "[0:0:0:0:0:0:0:1]",
        "::ffff:127.0.0.1",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "0.0.0.0",
        "[::]",
    ] {
        assert!(is_loopback_host(host), "{host}");
        let url = format!("postgres://u:p@{}/db", host.trim_end_matches('.'));
        if !host.starts_with(':') {
            assert!(parse(&url).is_local(), "{url}");
        }
    }
    for host in [
        "128.0.0.1",
        "10.0.0.1",
        "2130706431",
        "0x80000001",
        "[2001:db8::1]",
        "localhost.example.com",
        "mylocalhost",
        "db.internal",
        "127.0.0.1.nip.io",
    ] {
        assert!(!is_loopback_host(host), "{host}");
    }
}

#[test]
fn database_names_are_percent_decoded() {
    assert_eq!(
        parse("postgres://h/events%5Fprod").database(),
        Some("events_prod")
    );
    assert_eq!(parse("mysql://h/caf%C3%A9").database(), Some("café"));
    assert_eq!(parse("postgres://h/x?dbname=real").database(), Some("real"));
    assert_eq!(parse("postgres://h").database(), None);
    assert_eq!(parse("redis://h:6379/2").database(), Some("2"));
    assert_eq!(
        parse("sqlite://data/app.db").database(),
        Some("data/app.db")
    );
    assert_eq!(parse("http://collector:4318/v1/traces").database(), None);
}

#[test]
fn tls_modes() {
    for (url, tls) in [
        ("postgres://h/db", Tls::Optional),
        ("postgres://h/db?sslmode=disable", Tls::Off),
        ("postgres://h/db?sslmode=allow", Tls::Optional),
        ("postgres://h/db?sslmode=prefer", Tls::Optional),
        ("postgres://h/db?sslmode=require", Tls::Required),
        ("postgres://h/db?sslmode=verify-ca", Tls::Verified),
        ("postgres://h/db?ssl-mode=verify-full", Tls::Verified),
        ("postgres://h/db?SSLMODE=require", Tls::Optional),
        ("mysql://h/db", Tls::Optional),
        ("mysql://h/db?ssl-mode=DISABLED", Tls::Off),
        ("mysql://h/db?ssl-mode=preferred", Tls::Optional),
        ("mysql://h/db?sslmode=REQUIRED", Tls::Required),
        ("mysql://h/db?ssl-mode=VERIFY_IDENTITY", Tls::Verified),
        ("mysql://h/db?ssl=true", Tls::Optional),
        ("redis://h", Tls::Off),
        ("rediss://h", Tls::Verified),
        ("rediss://h/#insecure", Tls::Required),
        ("http://h:4317", Tls::Off),
        ("https://h:4317", Tls::Verified),
        ("sqlite://data/app.db", Tls::NotApplicable),
        ("mongodb://h/db", Tls::Unknown),
    ] {
        assert_eq!(parse(url).tls(), tls, "{url}");
    }
    let url = parse("mysql://h/db?ssl=true&ssl_mode=REQUIRED");
    assert_eq!(url.ignored_tls_params(), ["ssl", "ssl_mode"]);
    assert_eq!(
        parse("postgres://h/db?sslmode=prefer").tls_setting(),
        Some("sslmode=prefer")
    );
}

#[test]
fn malformed_urls_are_errors_that_never_show_the_password() {
    for url in [
        "",
        "not a url",
        "postgres//u:SENTINELPW@h/db",
        "postgres://u:SENTINELPW@h:99999/db",
        "postgres://u:SENTINEL#PW@h/db",
        "postgres://u:SENTINEL/PW@h/db",
        "postgres://u:SENTINELPW@[::1/db",
        "postgres://u:SENTINELPW@h1,,h2/db",
        "postgres://u:SENTINELPW@h/db?sslmode=SENTINELPW",
        "mysql://u:SENTINELPW@h/db?ssl-mode=sometimes",
        "http://u:SENTINELPW@/v1",
        "postgres://u:SENTINELPW@bad host/db",
    ] {
        let err = ServiceUrl::parse(url).expect_err(url);
        let text = format!("{err} {err:?}");
        assert!(!text.contains("SENTINEL"), "{url}: {text}");
        assert!(!text.is_empty());
    }
    let err = ServiceUrl::parse("postgres://u:pa#ss@h/db").unwrap_err();
    assert!(err.to_string().contains("%23"), "{err}");
}

#[test]
fn the_parsed_url_holds_no_password() {
    let url = parse("postgres://app:SENTINELPW@db/x?password=SENTINEL2&sslmode=require");
    let text = format!("{url:?} {url}");
    assert!(!text.contains("SENTINEL"), "{text}");
    assert_eq!(url.user(), Some("app"));
    assert!(url.has_password());
    assert_eq!(url.param("sslmode"), Some("require"));
    assert_eq!(url.param("password"), Some("[REDACTED]"));
    assert_eq!(
        url.redacted(),
        "postgres://app:[REDACTED]@db/x?password=[REDACTED]&sslmode=require"
    );
}

mod properties {
    use appenv_config::{ServiceUrl, redact_header_list, redact_url};
    use proptest::prelude::*;

    fn url_like() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            prop::sample::select(vec![
                "postgres://",
                "mysql://",
                "sqlite:",
                "redis://",
                "https://",
                "://",
                ":",
                "@",
                "/",
                "?",
                "#",
                "&",
                "=",
                ",",
                "[",
                "]",
                "[::1]",
                "%",
                "%2F",
                "%zz",
                " ",
                "\"",
                "127.1",
                "host=",
                "sslmode=",
                "ssl-mode=",
                "SENTINEL",
                "é",
                "\n",
            ])
            .prop_map(str::to_owned),
            "[a-z0-9]{1,4}",
        ];
        prop::collection::vec(piece, 0..16).prop_map(|p| p.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Nothing panics on arbitrary input, and a failed parse never
        /// shows any part of the input that may be a password.
        #[test]
        fn parsing_and_redaction_never_panic(text in url_like(), any in any::<String>()) {
            for input in [&text, &any] {
                let _ = redact_url(input);
                let _ = redact_header_list(input);
                match ServiceUrl::parse(input) {
                    Ok(url) => {
                        let _ = format!("{url} {url:?} {:?}", url.hosts());
                    }
                    Err(err) => {
                        prop_assert!(!err.to_string().contains("SENTINEL"), "{err}");
                    }
                }
            }
        }
    }
}
