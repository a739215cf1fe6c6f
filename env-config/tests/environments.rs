//! Named environments, the unset-`APP_ENV` guard, and the loader's
//! correctness fixes: layered `NAME_FILE`, secret-file size, non-UTF-8
//! variables, file keys no section knows, duplicate `.env` names, and the
//! JSON forms of `check` for load errors.

mod support;

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use appenv_config::{AppEnv, Error, Loader, MAX_SECRET_FILE_BYTES};
use support::{Config, STRONG, Scratch};

fn declare_preview(s: &Scratch) {
    s.write(
        "config/default.toml",
        "name = \"events\"\n\n[environments]\npreview = \"staging\"\ntest = \"local\"\n",
    );
}

#[test]
fn a_named_environment_gets_its_tiers_defaults_policy_and_files() {
    let s = Scratch::new();
    declare_preview(&s);
    s.write("config/staging.toml", "[server]\nport = 4100\n");
    s.write("config/preview.toml", "name = \"events-preview\"\n");
    let loaded = s.load([("APP_ENV", "Preview")]).unwrap();

    assert_eq!(loaded.env(), AppEnv::Staging);
    assert_eq!(loaded.environment().name(), "preview");
    // The tier's defaults: staging binds every interface.
    assert_eq!(loaded.config().server.host.to_string(), "0.0.0.0");
    // config/staging.toml, then config/preview.toml.
    assert_eq!(loaded.config().server.port, 4100);
    assert_eq!(loaded.config().name, "events-preview");
    assert!(
        loaded
            .explain()
            .get("name")
            .unwrap()
            .source
            .to_string()
            .ends_with("config/preview.toml:1")
    );

    let json = loaded.explain_json();
    assert_eq!(json["env"], "preview");
    assert_eq!(json["tier"], "staging");
    let check = loaded.check_json();
    assert_eq!(check["env"], "preview");
    assert_eq!(check["tier"], "staging");
    // `[environments]` is not configuration: no explain entry, and a
    // `deny_unknown_fields` service struct still loads.
    assert!(loaded.explain().get("environments.preview").is_none());
}

#[test]
fn a_named_environment_on_production_is_refused_like_production() {
    let s = Scratch::new();
    s.write(
        "config/default.toml",
        "[environments]\neu-prod = \"production\"\n",
    );
    let loaded = s.load([("APP_ENV", "eu-prod")]).unwrap();
    assert_eq!(loaded.env(), AppEnv::Production);
    let rules: Vec<_> = loaded.policy().violations.iter().map(|v| v.rule).collect();
    assert!(rules.contains(&"secret.missing"), "{rules:?}");
    assert!(loaded.enforce().is_err());
}

#[test]
fn undeclared_names_list_the_tiers_and_the_declared_names() {
    let s = Scratch::new();
    declare_preview(&s);
    let err = s.load([("APP_ENV", "qa")]).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::UnknownEnv { .. }), "{text}");
    assert!(text.contains("\"qa\""), "{text}");
    assert!(text.contains("production, prod"), "{text}");
    assert!(text.contains("preview (staging)"), "{text}");
    assert!(text.contains("test (local)"), "{text}");
}

#[test]
fn environments_declared_in_code_work_like_the_table() {
    let s = Scratch::new();
    let loaded = s
        .loader([("APP_ENV", "qa")])
        .environment("qa", AppEnv::Staging)
        .load::<Config>()
        .unwrap();
    assert_eq!(loaded.env(), AppEnv::Staging);
    assert_eq!(loaded.environment().name(), "qa");
}

#[test]
fn bad_environment_declarations_name_the_file_and_line() {
    let s = Scratch::new();
    s.write("config/default.toml", "[environments]\npreview = \"qa\"\n");
    let text = s.load([("APP_ENV", "preview")]).unwrap_err().to_string();
    assert!(text.contains("environments.preview"), "{text}");
    assert!(text.contains("default.toml:2"), "{text}");

    // A name that is already a tier's spelling would make APP_ENV ambiguous.
    s.write(
        "config/default.toml",
        "[environments]\nprod = \"staging\"\n",
    );
    let text = s.load([]).unwrap_err().to_string();
    assert!(text.contains("already names the production tier"), "{text}");

    // Declared only in default.toml.
    s.write("config/default.toml", "");
    s.write(
        "config/staging.toml",
        "[environments]\npreview = \"staging\"\n",
    );
    let text = s.load([("APP_ENV", "staging")]).unwrap_err().to_string();
    assert!(text.contains("declared in default.toml only"), "{text}");
    assert!(text.contains("staging.toml:2"), "{text}");
}

