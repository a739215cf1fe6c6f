//! Layered loading: each precedence step overrides the one below, and every
//! bad input is a clear error naming the key and its source.

mod support;

use std::net::{IpAddr, Ipv4Addr};

use appenv_config::{AppEnv, Error};
use support::{Config, Scratch};

fn port_source(loaded: &appenv_config::Loaded<Config>) -> String {
    loaded
        .explain()
        .get("server.port")
        .unwrap()
        .source
        .to_string()
}

#[test]
fn defaults_depend_on_the_environment() {
    let s = Scratch::new();
    let local = s.load([]).unwrap();
    assert_eq!(local.env(), AppEnv::Local);
    assert!(local.env_was_unset());
    assert_eq!(local.config().server.host, IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert!(local.config().server.debug_endpoints);
    assert!(!local.config().rate_limit.enabled);

    let prod = s.load(support::production_ok()).unwrap();
    assert_eq!(prod.config().server.host, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    assert!(!prod.config().server.debug_endpoints);
    assert!(prod.config().rate_limit.enabled);
    assert_eq!(prod.config().database.max_connections, 20);
    assert_eq!(port_source(&prod), "default");
}

#[test]
fn each_source_overrides_the_one_below() {
    let s = Scratch::new();
    s.write("config/default.toml", "[server]\nport = 4001\n");
    let loaded = s.load([]).unwrap();
    assert_eq!(loaded.config().server.port, 4001);
    assert!(
        port_source(&loaded).ends_with("default.toml:2"),
        "{}",
        port_source(&loaded)
    );

    s.write("config/local.toml", "\n\n[server]\nport = 4002\n");
    let loaded = s.load([]).unwrap();
    assert_eq!(loaded.config().server.port, 4002);
    assert!(port_source(&loaded).ends_with("local.toml:4"));

    s.write(".env", "PORT=4003\n");
    let loaded = s.load([]).unwrap();
    assert_eq!(loaded.config().server.port, 4003);
    assert!(
        port_source(&loaded).contains(".env:1"),
        "{}",
        port_source(&loaded)
    );

    s.write(".env.local", "# mine\nPORT=4004\n");
    let loaded = s.load([]).unwrap();
    assert_eq!(loaded.config().server.port, 4004);
    assert!(port_source(&loaded).contains(".env.local:2"));

    let loaded = s.load([("PORT", "4005")]).unwrap();
    assert_eq!(loaded.config().server.port, 4005);
    assert_eq!(port_source(&loaded), "env PORT");

    let file = s.write("port.txt", "4006\n");
    let file = file.to_str().unwrap().to_owned();
    let loaded = s.load([("SERVER_PORT_FILE", file.as_str())]).unwrap();
    assert_eq!(loaded.config().server.port, 4006);
    assert!(port_source(&loaded).starts_with("secret file"));

    let loaded = s
        .loader([("PORT", "4005")])
        .set("server.port", 4007)
        .load::<Config>()
        .unwrap();
    assert_eq!(loaded.config().server.port, 4007);
    assert_eq!(port_source(&loaded), "override");

    // Every lower source is listed as shadowed, highest first.
    let entry = loaded.explain().get("server.port").unwrap().clone();
    let shadowed: Vec<_> = entry.shadowed.iter().map(|s| s.source.clone()).collect();
    assert_eq!(shadowed.len(), 6, "{shadowed:?}");
    assert_eq!(shadowed[0], "env PORT");
    assert_eq!(shadowed.last().unwrap(), "default");
}

#[test]
fn env_file_per_environment_and_config_dir_variable() {
    let s = Scratch::new();
    s.write("config/default.toml", "name = \"base\"\n");
    s.write("config/staging.toml", "name = \"rehearsal\"\n");
    let dir = s.config_dir();
    let loaded = appenv_config::Loader::hermetic([
        ("APP_ENV", "stage"),
        ("APP_CONFIG_DIR", dir.to_str().unwrap()),
    ])
    .load::<Config>()
    .unwrap();
    assert_eq!(loaded.env(), AppEnv::Staging);
    assert_eq!(loaded.config().name, "rehearsal");
}

#[test]
fn dotenv_is_ignored_outside_local_with_a_warning() {
    let s = Scratch::new();
    s.write(".env", "PORT=4999\n");
    let mut vars = support::production_ok();
    vars.push(("APP_ENV", "production"));
    let loaded = s.load(vars).unwrap();
    assert_eq!(loaded.config().server.port, 3001);
    let warning = loaded
        .warnings()
        .iter()
        .map(ToString::to_string)
        .find(|w| w.contains(".env"))
        .unwrap();
    assert!(warning.contains("config.dotenv-ignored"), "{warning}");
    assert!(warning.contains("ignored"), "{warning}");
    assert!(warning.contains("production"), "{warning}");
}

#[test]
fn string_first_parsing_lists_booleans_and_nesting() {
    let s = Scratch::new();
    let loaded = s
        .load([
            ("NAME", "12345"),
            ("JWT_SECRET", "true"),
            ("TAGS", "a, b,,c"),
            ("CORS_ORIGIN", "https://a.app,https://b.app"),
            ("DISABLE_RATE_LIMITING", "off"),
            ("RATE_LIMIT_WINDOW_MS", "1500"),
            ("DATABASE__MAX_CONNECTIONS", "9"),
            ("ENABLE_DEBUG_ENDPOINTS", "no"),
        ])
        .unwrap();
    let c = loaded.config();
    assert_eq!(c.name, "12345");
    assert_eq!(c.jwt_secret.as_ref().unwrap().expose(), "true");
    assert_eq!(c.tags, ["a", "b", "c"]);
    assert_eq!(c.server.cors_origin, ["https://a.app", "https://b.app"]);
    assert!(c.rate_limit.enabled, "DISABLE_RATE_LIMITING=off enables it");
    assert_eq!(c.rate_limit.window_ms, 1500);
    assert_eq!(c.database.max_connections, 9);
    assert!(!c.server.debug_endpoints);
    for spelling in ["1", "yes", "ON", "True"] {
        let l = s.load([("ENABLE_DEBUG_ENDPOINTS", spelling)]).unwrap();
        assert!(l.config().server.debug_endpoints, "{spelling}");
    }
}

#[test]
fn prefix_reads_only_prefixed_variables() {
    let s = Scratch::new();
    let loaded = s
        .loader([
            ("APP_PORT", "5001"),
            ("NAME", "ignored"),
            ("APP_ENV", "local"),
        ])
        .prefix("APP_")
        .load::<Config>()
        .unwrap();
    assert_eq!(loaded.config().server.port, 5001);
    assert_eq!(loaded.config().name, "events");
}

#[test]
fn near_miss_variable_gets_did_you_mean() {
    let s = Scratch::new();
    let loaded = s
        .load([
            ("DATABSE_URL", "postgres://x"),
            ("HOME", "/root"),
            ("PATH", "/bin"),
        ])
        .unwrap();
    let warnings = loaded
        .warnings()
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(warnings.contains("DATABSE_URL"), "{warnings}");
    assert!(warnings.contains("did you mean DATABASE_URL"), "{warnings}");
    assert!(
        !warnings.contains("HOME") && !warnings.contains("PATH"),
        "{warnings}"
    );
}

#[test]
fn unknown_app_env_lists_accepted_values() {
    let s = Scratch::new();
    let err = s.load([("APP_ENV", "qa")]).unwrap_err();
    assert!(matches!(err, Error::UnknownEnv { .. }));
    let text = err.to_string();
    assert!(text.contains("\"qa\""), "{text}");
    assert!(text.contains("local, development, dev, staging, stage, production, prod"));
    assert_eq!(err.exit_code(), 78);
}

#[test]
fn malformed_toml_names_file_and_line() {
    let s = Scratch::new();
    s.write("config/default.toml", "[server]\nport = 1\nhost = \n");
    let err = s.load([]).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Parse { line: 3, .. }), "{text}");
    assert!(text.contains("default.toml:3"), "{text}");
}

