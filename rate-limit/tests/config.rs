//! `RateLimitConfig` loaded through the real loader, hermetically.

use appenv_config::{AppEnv, Loaded, Loader, Registry, Section};
use appenv_rate_limit::{
    FailureMode, KeyKind, Overflow, RateLimitConfig, RateLimitLayer, StateStore,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct Config {
    rate_limit: RateLimitConfig,
}

impl Section for Config {
    fn defaults(env: AppEnv) -> Self {
        Config {
            rate_limit: RateLimitConfig::defaults(env),
        }
    }

    fn register(reg: &mut Registry<'_, Self>) {
        reg.section::<RateLimitConfig>("rate_limit");
    }
}

fn load(vars: &[(&str, &str)]) -> Result<Loaded<Config>, appenv_config::Error> {
    Loader::hermetic(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
        .dotenv_dir("/nonexistent-appenv-rate-limit-tests")
        .config_dir("/nonexistent-appenv-rate-limit-tests")
        .load::<Config>()
}

#[test]
fn flat_variables_set_the_section() {
    let loaded = load(&[
        ("APP_ENV", "production"),
        ("RATE_LIMIT_WINDOW_MS", "1000"),
        ("RATE_LIMIT_MAX", "7"),
        ("RATE_LIMIT_BURST", "3"),
        ("RATE_LIMIT_KEY", "header:X-Api-Key"),
        ("RATE_LIMIT_BACKEND", "redis"),
        (
            "RATE_LIMIT_REDIS_URL",
            "redis://:hunter2-redis-password@cache.internal:6379/0",
        ),
        ("RATE_LIMIT_FAILURE_MODE", "closed"),
        ("RATE_LIMIT_HEADER_STYLE", "both"),
    ])
    .unwrap();
    let cfg = &loaded.config().rate_limit;
    assert!(cfg.enabled);
    assert_eq!((cfg.window_ms, cfg.max, cfg.burst), (1000, 7, 3));
    assert_eq!(cfg.key.to_string(), "header:x-api-key");
    assert!(matches!(cfg.key, KeyKind::Header(_)));
    assert_eq!(cfg.backend, StateStore::Redis);
    assert_eq!(cfg.failure_mode, FailureMode::Closed);
    assert_eq!(cfg.overflow, Overflow::Shared);
    assert_eq!(
        loaded.explain().get("rate_limit.max").unwrap().source,
        "env RATE_LIMIT_MAX"
    );
    // The layer builds from it without connecting anywhere.
    RateLimitLayer::new(cfg).unwrap();
    // The Redis password is in no output.
    let outputs = format!(
        "{:?} {:?} {}",
        cfg,
        loaded.explain().get("rate_limit.redis_url").unwrap().value,
        serde_json::to_string(cfg).unwrap()
    );
    assert!(!outputs.contains("hunter2"), "{outputs}");
    assert!(loaded.policy().is_ok(), "{}", loaded.policy());
}

#[test]
fn disable_rate_limiting_is_the_local_default_and_refused_in_production() {
    let local = load(&[("APP_ENV", "local")]).unwrap();
    assert!(!local.config().rate_limit.enabled);
    let staging = load(&[("APP_ENV", "staging")]).unwrap();
    assert!(staging.config().rate_limit.enabled);

    let prod = load(&[("APP_ENV", "production"), ("DISABLE_RATE_LIMITING", "true")]).unwrap();
    assert!(!prod.config().rate_limit.enabled);
    let err = prod.enforce().unwrap_err().to_string();
    assert!(err.contains("rate-limit.disabled"), "{err}");
    assert!(err.contains("rate_limit.enabled"), "{err}");

    // Waived by name, it starts.
    let waived = load(&[
        ("APP_ENV", "production"),
        ("DISABLE_RATE_LIMITING", "1"),
        ("POLICY_ALLOW", "rate-limit.disabled"),
    ])
    .unwrap();
    waived.enforce().unwrap();
}

#[test]
fn production_refuses_shadow_fail_open_overflow_pass_and_trust_all() {
    let prod = load(&[
        ("APP_ENV", "production"),
        ("RATE_LIMIT_SHADOW", "on"),
        ("RATE_LIMIT_BACKEND", "redis"),
        ("RATE_LIMIT_REDIS_URL", "redis://cache:6379"),
        ("RATE_LIMIT_FAILURE_MODE", "open"),
        ("RATE_LIMIT_OVERFLOW", "pass"),
    ])
    .unwrap();
    let err = prod.enforce().unwrap_err().to_string();
    for rule in [
        "rate-limit.shadow",
        "rate-limit.fail-open",
        "rate-limit.overflow-pass",
    ] {
        assert!(err.contains(rule), "{rule} missing from: {err}");
    }

    // Staging only warns about the same settings.
    let staging = load(&[
        ("APP_ENV", "staging"),
        ("RATE_LIMIT_SHADOW", "on"),
        ("RATE_LIMIT_OVERFLOW", "pass"),
    ])
    .unwrap();
    staging.enforce().unwrap();
}

#[test]
fn a_key_of_headers_alone_is_a_warning_in_every_environment() {
    for env in ["local", "staging", "production"] {
        for key in ["header:x-api-key", "header:x-a+header:x-b"] {
            let loaded = load(&[("APP_ENV", env), ("RATE_LIMIT_KEY", key)]).unwrap();
            let found = loaded
                .policy()
                .warnings
                .iter()
                .find(|f| f.rule == "rate-limit.header-key")
                .unwrap_or_else(|| panic!("{env} {key}: no warning"));
            assert_eq!(found.key, "rate_limit.key");
            assert!(
                found.message.contains("new quota each time"),
                "{}",
                found.message
            );
            loaded.enforce().unwrap();
        }
        // With the client address in the key, nothing to say.
        let loaded = load(&[("APP_ENV", env), ("RATE_LIMIT_KEY", "ip+header:x-api-key")]).unwrap();
        assert!(
            loaded
                .policy()
                .warnings
                .iter()
                .all(|f| f.rule != "rate-limit.header-key"),
            "{env}"
        );
    }
}

#[test]
fn invalid_values_are_startup_errors_naming_the_key() {
    let err = load(&[("APP_ENV", "staging"), ("RATE_LIMIT_KEY", "cookie")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("rate_limit.key"), "{err}");
    assert!(err.contains("unknown key kind"), "{err}");

    // The setting moved to the server section: the old variable is refused
    // (by `check`, startup and the constructor alike) naming the new one.
    let loaded = load(&[
        ("APP_ENV", "staging"),
        ("RATE_LIMIT_TRUSTED_PROXIES", "10.0.0.0/8"),
    ])
    .unwrap();
    let layer_err = RateLimitLayer::new(&loaded.config().rate_limit)
        .unwrap_err()
        .to_string();
    let err = loaded.enforce().unwrap_err().to_string();
    for err in [err, layer_err] {
        assert!(err.contains("rate_limit.trusted_proxies"), "{err}");
        assert!(
            err.contains("TRUSTED_PROXIES (server.trusted_proxies)"),
            "{err}"
        );
    }

    for (var, key) in [
        ("RATE_LIMIT_MAX", "rate_limit.max"),
        ("RATE_LIMIT_WINDOW_MS", "rate_limit.window_ms"),
    ] {
        // Refused in every environment, waiver or not.
        let loaded = load(&[
            ("APP_ENV", "local"),
            (var, "0"),
            ("POLICY_ALLOW", "rate-limit.invalid"),
        ])
        .unwrap();
        let err = loaded.enforce().unwrap_err().to_string();
        assert!(
            err.contains(key) && err.contains("rate-limit.invalid"),
            "{err}"
        );
        let err = RateLimitLayer::new(
            &load(&[("APP_ENV", "local"), (var, "0")])
                .unwrap()
                .config()
                .rate_limit,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains(key), "{err}");
    }

    let loaded = load(&[("APP_ENV", "staging"), ("RATE_LIMIT_BACKEND", "redis")]).unwrap();
    let err = loaded.enforce().unwrap_err().to_string();
    assert!(err.contains("rate_limit.redis_url"), "{err}");
}

#[test]
fn errors_keep_their_exit_code_through_question_mark() {
    fn run(vars: &[(&str, &str)]) -> Result<(), appenv_config::Failure> {
        // A load error (78), or a constructor error (78) for what the
        // policy only reports: both keep their code through `?`.
        let loaded = load(vars)?;
        RateLimitLayer::new(&loaded.config().rate_limit)?;
        Ok(())
    }
    assert!(run(&[("APP_ENV", "staging")]).is_ok());
    let load_failure = run(&[("RATE_LIMIT_KEY", "cookie")]).unwrap_err();
    assert_eq!(load_failure.code(), 78, "{load_failure}");
    let layer_failure = run(&[("APP_ENV", "staging"), ("RATE_LIMIT_MAX", "0")]).unwrap_err();
    assert_eq!(layer_failure.code(), 78, "{layer_failure}");
    assert!(layer_failure.to_string().contains("rate_limit.max"));
}

#[test]
fn config_check_refuses_redis_urls_the_build_cannot_use() {
    let loaded = load(&[
        ("APP_ENV", "staging"),
        ("RATE_LIMIT_BACKEND", "redis"),
        (
            "RATE_LIMIT_REDIS_URL",
            "memcached://:sup3rs3cretpw@cache:11211",
        ),
        ("RATE_LIMIT_REDIS_CA_FILE", "/nonexistent/ca.pem"),
    ])
    .unwrap();
    assert_eq!(
        loaded.config().rate_limit.redis_ca_file,
        "/nonexistent/ca.pem"
    );
    let err = loaded.enforce().unwrap_err().to_string();
    assert!(err.contains("rate-limit.invalid"), "{err}");
    assert!(err.contains("rate_limit.redis_url"), "{err}");
    assert!(err.contains("`memcached` is not supported"), "{err}");
    assert!(err.contains("rate_limit.redis_ca_file"), "{err}");
    assert!(!err.contains("sup3rs3cretpw"), "{err}");

    let ok = load(&[
        ("APP_ENV", "staging"),
        ("RATE_LIMIT_BACKEND", "redis"),
        (
            "RATE_LIMIT_REDIS_URL",
            "rediss://cache-1:6380,rediss://cache-2:6380",
        ),
    ])
    .unwrap();
    assert_eq!(
        ok.enforce().is_ok(),
        cfg!(feature = "redis-tls") && cfg!(feature = "redis-cluster")
    );
}

#[test]
fn production_refuses_a_redis_url_that_turns_certificate_verification_off() {
    if !cfg!(feature = "redis-tls") {
        return;
    }
    let vars = |env: &'static str| {
        [
            ("APP_ENV", env),
            ("RATE_LIMIT_BACKEND", "redis"),
            (
                "RATE_LIMIT_REDIS_URL",
                "rediss://:sup3rs3cretpw@cache.internal:6380/0#insecure",
            ),
        ]
    };
    // Production: refused by `check` (and so at startup), naming the key,
    // without the password, even with a waiver.
    let prod = load(&vars("production")).unwrap();
    assert!(!prod.policy().is_ok());
    let err = prod.policy().to_string();
    assert!(err.contains("rate-limit.invalid"), "{err}");
    assert!(err.contains("rate_limit.redis_url"), "{err}");
    assert!(err.contains("certificate verification"), "{err}");
    assert!(!err.contains("sup3rs3cretpw"), "{err}");
    let mut waived = vars("production").to_vec();
    waived.push(("POLICY_ALLOW", "rate-limit.invalid"));
    assert!(load(&waived).unwrap().enforce().is_err());

    // Staging: a warning with the same words; it starts.
    let staging = load(&vars("staging")).unwrap();
    let report = staging.policy().to_string();
    assert!(report.contains("certificate verification"), "{report}");
    assert!(!report.contains("sup3rs3cretpw"), "{report}");
    staging.enforce().unwrap();

    // Verified TLS passes in production.
    let verified = load(&[
        ("APP_ENV", "production"),
        ("RATE_LIMIT_BACKEND", "redis"),
        ("RATE_LIMIT_REDIS_URL", "rediss://cache.internal:6380/0"),
    ])
    .unwrap();
    assert!(verified.policy().is_ok(), "{}", verified.policy());
}