#[test]
fn an_unset_app_env_beside_a_sibling_naming_production_warns() {
    let s = Scratch::new();
    for (var, value) in [
        ("NODE_ENV", "production"),
        ("RAILS_ENV", "staging"),
        ("ENVIRONMENT", "prod"),
        ("APP_ENVIRONMENT", "PRODUCTION"),
        ("ENV", "stage"),
    ] {
        let loaded = s.load([(var, value)]).unwrap();
        assert_eq!(loaded.env(), AppEnv::Local);
        let warning = loaded
            .warnings()
            .iter()
            .find(|w| w.rule == "config.app-env-unset")
            .unwrap_or_else(|| panic!("no warning for {var}={value}"));
        assert!(warning.message.contains(var), "{warning}");
        assert_eq!(warning.source, format!("env {var}").as_str());
        assert!(warning.fix.contains("APP_ENV="), "{warning}");
        // `check --format json` carries it.
        let check = loaded.check_json();
        assert!(
            check["warnings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|w| w["rule"] == "config.app-env-unset"),
            "{check}"
        );
    }
    // Siblings that agree with local, and a set APP_ENV, stay quiet.
    for vars in [
        vec![("NODE_ENV", "development")],
        vec![("NODE_ENV", "test")],
        vec![("APP_ENV", "local"), ("NODE_ENV", "production")],
    ] {
        let loaded = s.load(vars.clone()).unwrap();
        assert!(
            loaded
                .warnings()
                .iter()
                .all(|w| w.rule != "config.app-env-unset"),
            "{vars:?}: {:?}",
            loaded.warnings()
        );
    }
}

#[test]
fn a_secret_file_from_the_environment_beats_the_value_in_dotenv() {
    let s = Scratch::new();
    s.write(".env", "JWT_SECRET=from-dotenv\n");
    let file = s.write("jwt", &format!("{STRONG}\n"));
    let loaded = s
        .load([("JWT_SECRET_FILE", file.to_str().unwrap())])
        .unwrap();
    let secret = loaded.config().jwt_secret.as_ref().unwrap();
    assert_eq!(secret.expose(), STRONG);
    let entry = loaded.explain().get("jwt_secret").unwrap();
    assert!(
        entry.source.to_string().starts_with("secret file"),
        "{entry:?}"
    );
    assert!(
        entry.shadowed[0].source.to_string().contains(".env:1"),
        "{entry:?}"
    );

    // And the other way round: the environment's value beats a file that
    // `.env` names, since the environment is the higher source.
    let s = Scratch::new();
    let file = s.write("jwt", "from-dotenv-file\n");
    s.write(".env", &format!("JWT_SECRET_FILE={}\n", file.display()));
    let loaded = s.load([("JWT_SECRET", STRONG)]).unwrap();
    assert_eq!(
        loaded.config().jwt_secret.as_ref().unwrap().expose(),
        STRONG
    );
}

#[test]
fn name_and_name_file_in_one_dotenv_conflict_naming_both_lines() {
    let s = Scratch::new();
    let file = s.write("jwt", "x\n");
    s.write(
        ".env",
        &format!("JWT_SECRET=a\nJWT_SECRET_FILE={}\n", file.display()),
    );
    let text = s.load([]).unwrap_err().to_string();
    assert!(text.contains(".env:1 (JWT_SECRET)"), "{text}");
    assert!(text.contains(".env:2 (JWT_SECRET_FILE)"), "{text}");
}

#[test]
fn an_oversized_secret_file_is_refused_naming_variable_and_path() {
    let s = Scratch::new();
    let big = "x".repeat(MAX_SECRET_FILE_BYTES as usize + 1);
    let file = s.write("big", &big);
    let err = s
        .load([("JWT_SECRET_FILE", file.to_str().unwrap())])
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::SecretFileTooLarge { .. }), "{text}");
    assert!(text.contains("JWT_SECRET_FILE"), "{text}");
    assert!(text.contains(&file.display().to_string()), "{text}");
    assert!(!text.contains("xxxx"), "{text}");

    // Exactly at the cap is fine.
    let file = s.write("edge", &"y".repeat(MAX_SECRET_FILE_BYTES as usize));
    assert!(
        s.load([("JWT_SECRET_FILE", file.to_str().unwrap())])
            .is_ok()
    );
}

