//! `TelemetryConfig` through appenv-config's hermetic loader: variable
//! names, invalid values and the production rules.

use appenv_config::{AppEnv, Loader, Registry, Section};
use appenv_observability::{LogFormat, LogLevel, OtlpProtocol, SamplerKind, TelemetryConfig};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct Config {
    telemetry: TelemetryConfig,
}

impl Section for Config {
    fn defaults(env: AppEnv) -> Self {
        Config {
            telemetry: TelemetryConfig::defaults(env),
        }
    }
    fn register(reg: &mut Registry<'_, Self>) {
        reg.section::<TelemetryConfig>("telemetry");
    }
}

fn load(vars: &[(&str, &str)]) -> Result<appenv_config::Loaded<Config>, appenv_config::Error> {
    Loader::hermetic(vars.iter().copied()).load::<Config>()
}

#[test]
fn standard_variables_set_the_section() {
    let loaded = load(&[
        ("APP_ENV", "staging"),
        ("LOG_LEVEL", "warn"),
        ("LOG_FORMAT", "compact"),
        ("RUST_LOG", "info,my_app=debug"),
        ("OTEL_SERVICE_NAME", "orders"),
        ("SERVICE_VERSION", "2.0.1"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://traces:4318/v1/traces",
        ),
        ("OTEL_TRACES_SAMPLER", "traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
        ("OTEL_SDK_DISABLED", "true"),
        ("LOG_REDACT_FIELDS", "ssn,iban"),
        ("OTEL_LOGS_EXPORTER", "none"),
    ])
    .unwrap();
    let t = &loaded.config().telemetry;
    assert_eq!(t.log_level, LogLevel::Warn);
    assert_eq!(t.log_format, LogFormat::Compact);
    assert_eq!(t.rust_log, "info,my_app=debug");
    assert_eq!(t.service_name, "orders");
    assert_eq!(t.service_version, "2.0.1");
    assert_eq!(t.otlp_protocol, OtlpProtocol::HttpProtobuf);
    assert_eq!(t.otlp_traces_endpoint, "http://traces:4318/v1/traces");
    assert_eq!(t.traces_sampler, SamplerKind::TraceIdRatio);
    assert_eq!(t.traces_sampler_arg, 0.25);
    assert!(t.sdk_disabled);
    assert_eq!(t.redact_fields, vec!["ssn".to_owned(), "iban".to_owned()]);
    assert_eq!(t.logs_exporter, appenv_observability::ExporterKind::None);
    assert_eq!(t.traces_exporter, appenv_observability::ExporterKind::Otlp);
}

#[test]
fn environment_defaults_apply_when_nothing_is_set() {
    let local = load(&[]).unwrap();
    assert_eq!(local.config().telemetry.log_format, LogFormat::Pretty);
    assert_eq!(local.config().telemetry.log_level, LogLevel::Debug);
    let prod = load(&[("APP_ENV", "production"), ("OTEL_SDK_DISABLED", "true")]).unwrap();
    assert_eq!(prod.config().telemetry.log_format, LogFormat::Json);
    assert_eq!(prod.config().telemetry.log_level, LogLevel::Info);
    assert!(prod.policy().is_ok(), "{:?}", prod.policy());
}

#[test]
fn invalid_values_name_the_variable() {
    // appenv's own settings: load errors.
    for (var, value) in [("LOG_FORMAT", "xml"), ("LOG_LEVEL", "loud")] {
        let err = load(&[("APP_ENV", "staging"), (var, value)])
            .unwrap_err()
            .to_string();
        assert!(err.contains(var), "{var}={value}: {err}");
    }
    // OpenTelemetry names this build does not support: policy findings
    // (tests/preflight.rs covers the rest).
    for (var, value) in [
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_TRACES_SAMPLER", "sometimes"),
        ("OTEL_LOGS_EXPORTER", "logging"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd"),
    ] {
        let loaded = load(&[("APP_ENV", "staging"), (var, value)]).unwrap();
        let finding = &loaded.policy().violations[0];
        assert_eq!(finding.rule, "telemetry.invalid");
        assert!(finding.message.contains(var), "{var}={value}: {finding:?}");
    }
}

#[test]
fn production_rules_flag_debug_pretty_and_plaintext_and_warn_on_missing_endpoint() {
    let loaded = load(&[
        ("APP_ENV", "production"),
        ("LOG_LEVEL", "debug"),
        ("LOG_FORMAT", "pretty"),
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://collector.internal:4317",
        ),
    ])
    .unwrap();
    let rules: Vec<_> = loaded.policy().violations.iter().map(|f| f.rule).collect();
    for rule in [
        "telemetry.debug-level",
        "telemetry.pretty-format",
        "telemetry.otlp-plaintext",
    ] {
        assert!(rules.contains(&rule), "{rule} missing from {rules:?}");
    }
    assert!(loaded.enforce().is_err());

    let loaded = load(&[("APP_ENV", "production")]).unwrap();
    assert!(loaded.policy().is_ok(), "{:?}", loaded.policy());
    let warnings: Vec<_> = loaded.policy().warnings.iter().map(|f| f.rule).collect();
    assert!(warnings.contains(&"telemetry.otlp-missing"), "{warnings:?}");

    let loaded = load(&[
        ("APP_ENV", "production"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317"),
    ])
    .unwrap();
    assert!(
        loaded.policy().is_ok(),
        "loopback is fine: {:?}",
        loaded.policy()
    );
}

#[test]
fn staging_only_warns() {
    let loaded = load(&[("APP_ENV", "staging"), ("LOG_FORMAT", "pretty")]).unwrap();
    assert!(loaded.policy().is_ok(), "{:?}", loaded.policy());
}

#[test]
fn rules_can_be_waived_by_id() {
    let loaded = load(&[
        ("APP_ENV", "production"),
        ("LOG_LEVEL", "debug"),
        ("POLICY_ALLOW", "telemetry.debug-level"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4317"),
    ])
    .unwrap();
    assert!(loaded.policy().is_ok(), "{:?}", loaded.policy());
    assert_eq!(loaded.policy().waived.len(), 1);
}
