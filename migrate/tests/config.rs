//! `DatabaseConfig` loaded through appenv-config: variable names, per-env
//! defaults, the `migrate.auto-apply` rule and URL redaction.

use appenv_config::{AppEnv, Loader, Registry, Section};
use appenv_migrate::{DatabaseConfig, RULE_AUTO_APPLY};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct Config {
    database: DatabaseConfig,
}

impl Section for Config {
    fn defaults(env: AppEnv) -> Self {
        Config {
            database: DatabaseConfig::defaults(env),
        }
    }
    fn register(reg: &mut Registry<'_, Self>) {
        reg.section::<DatabaseConfig>("database");
    }
}

const PROD_URL: &str = "postgres://app:Xq9-very-secret-pw@db.internal:5432/app?sslmode=require";

fn load(env: AppEnv, vars: &[(&str, &str)]) -> appenv_config::Loaded<Config> {
    Loader::hermetic(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
        .env(env)
        .load::<Config>()
        .unwrap()
}

#[test]
fn flat_variables_set_the_section() {
    let loaded = load(
        AppEnv::Staging,
        &[
            ("DATABASE_URL", PROD_URL),
            ("DATABASE_MAX_CONNECTIONS", "33"),
            ("DATABASE_MIGRATE_LOCK_WAIT_MS", "1000"),
        ],
    );
    let db = &loaded.config().database;
    assert_eq!(db.url.expose(), PROD_URL);
    assert_eq!(db.max_connections, 33);
    assert_eq!(db.migrate_lock_wait_ms, 1000);
    assert!(!db.migrate_on_startup, "staging verifies by default");
    assert!(
        load(AppEnv::Local, &[])
            .config()
            .database
            .migrate_on_startup
    );
    assert_eq!(db.migrate_url, None);
    let direct = "postgres://app:pw@db-direct.internal:5432/app?sslmode=require";
    let loaded = load(
        AppEnv::Staging,
        &[("DATABASE_URL", PROD_URL), ("DATABASE_MIGRATE_URL", direct)],
    );
    let url = loaded.config().database.migrate_url.as_ref();
    assert_eq!(url.map(|u| u.expose()), Some(direct));
}

#[test]
fn auto_apply_in_production_is_a_violation_unless_waived() {
    let loaded = load(
        AppEnv::Production,
        &[("DATABASE_URL", PROD_URL), ("MIGRATE_ON_STARTUP", "true")],
    );
    assert!(loaded.config().database.migrate_on_startup);
    let finding = loaded
        .policy()
        .violations
        .iter()
        .find(|f| f.rule == RULE_AUTO_APPLY)
        .expect("migrate.auto-apply violation");
    assert_eq!(finding.key, "database.migrate_on_startup");
    assert_eq!(finding.source, "env MIGRATE_ON_STARTUP");
    assert!(finding.fix.contains("appenv-migrate up"));
    assert!(loaded.enforce().is_err());

    let waived = load(
        AppEnv::Production,
        &[
            ("DATABASE_URL", PROD_URL),
            ("MIGRATE_ON_STARTUP", "yes"),
            ("POLICY_ALLOW", RULE_AUTO_APPLY),
        ],
    );
    assert!(
        waived
            .policy()
            .waived
            .iter()
            .any(|f| f.rule == RULE_AUTO_APPLY)
    );
    assert!(
        !waived
            .policy()
            .violations
            .iter()
            .any(|f| f.rule == RULE_AUTO_APPLY)
    );

    let staging = load(
        AppEnv::Staging,
        &[("DATABASE_URL", PROD_URL), ("MIGRATE_ON_STARTUP", "1")],
    );
    assert!(
        staging
            .policy()
            .warnings
            .iter()
            .any(|f| f.rule == RULE_AUTO_APPLY)
    );
    let local = load(AppEnv::Local, &[]);
    assert!(
        !local
            .policy()
            .warnings
            .iter()
            .any(|f| f.rule == RULE_AUTO_APPLY)
    );
    let prod_default = load(AppEnv::Production, &[("DATABASE_URL", PROD_URL)]);
    assert!(
        prod_default.policy().violations.is_empty(),
        "an unset migrate_url is fine: {}",
        prod_default.policy()
    );
    assert!(
        !prod_default
            .policy()
            .violations
            .iter()
            .any(|f| f.rule == RULE_AUTO_APPLY)
    );
}

#[test]
fn database_password_never_appears_in_outputs() {
    let loaded = load(AppEnv::Production, &[("DATABASE_URL", PROD_URL)]);
    let outputs = [
        format!("{:?}", loaded.config()),
        loaded.explain().to_json().to_string(),
        serde_json::to_string(loaded.config()).unwrap(),
        loaded.policy().to_json().to_string(),
    ];
    for out in outputs {
        assert!(!out.contains("Xq9-very-secret-pw"), "{out}");
    }
}

#[tokio::test]
async fn pool_sizes_and_timeouts_are_checked_by_the_loader_and_never_panic() {
    use appenv_migrate::{Migrations, Migrator, RULE_INVALID};
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("DATABASE_MAX_CONNECTIONS", "0")],
            "database.max_connections",
        ),
        (
            &[
                ("DATABASE_MIN_CONNECTIONS", "9"),
                ("DATABASE_MAX_CONNECTIONS", "4"),
            ],
            "database.min_connections",
        ),
        (
            &[("DATABASE_CONNECT_TIMEOUT_MS", "0")],
            "database.connect_timeout_ms",
        ),
        (
            &[("DATABASE_IDLE_TIMEOUT_MS", "0")],
            "database.idle_timeout_ms",
        ),
        (
            &[("DATABASE_MIGRATE_LOCK_WAIT_MS", "0")],
            "database.migrate_lock_wait_ms",
        ),
        (
            &[("DATABASE_URL", "oracle://app:Xq9-very-secret-pw@db/events")],
            "database.url",
        ),
        (
            &[(
                "DATABASE_MIGRATE_URL",
                "mongodb://app:Xq9-very-secret-pw@db/events",
            )],
            "database.migrate_url",
        ),
    ];
    for (vars, key) in cases {
        for env in [AppEnv::Local, AppEnv::Staging, AppEnv::Production] {
            let mut all = vec![("POLICY_ALLOW", RULE_INVALID)];
            all.extend_from_slice(vars);
            if !vars.iter().any(|(k, _)| *k == "DATABASE_URL") {
                all.push(("DATABASE_URL", PROD_URL));
            }
            let loaded = load(env, &all);
            let finding = loaded
                .policy()
                .violations
                .iter()
                .find(|f| f.rule == RULE_INVALID)
                .unwrap_or_else(|| panic!("{env} {key}: {}", loaded.policy()));
            assert_eq!(finding.key, *key);
            assert!(
                finding.source.to_string().starts_with("env DATABASE_"),
                "{}",
                finding.source
            );
            assert!(
                !loaded
                    .policy()
                    .waived
                    .iter()
                    .any(|f| f.rule == RULE_INVALID),
                "not waivable"
            );
            let db = &loaded.config().database;
            let (bad_key, message) = db.problems().into_iter().next().unwrap();
            assert_eq!(format!("database.{bad_key}"), *key);
            assert_eq!(
                finding.message, message,
                "check and constructors use the same words"
            );
            let err = db.validate().unwrap_err();
            assert!(err.to_string().contains(key), "{err}");
            assert_eq!(err.exit_code(), 78);
            // Nothing panics on the way: pool options, a lazy pool, a migrator.
            let pool = db
                .pool_options::<sqlx::Sqlite>()
                .connect_lazy("sqlite::memory:")
                .unwrap();
            drop(pool);
            let _migrator =
                Migrator::with_config("sqlite::memory:", Migrations::default(), env, db).unwrap();
            let report = format!("{} {}", loaded.policy(), loaded.policy().to_json());
            assert!(!report.contains("Xq9-very-secret-pw"), "{report}");
            assert!(!err.to_string().contains("Xq9-very-secret-pw"));
            assert!(loaded.enforce().is_err(), "{env}: startup refuses {key}");
        }
    }
    let fine = load(
        AppEnv::Production,
        &[
            ("DATABASE_URL", PROD_URL),
            ("DATABASE_MAX_CONNECTIONS", "2"),
        ],
    );
    assert!(fine.policy().violations.is_empty(), "{}", fine.policy());
    fine.config().database.validate().unwrap();
}

#[test]
fn a_missing_database_url_is_refused_in_staging_and_production() {
    use appenv_migrate::RULE_URL_REQUIRED;
    for env in [AppEnv::Staging, AppEnv::Production] {
        for vars in [&[][..], &[("DATABASE_URL", "")][..]] {
            let loaded = load(env, vars);
            let finding = loaded
                .policy()
                .violations
                .iter()
                .find(|f| f.rule == RULE_URL_REQUIRED)
                .unwrap_or_else(|| panic!("{env}: {}", loaded.policy()));
            assert_eq!(finding.key, "database.url");
            assert!(finding.fix.contains("DATABASE_URL"));
            assert!(loaded.enforce().is_err());
        }
    }
    let local = load(AppEnv::Local, &[]);
    assert!(
        !local
            .policy()
            .violations
            .iter()
            .chain(&local.policy().warnings)
            .any(|f| f.rule == RULE_URL_REQUIRED),
        "local has its own default database"
    );
}