#[test]
fn wrong_type_names_key_source_and_expectation() {
    let s = Scratch::new();
    let err = s.load([("PORT", "eighty")]).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("server.port"), "{text}");
    assert!(text.contains("env PORT"), "{text}");
    assert!(text.contains("expected"), "{text}");
    assert!(
        text.contains("eighty"),
        "a non-secret value is shown: {text}"
    );

    s.write(
        "config/default.toml",
        "[rate_limit]\n\nwindow_ms = \"soon\"\n",
    );
    let text = s.load([]).unwrap_err().to_string();
    assert!(text.contains("rate_limit.window_ms"), "{text}");
    assert!(text.contains("default.toml:3"), "{text}");

    let text = s
        .load([("DISABLE_RATE_LIMITING", "maybe")])
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("rate_limit.enabled") && text.contains("env DISABLE_RATE_LIMITING"),
        "{text}"
    );
}

#[test]
fn unknown_key_in_a_strict_section_is_an_error() {
    let s = Scratch::new();
    s.write("config/default.toml", "[server]\nprot = 1\n");
    let text = s.load([]).unwrap_err().to_string();
    assert!(text.contains("default.toml:2"), "{text}");
    assert!(text.contains("`server.prot`"), "{text}");
    assert!(text.contains("did you mean `server.port`"), "{text}");
}

