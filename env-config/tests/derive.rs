//! `#[derive(Section)]` through the loader: defaults per environment,
//! aliases, secrets, database URLs, composed sections and rules, from a
//! crate that names nothing but `appenv_config` (and serde for its own
//! derives).

mod support;

use appenv_config::{
    AppEnv, Check, Error, Loaded, REDACTED, Registry, SecretString, SecretUrl, Section,
    ServerConfig,
};
use serde::{Deserialize, Serialize};
use support::{DB_SENTINEL, SENTINEL, STRONG, Scratch};

/// A rule id given as a constant, as crates that export their ids do.
const RULE_QUEUE_DEPTH: &str = "billing.queue-depth";

#[derive(Debug, Serialize, Deserialize, Section)]
#[config(rule(id = "billing.webhook-https", check = webhook_https))]
#[config(rule(id = "billing.local-only", check = |check: &mut Check<'_>, cfg: &Service| {
    if cfg.name == "forbidden" {
        check.deny("name", "this name is reserved", "pick another SERVICE_NAME");
    }
    Ok(())
}))]
struct Service {
    #[config(section)]
    server: ServerConfig,
    #[config(section)]
    billing: Billing,
    #[config(section, default_fn = jobs_defaults)]
    jobs: Jobs,
    #[config(secret, alias = "API_TOKEN", alias = "TOKEN")]
    api_token: Option<SecretString>,
    #[config(default = "notes", alias = "SERVICE_NAME")]
    name: String,
    #[config(
        default = "http://localhost:9000",
        production = "https://hooks.example.com"
    )]
    webhook_url: String,
    tags: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, Section)]
#[config(rule(id = RULE_QUEUE_DEPTH, check = queue_depth))]
struct Billing {
    #[config(database_url, alias = "BILLING_DATABASE_URL")]
    #[config(default = "sqlite://data/billing.db")]
    database_url: SecretUrl,
    #[config(default = 5, staging = 10, production = 20)]
    pool: u32,
    #[config(local = 0, default = 64)]
    queue_depth: u32,
    #[config(default = true, local = false, alias_inverted = "DISABLE_INVOICES")]
    invoices: bool,
    #[config(default_fn = retry_ms)]
    retry_ms: u64,
}

#[derive(Debug, Serialize, Deserialize, Section)]
struct Jobs {
    #[config(default = 2, alias = "JOB_WORKERS")]
    workers: u32,
    #[config(alias_inverted = "NO_JOB_SCHEDULER", default = true)]
    scheduler: bool,
}

fn jobs_defaults(env: AppEnv) -> Jobs {
    let mut jobs = Jobs::defaults(env);
    if env.is_production() {
        jobs.workers = 8;
    }
    jobs
}

fn retry_ms(env: AppEnv) -> u64 {
    match env {
        AppEnv::Local => 10,
        AppEnv::Staging => 100,
        AppEnv::Production => 1_000,
    }
}

fn webhook_https(check: &mut Check<'_>, cfg: &Service) -> Result<(), Error> {
    if check.env().is_production() && !cfg.webhook_url.starts_with("https://") {
        check.violation(
            "webhook_url",
            "webhooks are sent unencrypted",
            "use an https:// URL",
        );
    }
    Ok(())
}

fn queue_depth(check: &mut Check<'_>, cfg: &Billing) -> Result<(), Error> {
    if cfg.queue_depth > 1_000 {
        check.violation(
            "queue_depth",
            "a queue this deep hides outages",
            "keep it at 1000 or less",
        );
    }
    Ok(())
}

fn load(scratch: &Scratch, vars: &[(&str, &str)]) -> Loaded<Service> {
    scratch
        .loader(vars.iter().copied())
        .load::<Service>()
        .expect("the configuration loads")
}

fn rules(loaded: &Loaded<Service>) -> Vec<(&'static str, String)> {
    let report = loaded.policy();
    report
        .violations
        .iter()
        .chain(&report.warnings)
        .map(|f| (f.rule, f.key.clone()))
        .collect()
}

