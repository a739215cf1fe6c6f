//! Sentinel secret values never reach any output path: Debug, explain
//! (table and JSON, effective and shadowed), the policy report, warnings and
//! errors.

mod support;

use support::{DB_SENTINEL, SENTINEL, Scratch};

fn assert_clean(what: &str, text: &str) {
    assert!(!text.contains(SENTINEL), "{what} leaks the secret: {text}");
    assert!(
        !text.contains(DB_SENTINEL),
        "{what} leaks the DB password: {text}"
    );
}

#[test]
fn loaded_configuration_never_prints_secrets() {
    let s = Scratch::new();
    // The secret is set in three layers so shadowed values are covered too.
    s.write(
        "config/default.toml",
        &format!("jwt_secret = \"{SENTINEL}-file\"\n"),
    );
    let secret_file = s.write("jwt", &format!("{SENTINEL}\n"));
    let db_url = format!("postgres://app:{DB_SENTINEL}@db.internal:5432/events?sslmode=require");
    let db_url_low = format!("postgres://app:{DB_SENTINEL}-old@db.internal/events");
    s.write(
        "config/production.toml",
        &format!("[database]\nurl = \"{db_url_low}\"\n"),
    );
    let vars = [
        ("APP_ENV", "production"),
        ("JWT_SECRET_FILE", secret_file.to_str().unwrap()),
        ("DATABASE_URL", db_url.as_str()),
        ("CORS_ORIGIN", "*"),
    ];
    let loaded = s.load(vars).unwrap();
    assert_eq!(
        loaded.config().jwt_secret.as_ref().unwrap().expose(),
        SENTINEL
    );
    assert_eq!(loaded.config().database.url.expose(), db_url);

    assert_clean("Loaded Debug", &format!("{loaded:?}"));
    assert_clean("config Debug", &format!("{:?}", loaded.config()));
    assert_clean("explain table", &loaded.explain().to_string());
    assert_clean("explain JSON", &loaded.explain().to_json().to_string());
    assert_clean("policy report", &loaded.policy().to_string());
    assert_clean("policy JSON", &loaded.policy().to_json().to_string());
    assert_clean(
        "warnings",
        &loaded
            .warnings()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
    );

    let jwt = loaded.explain().get("jwt_secret").unwrap();
    assert_eq!(jwt.value, "[REDACTED]");
    assert!(
        jwt.source.to_string().starts_with("secret file"),
        "{}",
        jwt.source
    );
    // The file layer is shadowed and redacted; the default (unset) is null.
    assert_eq!(jwt.shadowed[0].value, "[REDACTED]");
    assert!(
        jwt.shadowed
            .iter()
            .all(|s| s.value == "[REDACTED]" || s.value.is_null())
    );
    let url = loaded.explain().get("database.url").unwrap();
    assert_eq!(
        url.value,
        "postgres://app:[REDACTED]@db.internal:5432/events?sslmode=require"
    );

    let err = loaded.enforce().unwrap_err();
    assert_clean("policy error", &err.to_string());
    assert_clean("policy error Debug", &format!("{err:?}"));
}

#[test]
fn errors_never_echo_secrets() {
    let s = Scratch::new();
    // A secret of the wrong shape (a table where a string is expected).
    s.write(
        "config/default.toml",
        &format!("[jwt_secret]\nvalue = \"{SENTINEL}\"\n"),
    );
    let err = s.load([]).unwrap_err();
    assert!(err.to_string().contains("jwt_secret"), "{err}");
    assert_clean("type error", &err.to_string());
    assert_clean("type error Debug", &format!("{err:?}"));

    // A malformed file holding a secret on the bad line.
    let s = Scratch::new();
    s.write(
        "config/default.toml",
        &format!("jwt_secret = \"{SENTINEL}\" trailing\n"),
    );
    let err = s.load([]).unwrap_err();
    assert_clean("parse error", &err.to_string());
    assert_clean("parse error Debug", &format!("{err:?}"));

    // A malformed .env line holding a secret.
    let s = Scratch::new();
    s.write(".env", &format!("JWT_SECRET='{SENTINEL}\n"));
    let err = s.load([]).unwrap_err();
    assert_clean(".env error", &err.to_string());
    assert_clean(".env error Debug", &format!("{err:?}"));

    // A database URL in a key of the wrong type: the password is masked.
    let s = Scratch::new();
    let bad = format!("postgres://app:{DB_SENTINEL}@db/app");
    let err = s
        .load([("DATABASE__MAX_CONNECTIONS", bad.as_str())])
        .unwrap_err();
    assert!(
        err.to_string().contains("database.max_connections"),
        "{err}"
    );
    assert_clean("URL in wrong key", &err.to_string());

    // Both NAME and NAME_FILE set: neither value is printed.
    let s = Scratch::new();
    let file = s.write("jwt", SENTINEL);
    let err = s
        .load([
            ("JWT_SECRET", SENTINEL),
            ("JWT_SECRET_FILE", file.to_str().unwrap()),
        ])
        .unwrap_err();
    assert_clean("conflict error", &err.to_string());

    // Near-miss warnings name the variable, not its value.
    let loaded = s.load([("JWT_SECRTE", SENTINEL)]).unwrap();
    assert!(
        loaded
            .warnings()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
            .contains("JWT_SECRTE")
    );
    assert_clean(
        "did-you-mean warning",
        &loaded
            .warnings()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
    );
}