#[test]
fn name_and_name_file_together_is_an_error() {
    let s = Scratch::new();
    let file = s.write("jwt", "x");
    let err = s
        .load([
            ("JWT_SECRET", "a"),
            ("JWT_SECRET_FILE", file.to_str().unwrap()),
        ])
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }));
    assert!(
        err.to_string()
            .contains("both JWT_SECRET (env JWT_SECRET) and JWT_SECRET_FILE (env JWT_SECRET_FILE)"),
        "{err}"
    );
}

#[test]
fn unreadable_secret_file_names_variable_and_path() {
    let s = Scratch::new();
    let err = s
        .load([("JWT_SECRET_FILE", "/nonexistent/run/secrets/jwt")])
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::SecretFile { .. }));
    assert!(text.contains("JWT_SECRET_FILE"), "{text}");
    assert!(text.contains("/nonexistent/run/secrets/jwt"), "{text}");
}

#[test]
fn unreadable_config_file_is_an_error() {
    let s = Scratch::new();
    std::fs::create_dir(s.config_dir().join("default.toml")).unwrap();
    let err = s.load([]).unwrap_err();
    assert!(matches!(err, Error::ReadFile { .. }), "{err}");
    assert!(err.to_string().contains("default.toml"));
}

#[test]
fn explain_json_has_the_documented_shape_and_a_stable_fingerprint() {
    let s = Scratch::new();
    s.write("config/default.toml", "[server]\nport = 4001\n");
    let a = s.load([("APP_ENV", "staging")]).unwrap();
    let b = s.load([("APP_ENV", "staging")]).unwrap();
    assert_eq!(a.fingerprint(), b.fingerprint());
    let c = s.load([("APP_ENV", "staging"), ("PORT", "4002")]).unwrap();
    assert_ne!(a.fingerprint(), c.fingerprint());

    let json = a.explain().to_json();
    assert_eq!(json["env"], "staging");
    assert_eq!(json["fingerprint"].as_str().unwrap().len(), 16);
    let port = json["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"] == "server.port")
        .unwrap();
    assert_eq!(port["value"], 4001);
    assert!(port["source"].as_str().unwrap().ends_with("default.toml:2"));
    assert_eq!(port["shadowed"][0]["source"], "default");
    assert_eq!(port["shadowed"][0]["value"], 3001);

    let table = a.explain().to_string();
    assert!(
        table.contains("server.port") && table.contains("4001"),
        "{table}"
    );
}

/// A section whose alias (`TTL`) sorts after its full-path name
/// (`AUTH_TOKEN_TTL`).
mod auth {
    use appenv_config::{AppEnv, Registry, Section};
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Serialize, Deserialize)]
    pub(crate) struct Auth {
        pub(crate) token_ttl: u32,
    }

    impl Section for Auth {
        fn defaults(_env: AppEnv) -> Self {
            Auth { token_ttl: 60 }
        }
        fn register(reg: &mut Registry<'_, Self>) {
            reg.alias("TTL", "token_ttl");
        }
    }

    #[derive(Debug, Serialize, Deserialize)]
    pub(crate) struct App {
        pub(crate) auth: Auth,
    }

    impl Section for App {
        fn defaults(env: AppEnv) -> Self {
            App {
                auth: Auth::defaults(env),
            }
        }
        fn register(reg: &mut Registry<'_, Self>) {
            reg.section::<Auth>("auth");
        }
    }
}

