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
    ) {
        let s = Scratch::new();
        s.write("config/default.toml", &default_toml);
        s.write(&format!("config/{env}.toml"), &env_toml);
        let db_url = format!("postgres://app:{DB_SENTINEL}@db.internal/events");
        let mut map: Vec<(String, String)> = vars
            .into_iter()
            .filter(|(k, _)| k != "JWT_SECRET" && k != "DATABASE_URL" && k != "APP_CONFIG_DIR")
            .collect();
        if !map.iter().any(|(k, _)| k == "APP_ENV") {
            map.push(("APP_ENV".into(), env.into()));
        }
        map.push(("JWT_SECRET".into(), SENTINEL.into()));
        map.push(("DATABASE_URL".into(), db_url));
        let loader = appenv_config::Loader::hermetic(map)
            .config_dir(s.config_dir())
            .dotenv_dir(s.path());
        match loader.load::<support::Config>() {
            Ok(loaded) => {
                assert_clean(&format!("{loaded:?}"))?;
                assert_clean(&loaded.explain().to_string())?;
                assert_clean(&loaded.explain().to_json().to_string())?;
                assert_clean(&loaded.policy().to_json().to_string())?;
                assert_clean(&loaded.warnings().join("\n"))?;
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