#[test]
fn defaults_follow_each_environment() {
    let cases = [
        (AppEnv::Local, 5, 0, false, 10, 2, "http://localhost:9000"),
        (
            AppEnv::Staging,
            10,
            64,
            true,
            100,
            2,
            "http://localhost:9000",
        ),
        (
            AppEnv::Production,
            20,
            64,
            true,
            1_000,
            8,
            "https://hooks.example.com",
        ),
    ];
    for (env, pool, depth, invoices, retry, workers, webhook) in cases {
        let defaults = Service::defaults(env);
        assert_eq!(defaults.billing.pool, pool, "{env}");
        assert_eq!(defaults.billing.queue_depth, depth, "{env}");
        assert_eq!(defaults.billing.invoices, invoices, "{env}");
        assert_eq!(defaults.billing.retry_ms, retry, "{env}");
        assert_eq!(defaults.jobs.workers, workers, "{env}");
        assert_eq!(defaults.webhook_url, webhook, "{env}");
        assert_eq!(defaults.name, "notes");
        assert!(defaults.jobs.scheduler);
        // No attribute: `Default::default()`.
        assert!(defaults.tags.is_empty() && defaults.api_token.is_none());
        // A composed section keeps its own defaults.
        assert_eq!(defaults.server, ServerConfig::defaults(env));
        assert_eq!(
            defaults.billing.database_url.expose(),
            "sqlite://data/billing.db"
        );
    }

    // Through the loader, with the environment taken from APP_ENV.
    let scratch = Scratch::new();
    let staging = load(&scratch, &[("APP_ENV", "staging"), ("API_TOKEN", STRONG)]);
    assert_eq!(staging.config().billing.pool, 10);
    let entry = staging.explain().get("billing.pool").expect("explained");
    assert_eq!(entry.source, "default");
}

#[test]
fn aliases_set_their_keys_and_inverted_aliases_flip_booleans() {
    let scratch = Scratch::new();
    let loaded = load(
        &scratch,
        &[
            ("APP_ENV", "staging"),
            ("TOKEN", STRONG),
            ("SERVICE_NAME", "ledger"),
            ("DISABLE_INVOICES", "true"),
            ("NO_JOB_SCHEDULER", "1"),
            ("JOB_WORKERS", "6"),
            ("BILLING_POOL", "3"),
            ("TAGS", "a, b"),
        ],
    );
    let config = loaded.config();
    assert_eq!(
        config.api_token.as_ref().map(|t| t.expose().len()),
        Some(STRONG.len())
    );
    assert_eq!(config.name, "ledger");
    assert!(!config.billing.invoices);
    assert!(!config.jobs.scheduler);
    assert_eq!(config.jobs.workers, 6);
    // The full-path name works without an alias.
    assert_eq!(config.billing.pool, 3);
    assert_eq!(config.tags, ["a", "b"]);
    let explain = loaded.explain();
    assert_eq!(explain.get("api_token").unwrap().source, "env TOKEN");
    assert_eq!(
        explain.get("billing.invoices").unwrap().source,
        "env DISABLE_INVOICES"
    );
    assert_eq!(
        explain.get("jobs.workers").unwrap().source,
        "env JOB_WORKERS"
    );

    // Inverted the other way: DISABLE_INVOICES=false turns local's `false` on.
    let local = load(&scratch, &[("DISABLE_INVOICES", "false")]);
    assert!(local.config().billing.invoices);
}

#[test]
fn secrets_are_redacted_and_required_in_production() {
    let scratch = Scratch::new();
    let loaded = load(&scratch, &[("API_TOKEN", SENTINEL)]);
    let explain = loaded.explain();
    assert_eq!(explain.get("api_token").unwrap().value, REDACTED);
    for out in [
        explain.to_string(),
        loaded.explain_json().to_string(),
        loaded.check_json().to_string(),
        format!("{:?}", loaded.config()),
    ] {
        assert!(!out.contains(SENTINEL), "{out}");
    }

    let production = load(
        &scratch,
        &[
            ("APP_ENV", "production"),
            (
                "BILLING_DATABASE_URL",
                "postgres://billing:pw@db.internal/billing?sslmode=require",
            ),
        ],
    );
    assert!(
        rules(&production).contains(&("secret.missing", "api_token".to_owned())),
        "{}",
        production.policy()
    );
    let short = load(
        &scratch,
        &[("APP_ENV", "production"), ("TOKEN", "short-sentinel")],
    );
    assert!(rules(&short).contains(&("secret.too-short", "api_token".to_owned())));
    assert!(!short.policy().to_string().contains("short-sentinel"));
}