#[test]
fn the_more_specific_name_wins_within_one_source_and_the_clash_is_warned() {
    let s = Scratch::new();
    // Alias against full path, whatever their alphabetical order.
    let loaded = s
        .loader([("AUTH_TOKEN_TTL", "10"), ("TTL", "20")])
        .load::<auth::App>()
        .unwrap();
    assert_eq!(loaded.config().auth.token_ttl, 10);
    assert_eq!(
        loaded.explain().get("auth.token_ttl").unwrap().source,
        "env AUTH_TOKEN_TTL"
    );
    let warnings = loaded
        .warnings()
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        warnings.contains("TTL and AUTH_TOKEN_TTL both set `auth.token_ttl`"),
        "{warnings}"
    );

    let loaded = s.load([("PORT", "4001"), ("SERVER_PORT", "4002")]).unwrap();
    assert_eq!(loaded.config().server.port, 4002);
    assert!(
        loaded
            .warnings()
            .iter()
            .any(|w| w.message.contains("PORT and SERVER_PORT")),
        "{:?}",
        loaded.warnings()
    );
    let loaded = s
        .load([("SERVER__PORT", "4003"), ("SERVER_PORT", "4002")])
        .unwrap();
    assert_eq!(loaded.config().server.port, 4003);

    // Equal values are not a clash.
    let loaded = s.load([("PORT", "4001"), ("SERVER_PORT", "4001")]).unwrap();
    assert!(loaded.warnings().is_empty(), "{:?}", loaded.warnings());

    // Across sources precedence decides: the process environment beats
    // `.env`, even with a less specific name, and that is no clash.
    s.write(".env", "SERVER_PORT=4010\n");
    let loaded = s.load([("PORT", "4011")]).unwrap();
    assert_eq!(loaded.config().server.port, 4011);
    assert!(loaded.warnings().is_empty(), "{:?}", loaded.warnings());
}

#[test]
fn app_env_in_a_dotenv_file_is_warned_about() {
    let s = Scratch::new();
    s.write(".env", "PORT=4001\nAPP_ENV=production\n");
    let loaded = s.load([]).unwrap();
    assert_eq!(loaded.env(), AppEnv::Local);
    let warnings = loaded
        .warnings()
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        warnings.contains(".env:2 (APP_ENV)")
            && warnings.contains("read only from the process environment")
            && warnings.contains("ignored"),
        "{warnings}"
    );
}

#[test]
fn an_override_of_a_table_is_the_source_of_its_keys() {
    let s = Scratch::new();
    let loaded = s
        .loader([("PORT", "4001")])
        .set("server", serde_json::json!({ "port": 4100 }))
        .load::<Config>()
        .unwrap();
    assert_eq!(loaded.config().server.port, 4100);
    let entry = loaded.explain().get("server.port").unwrap();
    assert_eq!(entry.source, "override");
    assert_eq!(entry.shadowed[0].source, "env PORT");
}

#[test]
fn a_nested_name_with_an_unknown_key_is_warned_about() {
    let s = Scratch::new();
    let loaded = s.load([("DATABASE__MAX_CONECTIONS", "3")]).unwrap();
    assert_eq!(loaded.config().database.max_connections, 5);
    let warnings = loaded
        .warnings()
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        warnings.contains("DATABASE__MAX_CONECTIONS")
            && warnings.contains("did you mean DATABASE__MAX_CONNECTIONS"),
        "{warnings}"
    );
    // Known nested names are not warned about.
    let loaded = s.load([("DATABASE__MAX_CONNECTIONS", "3")]).unwrap();
    assert!(loaded.warnings().is_empty(), "{:?}", loaded.warnings());
}

#[test]
fn a_malformed_dotenv_line_is_reported_at_its_line() {
    let s = Scratch::new();
    s.write(
        ".env",
        "PORT=4001\n\n# secrets\n\nJWT_SECRET='unterminated\n",
    );
    let err = s.load([]).unwrap_err();
    assert!(matches!(err, Error::Parse { line: 5, .. }), "{err}");
}

#[test]
fn a_secret_file_beside_another_name_for_its_key_is_warned_about() {
    let s = Scratch::new();
    let file = s.write("port.txt", "4020\n");
    let loaded = s
        .load([
            ("PORT_FILE", file.to_str().unwrap()),
            ("SERVER_PORT", "4021"),
        ])
        .unwrap();
    assert_eq!(loaded.config().server.port, 4020);
    let warnings = loaded
        .warnings()
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        warnings.contains("PORT_FILE and SERVER_PORT both set `server.port`"),
        "{warnings}"
    );
}

#[test]
fn policy_fixes_name_the_prefixed_variable() {
    let s = Scratch::new();
    let loaded = s
        .loader([
            ("APP_ENV", "production"),
            (
                "APP_DATABASE_URL",
                "postgres://a:b@db.internal/events_staging",
            ),
        ])
        .prefix("APP_")
        .load::<Config>()
        .unwrap();
    let fixes: Vec<&str> = loaded
        .policy()
        .violations
        .iter()
        .map(|v| v.fix.as_str())
        .collect();
    assert!(
        fixes
            .iter()
            .any(|f| f.contains("set APP_JWT_SECRET (or APP_JWT_SECRET_FILE")),
        "{fixes:?}"
    );
    assert!(
        fixes
            .iter()
            .any(|f| f.contains("point APP_DATABASE_URL at")),
        "{fixes:?}"
    );
}