fn os(text: &str) -> OsString {
    OsString::from(text)
}

fn not_utf8() -> OsString {
    OsString::from_vec(vec![b'a', 0xff, b'b'])
}

#[test]
fn a_non_utf8_value_is_an_error_when_the_configuration_reads_it() {
    for name in [
        "APP_ENV",
        "PORT",
        "JWT_SECRET",
        "JWT_SECRET_FILE",
        "DATABASE_URL",
    ] {
        let s = Scratch::new();
        let err = Loader::hermetic_os([(os(name), not_utf8())])
            .config_dir(s.config_dir())
            .dotenv_dir(s.path())
            .load::<Config>()
            .unwrap_err();
        assert!(matches!(err, Error::NotUnicode { .. }), "{name}: {err}");
        assert!(err.to_string().contains(name), "{err}");
    }
    // A variable the configuration does not read is none of its business.
    let s = Scratch::new();
    let loaded = Loader::hermetic_os([(os("SOME_TOOL_STATE"), not_utf8())])
        .config_dir(s.config_dir())
        .dotenv_dir(s.path())
        .load::<Config>();
    assert!(loaded.is_ok());
}

#[test]
fn a_file_key_no_section_knows_is_an_error_in_every_section() {
    let s = Scratch::new();
    // `Database` has no `deny_unknown_fields`; it is refused all the same.
    s.write(
        "config/production.toml",
        "\n[database]\nmax_conections = 3\n",
    );
    let err = s.load([("APP_ENV", "production")]).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::UnknownKey { .. }), "{text}");
    assert!(text.contains("production.toml:3"), "{text}");
    assert!(
        text.contains("did you mean `database.max_connections`"),
        "{text}"
    );

    // An unknown table names its file and line too.
    s.write("config/production.toml", "[databse]\nurl = \"x\"\n");
    let text = s.load([("APP_ENV", "production")]).unwrap_err().to_string();
    assert!(text.contains("production.toml:2"), "{text}");
    assert!(text.contains("`databse.url`"), "{text}");
}

#[test]
fn each_occurrence_of_a_duplicate_dotenv_name_reports_its_own_line() {
    let s = Scratch::new();
    s.write(".env", "PORT=4001\n# again\nPORT=4002\n");
    let loaded = s.load([]).unwrap();
    assert_eq!(loaded.config().server.port, 4002);
    let entry = loaded.explain().get("server.port").unwrap();
    assert!(entry.source.to_string().contains(".env:3"), "{entry:?}");
    assert!(
        entry.shadowed[0].source.to_string().contains(".env:1"),
        "{entry:?}"
    );
}

#[test]
fn load_errors_have_the_check_json_form() {
    let s = Scratch::new();
    let err = s.load([("PORT", "not-a-port")]).unwrap_err();
    let doc = err.to_json(Some("local"));
    assert_eq!(doc["env"], "local");
    let errors = doc["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["key"], "server.port");
    assert_eq!(errors[0]["source"], "env PORT");
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .contains("not-a-port")
    );
    assert_eq!(doc["violations"], serde_json::json!([]));

    // A policy refusal keeps its violations and has no errors.
    let loaded = s.load([("APP_ENV", "production")]).unwrap();
    let doc = loaded.enforce().unwrap_err().to_json(Some("production"));
    assert!(!doc["violations"].as_array().unwrap().is_empty());
    assert_eq!(doc["errors"], serde_json::json!([]));
}

#[test]
fn dotenv_substitution_reads_the_hermetic_variables_never_the_real_environment() {
    // PATH is set in every real process environment, the test runner's
    // included; a hermetic load must not see it.
    assert!(std::env::var_os("PATH").is_some());
    let s = Scratch::new();
    s.write(".env", "NAME=${PATH}-x\n");
    let loaded = s.load([]).unwrap();
    assert_eq!(loaded.config().name, "-x");
    let loaded = s.load([("PATH", "/hermetic/bin")]).unwrap();
    assert_eq!(loaded.config().name, "/hermetic/bin-x");

    // Earlier lines and `.env` before `.env.local` resolve too.
    s.write(".env", "BASE=events\n");
    s.write(".env.local", "NAME=\"${BASE}-local\"\n");
    let loaded = s.load([]).unwrap();
    assert_eq!(loaded.config().name, "events-local");
}
