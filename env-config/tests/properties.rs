//! Property test: arbitrary variable maps and TOML text never make the
//! loader panic, and never make it print a sentinel secret.

mod support;

use proptest::prelude::*;
use support::{DB_SENTINEL, SENTINEL, Scratch};

/// Names the loader knows, near misses, nesting and `_FILE` forms, plus
/// random upper-case names.
fn var_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "APP_ENV",
            "PORT",
            "HOST",
            "NAME",
            "TAGS",
            "CORS_ORIGIN",
            "ENABLE_DEBUG_ENDPOINTS",
            "DISABLE_RATE_LIMITING",
            "RATE_LIMIT_WINDOW_MS",
            "RATE_LIMIT_MAX",
            "POLICY_ALLOW",
            "DATABASE__MAX_CONNECTIONS",
            "DATABASE__URL__X",
            "JWT_SECRET__INNER",
            "SERVER__PORT",
            "RATE_LIMIT__ENABLED",
            "DATABSE_URL",
            "JWT_SECRTE",
            "PORT_FILE",
            "NAME_FILE",
            "SERVER",
            "DATABASE",
            "POLICY__ALLOW",
            "SERVER__",
            "__",
            "_FILE",
            "SERVER____PORT",
            "server__port",
            "port",
            "JWT_SECRET_FILE",
            "DATABASE_URL_FILE",
            "DATABASE__URL",
            "APP_PORT",
            "APP_JWT_SECRET",
            "SERVER_PORT",
            "RATE_LIMIT_ENABLED",
            "DATABASE__MAX_CONECTIONS",
            "APP_CONFIG_DIR",
        ])
        .prop_map(str::to_owned),
        "[A-Z][A-Z_]{0,20}",
    ]
}

fn var_value() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "",
            "0",
            "1",
            "true",
            "off",
            "65536",
            "-1",
            "production",
            "prod",
            "qa",
            "*",
            "a,b,,c",
            "127.0.0.1",
            "::1",
            "not an ip",
            "/nonexistent/file",
        ])
        .prop_map(str::to_owned),
        any::<String>(),
    ]
}

fn toml_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::collection::vec(
            prop::sample::select(vec![
                "[server]",
                "port = 4000",
                "port = \"x\"",
                "host = \"0.0.0.0\"",
                "host = 5",
                "[database]",
                "max_connections = 3",
                "url = [1]",
                "[policy]",
                "allow = [\"cors.wildcard\"]",
                "allow = 3",
                "jwt_secret = 1",
                "[jwt_secret]",
                "name = { a = 1 }",
                "tags = \"x\"",
                "tags = [1, \"a\"]",
                "[[tags]]",
                "x = ",
                "debug_endpoints = \"yes\"",
                "[rate_limit]",
                "enabled = \"sometimes\"",
            ]),
            0..8,
        )
        .prop_map(|lines| lines.join("\n")),
    ]
}

/// `.env` text: arbitrary, or lines that set secrets, `APP_ENV` and
/// malformed values.
fn dotenv_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::collection::vec(
            prop::sample::select(vec![
                "PORT=4000",
                "SERVER_PORT=4001",
                "APP_ENV=production",
                "JWT_SECRET=from-dotenv",
                "export HOST=0.0.0.0",
                "TAGS=a,b",
                "BROKEN='unterminated",
                "",
                "# comment",
                "=novalue",
                "DATABASE__MAX_CONNECTIONS=x",
            ]),
            0..6,
        )
        .prop_map(|lines| lines.join("\n")),
    ]
}

/// Database URLs that carry the sentinel password in every place a driver
/// accepts one, including forms the URL parser rejects.
fn database_url() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "postgres://app:{P}@db.internal/events",
        "postgres://app@db.internal/events?password={P}&sslmode=require",
        "postgres://app:{P}@/events?host=/var/run/postgresql",
        "mysql://app:p#{P}@db.internal/events",
        "mysql://app:p/{P}@localhost:3306/events?ssl-mode=DISABLED",
        "POSTGRES://app:{P}@[::1]/events_prod",
        "postgresql://app:{P}@prod-db.svc.cluster.local:bad/x",
    ])
    .prop_map(|form| form.replace("{P}", DB_SENTINEL))
}

fn assert_clean(text: &str) -> Result<(), TestCaseError> {
    prop_assert!(!text.contains(SENTINEL), "secret leaked: {}", text);
    prop_assert!(!text.contains(DB_SENTINEL), "DB password leaked: {}", text);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn loader_never_panics_or_leaks(
        vars in prop::collection::vec((var_name(), var_value()), 0..12),
        default_toml in toml_text(),
        env_toml in toml_text(),
        env in prop::sample::select(vec!["local", "staging", "production"]),
        dotenv in dotenv_text(),
        db_url in database_url(),
        prefix in prop::option::of(Just("APP_")),
        url_in_wrong_key in any::<bool>(),
    ) {
        let s = Scratch::new();
        s.write("config/default.toml", &default_toml);
        s.write(&format!("config/{env}.toml"), &env_toml);
        s.write(".env", &dotenv);
        let secret_file = s.write("jwt", &format!("{SENTINEL}\n"));
        let mut map: Vec<(String, String)> = vars
            .into_iter()
            .filter(|(k, _)| k != "JWT_SECRET" && k != "DATABASE_URL" && k != "APP_CONFIG_DIR")
            .collect();
        if !map.iter().any(|(k, _)| k == "APP_ENV") {
            map.push(("APP_ENV".into(), env.into()));
        }
        let p = prefix.unwrap_or_default();
        if map.iter().any(|(k, _)| k == "JWT_SECRET_FILE") {
            map.retain(|(k, _)| k != "JWT_SECRET_FILE");
            map.push((format!("{p}JWT_SECRET_FILE"), secret_file.to_str().unwrap().into()));
        }
        map.push((format!("{p}JWT_SECRET"), SENTINEL.into()));
        map.push((format!("{p}DATABASE_URL"), db_url.clone()));
        // The sentinel also lands in a key of the wrong type.
        if url_in_wrong_key {
            map.push(("SERVER__PORT".into(), db_url));
        }
        let mut loader = appenv_config::Loader::hermetic(map)
            .config_dir(s.config_dir())
            .dotenv_dir(s.path());
        if let Some(prefix) = prefix {
            loader = loader.prefix(prefix);
        }
        assert_clean(&format!("{loader:?}"))?;
        match loader.load::<support::Config>() {
            Ok(loaded) => {
                assert_clean(&format!("{loaded:?}"))?;
                assert_clean(&loaded.explain().to_string())?;
                assert_clean(&loaded.explain().to_json().to_string())?;
                assert_clean(&loaded.policy().to_json().to_string())?;
                assert_clean(&loaded.warnings().iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))?;
                if let Err(err) = loaded.enforce() {
                    assert_clean(&err.to_string())?;
                }
            }
            Err(err) => {
                assert_clean(&err.to_string())?;
                assert_clean(&format!("{err:?}"))?;
            }
        }
    }
}