#[test]
fn database_urls_get_the_database_rules_and_redaction() {
    let scratch = Scratch::new();
    let url = format!("postgres://billing:{DB_SENTINEL}@localhost/billing?sslmode=disable");
    let production = load(
        &scratch,
        &[
            ("APP_ENV", "production"),
            ("API_TOKEN", STRONG),
            ("BILLING_DATABASE_URL", url.as_str()),
        ],
    );
    let found = rules(&production);
    assert!(
        found.contains(&("database.loopback-host", "billing.database_url".to_owned())),
        "{found:?}"
    );
    assert!(
        found.contains(&("database.tls-disabled", "billing.database_url".to_owned())),
        "{found:?}"
    );
    for out in [
        production.explain().to_string(),
        production.explain_json().to_string(),
        production.check_json().to_string(),
        production.policy().to_string(),
    ] {
        assert!(!out.contains(DB_SENTINEL), "{out}");
    }

    // Local's SQLite default passes; production refuses SQLite.
    let local = load(&scratch, &[]);
    assert!(local.policy().is_ok(), "{}", local.policy());
    let sqlite = load(
        &scratch,
        &[("APP_ENV", "production"), ("API_TOKEN", STRONG)],
    );
    assert!(
        rules(&sqlite).contains(&(
            "database.sqlite-in-production",
            "billing.database_url".to_owned()
        )),
        "{}",
        sqlite.policy()
    );
}

#[test]
fn composed_sections_register_their_keys_under_the_field() {
    let scratch = Scratch::new();
    let loaded = load(
        &scratch,
        &[
            ("PORT", "4100"),
            ("HOST", "0.0.0.0"),
            ("ENABLE_DEBUG_ENDPOINTS", "false"),
        ],
    );
    assert_eq!(loaded.config().server.port, 4100);
    let explain = loaded.explain();
    for key in [
        "server.port",
        "server.host",
        "server.trusted_proxies",
        "billing.database_url",
        "billing.pool",
        "jobs.workers",
        "jobs.scheduler",
        "api_token",
        "tags",
    ] {
        assert!(explain.get(key).is_some(), "{key} is not explained");
    }
    assert_eq!(explain.get("server.port").unwrap().source, "env PORT");
    // ServerConfig's own rules run inside the composed struct.
    let production = load(
        &scratch,
        &[
            ("APP_ENV", "production"),
            ("ENABLE_DEBUG_ENDPOINTS", "true"),
            ("CORS_ORIGIN", "*"),
        ],
    );
    let found = rules(&production);
    assert!(found.contains(&(
        "server.debug-endpoints",
        "server.debug_endpoints".to_owned()
    )));
    assert!(found.contains(&("cors.wildcard", "server.cors_origin".to_owned())));
}

#[test]
fn struct_rules_are_registered_and_fire() {
    let scratch = Scratch::new();
    let production = load(
        &scratch,
        &[
            ("APP_ENV", "production"),
            ("API_TOKEN", STRONG),
            (
                "BILLING_DATABASE_URL",
                "postgres://billing:pw@db.internal/billing?sslmode=require",
            ),
            ("WEBHOOK_URL", "http://hooks.internal"),
            ("BILLING_QUEUE_DEPTH", "5000"),
        ],
    );
    let found = rules(&production);
    assert_eq!(
        found,
        [
            ("billing.queue-depth", "billing.queue_depth".to_owned()),
            ("billing.webhook-https", "webhook_url".to_owned()),
        ],
        "{}",
        production.policy()
    );

    // A closure rule, refused in every environment.
    let local = load(&scratch, &[("SERVICE_NAME", "forbidden")]);
    assert_eq!(local.policy().violations[0].rule, "billing.local-only");

    // Derived rule ids are known: waiving one is not an unknown waiver.
    let waived = load(
        &scratch,
        &[
            ("APP_ENV", "production"),
            ("API_TOKEN", STRONG),
            (
                "BILLING_DATABASE_URL",
                "postgres://billing:pw@db.internal/billing?sslmode=require",
            ),
            ("WEBHOOK_URL", "http://hooks.internal"),
            ("POLICY_ALLOW", "billing.webhook-https"),
        ],
    );
    assert!(waived.policy().is_ok(), "{}", waived.policy());
    assert_eq!(waived.policy().waived[0].rule, "billing.webhook-https");
    assert!(
        !waived
            .warnings()
            .iter()
            .any(|w| w.rule == "config.unknown-waiver"),
        "{:?}",
        waived.warnings()
    );
}