/// A section whose secrets have real defaults, live in lists and tables,
/// or are typed but not registered.
mod vault {
    use appenv_config::{AppEnv, Registry, Secret, SecretString, SecretUrl, Section};
    use serde::{Deserialize, Serialize};

    pub(crate) const LOCAL_JWT: &str = "local-only-jwt-secret-0123456789abcdef";
    pub(crate) const LOCAL_DB: &str = "postgres://dev:devpass@127.0.0.1:5432/app";

    #[derive(Debug, Serialize, Deserialize, Default)]
    pub(crate) struct Credentials {
        pub(crate) user: String,
        pub(crate) pass: String,
    }

    #[derive(Debug, Serialize, Deserialize)]
    pub(crate) struct Vault {
        pub(crate) jwt_secret: SecretString,
        pub(crate) db: SecretUrl,
        pub(crate) pin: Secret<u32>,
        pub(crate) upstreams: Vec<SecretString>,
        pub(crate) credentials: Credentials,
    }

    impl Section for Vault {
        fn defaults(_env: AppEnv) -> Self {
            Vault {
                jwt_secret: SecretString::from(LOCAL_JWT),
                db: SecretUrl::from(LOCAL_DB),
                pin: Secret::new(1234),
                upstreams: Vec::new(),
                credentials: Credentials::default(),
            }
        }
        fn register(reg: &mut Registry<'_, Self>) {
            reg.secret("jwt_secret")
                .database_url("db")
                .secret("credentials");
        }
    }
}

#[test]
fn secret_defaults_and_overrides_load_their_real_values() {
    let s = Scratch::new();
    let loaded = s.loader([]).load::<vault::Vault>().unwrap();
    let c = loaded.config();
    assert_eq!(c.jwt_secret.expose(), vault::LOCAL_JWT);
    assert_eq!(c.db.expose(), vault::LOCAL_DB);
    assert_eq!(*c.pin.expose(), 1234);
    // Still redacted in explain.
    let table = loaded.explain().to_string();
    assert!(
        !table.contains(vault::LOCAL_JWT) && !table.contains("devpass"),
        "{table}"
    );

    let loaded = s
        .loader([])
        .set("jwt_secret", appenv_config::SecretString::from(SENTINEL))
        .load::<vault::Vault>()
        .unwrap();
    assert_eq!(loaded.config().jwt_secret.expose(), SENTINEL);
    assert_clean("explain with override", &loaded.explain().to_string());
    // Serializing a secret outside the loader still redacts.
    assert_eq!(
        serde_json::to_string(&loaded.config().jwt_secret).unwrap(),
        "\"[REDACTED]\""
    );
}

#[test]
fn loader_debug_never_prints_variable_or_override_values() {
    let db_url = format!("postgres://app:{DB_SENTINEL}@db/app");
    let loader = appenv_config::Loader::hermetic([
        ("JWT_SECRET", SENTINEL),
        ("DATABASE_URL", db_url.as_str()),
    ])
    .set("jwt_secret", SENTINEL);
    let debug = format!("{loader:?}");
    assert!(debug.contains("JWT_SECRET"), "{debug}");
    assert_clean("Loader Debug", &debug);
}

#[test]
fn secrets_inside_lists_and_tables_stay_redacted_in_explain() {
    let s = Scratch::new();
    // A list of secrets set in two files: the lower one is shadowed.
    s.write(
        "config/default.toml",
        &format!(
            "upstreams = [\"{SENTINEL}-low\"]\n[credentials]\nuser = \"svc\"\npass = \"{SENTINEL}\"\n"
        ),
    );
    s.write(
        "config/local.toml",
        &format!("upstreams = [\"{SENTINEL}-high\"]\n"),
    );
    let loaded = s.loader([]).load::<vault::Vault>().unwrap();
    assert_eq!(loaded.config().credentials.pass, SENTINEL);
    assert_clean("explain table", &loaded.explain().to_string());
    assert_clean("explain JSON", &loaded.explain().to_json().to_string());
    let pass = loaded.explain().get("credentials.pass").unwrap();
    assert_eq!(pass.value, "[REDACTED]");
}

#[test]
fn a_secret_typed_field_is_not_echoed_in_type_errors() {
    let s = Scratch::new();
    let err = s
        .loader([("PIN", SENTINEL)])
        .load::<vault::Vault>()
        .unwrap_err();
    assert!(err.to_string().contains("pin"), "{err}");
    assert!(err.to_string().contains("env PIN"), "{err}");
    assert_clean("type error", &err.to_string());
    assert_clean("type error Debug", &format!("{err:?}"));
}

#[test]
fn a_password_in_the_url_query_is_redacted() {
    let s = Scratch::new();
    let url = format!("postgres://app@db.internal/events?password={DB_SENTINEL}&sslmode=require");
    let loaded = s
        .load([("APP_ENV", "production"), ("DATABASE_URL", url.as_str())])
        .unwrap();
    assert_eq!(loaded.config().database.url.expose(), url);
    let entry = loaded.explain().get("database.url").unwrap();
    assert_eq!(
        entry.value,
        "postgres://app@db.internal/events?password=[REDACTED]&sslmode=require"
    );
    assert_clean("explain table", &loaded.explain().to_string());
    assert_clean("policy", &loaded.policy().to_string());
    assert_clean("url Debug", &format!("{:?}", loaded.config().database.url));
    let err = s
        .load([("DATABASE__MAX_CONNECTIONS", url.as_str())])
        .unwrap_err();
    assert_clean("type error", &err.to_string());
}