#[derive(Debug, Serialize, Deserialize, Section)]
#[serde(rename_all = "camelCase")]
struct Renamed {
    #[config(default = 3, alias = "RETRIES")]
    max_retries: u32,
    #[serde(rename = "token")]
    #[config(secret)]
    api_token: Option<SecretString>,
    #[serde(flatten)]
    #[config(section)]
    labels: Labels,
}

/// Flattened: serde buffers a flattened struct's values, so variables can
/// set only its string keys (numbers and booleans from variables stay
/// strings); nest sections that hold anything else.
#[derive(Debug, Serialize, Deserialize, Section)]
struct Labels {
    #[config(default = "core", alias = "TEAM")]
    team: String,
}

#[test]
fn serde_renames_rename_the_registered_keys() {
    let scratch = Scratch::new();
    let loaded = scratch
        .loader([("RETRIES", "9"), ("TOKEN", SENTINEL), ("TEAM", "payments")])
        .load::<Renamed>()
        .unwrap();
    assert_eq!(loaded.config().max_retries, 9);
    assert_eq!(loaded.config().labels.team, "payments");
    let explain = loaded.explain();
    assert_eq!(explain.get("maxRetries").unwrap().source, "env RETRIES");
    assert_eq!(explain.get("token").unwrap().value, REDACTED);
    // The flattened section's alias lands on its key at the top level.
    assert_eq!(explain.get("team").unwrap().source, "env TEAM");
    assert!(!explain.to_string().contains(SENTINEL));
}

/// The same section written by hand, as before the derive.
#[derive(Debug, Serialize, Deserialize)]
struct HandBilling {
    database_url: SecretUrl,
    pool: u32,
    queue_depth: u32,
    invoices: bool,
    retry_ms: u64,
}

impl Section for HandBilling {
    fn defaults(env: AppEnv) -> Self {
        HandBilling {
            database_url: "sqlite://data/billing.db".into(),
            pool: match env {
                AppEnv::Local => 5,
                AppEnv::Staging => 10,
                AppEnv::Production => 20,
            },
            queue_depth: if env.is_local() { 0 } else { 64 },
            invoices: !env.is_local(),
            retry_ms: retry_ms(env),
        }
    }

    fn register(reg: &mut Registry<'_, Self>) {
        reg.alias("BILLING_DATABASE_URL", "database_url")
            .database_url("database_url")
            .alias_inverted("DISABLE_INVOICES", "invoices")
            .rule(RULE_QUEUE_DEPTH, |check, cfg: &HandBilling| {
                if cfg.queue_depth > 1_000 {
                    check.violation(
                        "queue_depth",
                        "a queue this deep hides outages",
                        "keep it at 1000 or less",
                    );
                }
                Ok(())
            });
    }
}

#[test]
fn a_derived_section_loads_exactly_like_the_hand_written_one() {
    let scratch = Scratch::new();
    let inputs: [&[(&str, &str)]; 4] = [
        &[],
        &[("APP_ENV", "staging"), ("DISABLE_INVOICES", "yes")],
        &[
            ("APP_ENV", "production"),
            ("BILLING_DATABASE_URL", "postgres://b:pw@127.0.0.1/b"),
            ("QUEUE_DEPTH", "7000"),
        ],
        &[
            ("APP_ENV", "production"),
            ("DATABASE_URL", "mysql://x@db/prod"),
        ],
    ];
    for vars in inputs {
        let derived = scratch
            .loader(vars.iter().copied())
            .load::<Billing>()
            .unwrap();
        let hand = scratch
            .loader(vars.iter().copied())
            .load::<HandBilling>()
            .unwrap();
        assert_eq!(derived.explain_json(), hand.explain_json(), "{vars:?}");
        assert_eq!(derived.check_json(), hand.check_json(), "{vars:?}");
    }
}
