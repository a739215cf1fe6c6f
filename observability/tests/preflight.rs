//! One preflight: every value `init` cannot run with is a `telemetry.invalid`
//! finding of the loader's policy (rule id, key, source), in every
//! environment, and a configuration the policy accepts never makes the
//! builder fail for a configuration reason.

use appenv_config::{AppEnv, Loaded, Loader};
use appenv_observability::{Error, TelemetryBuilder, TelemetryConfig};

fn load(env: AppEnv, vars: &[(&str, &str)]) -> Loaded<TelemetryConfig> {
    let mut all = vec![("APP_ENV", env.as_str())];
    all.extend_from_slice(vars);
    Loader::hermetic(all)
        .load::<TelemetryConfig>()
        .unwrap_or_else(|err| {
            panic!("{vars:?} loads (refused by policy, not by the loader): {err}")
        })
}

/// Each case: the variables and the key the finding must name.
const REFUSED: &[(&[(&str, &str)], &str)] = &[
    (&[("OTEL_TRACES_SAMPLER_ARG", "1.5")], "traces_sampler_arg"),
    (&[("OTEL_TRACES_SAMPLER_ARG", "-0.1")], "traces_sampler_arg"),
    (
        &[("OTEL_METRIC_EXPORT_INTERVAL", "0")],
        "metric_export_interval_ms",
    ),
    (&[("OTEL_EXPORTER_OTLP_TIMEOUT", "0")], "otlp_timeout_ms"),
    (&[("OTEL_SHUTDOWN_TIMEOUT", "0")], "shutdown_timeout_ms"),
    (
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317")],
        "otlp_endpoint",
    ),
    (
        &[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "ftp://collector:21")],
        "otlp_traces_endpoint",
    ),
    (
        &[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")],
        "otlp_protocol",
    ),
    (&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grcp")], "otlp_protocol"),
    (&[("OTEL_TRACES_EXPORTER", "zipkin")], "traces_exporter"),
    (
        &[("OTEL_METRICS_EXPORTER", "prometheus")],
        "metrics_exporter",
    ),
    (&[("OTEL_LOGS_EXPORTER", "logging")], "logs_exporter"),
    (
        &[("OTEL_TRACES_SAMPLER", "jaeger_remote")],
        "traces_sampler",
    ),
    (&[("OTEL_PROPAGATORS", "tracecontext,b3")], "propagators"),
    (
        &[("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd")],
        "otlp_compression",
    ),
    (
        &[("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip9")],
        "otlp_compression",
    ),
    (&[("RUST_LOG", "info,my_app=loud")], "rust_log"),
    (&[("OTEL_SERVICE_NAME", "   ")], "service_name"),
];

#[test]
fn every_value_init_refuses_is_a_policy_finding_in_every_environment() {
    for env in AppEnv::ALL {
        for (vars, key) in REFUSED {
            let loaded = load(env, vars);
            let report = loaded.policy();
            let finding = report
                .violations
                .iter()
                .find(|f| f.rule == "telemetry.invalid")
                .unwrap_or_else(|| panic!("{env}: {vars:?} not refused:\n{report}"));
            assert_eq!(finding.key, *key, "{env}: {vars:?}");
            assert!(
                finding.source.to_string().contains(vars[0].0),
                "{env}: source names the variable: {}",
                finding.source
            );
            assert!(finding.message.contains(vars[0].0), "{}", finding.message);
            assert!(!report.is_ok(), "{env}: {vars:?} refused");
            // Not waivable: the same configuration cannot run anywhere.
            let waived = {
                let mut with_allow = vars.to_vec();
                with_allow.push(("POLICY_ALLOW", "telemetry.invalid"));
                load(env, &with_allow)
            };
            assert!(!waived.policy().is_ok(), "{env}: {vars:?} waived");
            // And init refuses it with the same key.
            match TelemetryBuilder::new(env, loaded.config()).build() {
                Err(Error::InvalidConfig { key: refused, .. }) => assert_eq!(refused, *key),
                other => panic!("{env}: {vars:?}: init gave {other:?}"),
            }
        }
    }
}

#[test]
fn the_endpoint_finding_never_prints_its_password() {
    let loaded = load(
        AppEnv::Production,
        &[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "ftp://user:SENTINEL-otlp-pw@collector:21",
        )],
    );
    let text = format!("{}\n{}", loaded.policy(), loaded.policy().to_json());
    assert!(text.contains("telemetry.invalid"), "{text}");
    assert!(!text.contains("SENTINEL-otlp-pw"), "{text}");
}

/// Configurations the policy accepts (in some environment) and that must
/// then build.
const ACCEPTED: &[&[(&str, &str)]] = &[
    &[],
    &[
        ("OTEL_TRACES_SAMPLER_ARG", "0"),
        ("OTEL_TRACES_SAMPLER", "traceidratio"),
    ],
    &[("OTEL_TRACES_SAMPLER_ARG", "1")],
    &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4317")],
    &[
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "https://collector.example.com:4318",
        ),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
    ],
    &[(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "https://collector.example.com:4317",
    )],
    &[("OTEL_PROPAGATORS", "none")],
    &[("OTEL_PROPAGATORS", "baggage")],
    &[
        ("OTEL_TRACES_EXPORTER", "none"),
        ("OTEL_METRICS_EXPORTER", "otlp"),
    ],
    &[("RUST_LOG", "info,my_app=warn")],
    &[("OTEL_SDK_DISABLED", "true")],
    &[("OTEL_METRIC_EXPORT_INTERVAL", "1")],
    &[
        ("OTEL_TRACES_EXPORTER", "console"),
        ("OTEL_METRICS_EXPORTER", "console"),
        ("OTEL_LOGS_EXPORTER", "console"),
    ],
];

#[tokio::test]
async fn a_configuration_the_policy_accepts_always_builds() {
    let mut corpus: Vec<&[(&str, &str)]> = ACCEPTED.to_vec();
    corpus.extend(REFUSED.iter().map(|(vars, _)| *vars));
    let mut built = 0;
    for env in AppEnv::ALL {
        for vars in &corpus {
            let loaded = load(env, vars);
            let refused_by_rule = loaded
                .policy()
                .violations
                .iter()
                .any(|f| f.rule == "telemetry.invalid");
            let result = TelemetryBuilder::new(env, loaded.config()).build();
            match result {
                Ok((_dispatch, guard)) => {
                    assert!(
                        !refused_by_rule,
                        "{env}: {vars:?} refused by check, built by init"
                    );
                    built += 1;
                    drop(guard);
                }
                Err(err @ (Error::InvalidConfig { .. } | Error::Filter { .. })) => {
                    assert!(
                        refused_by_rule,
                        "{env}: {vars:?} passed check, init said: {err}"
                    )
                }
                Err(other) => panic!("{env}: {vars:?}: {other}"),
            }
        }
    }
    // Without `tls` the two https:// cases are refused by both.
    let https = if cfg!(feature = "tls") { 0 } else { 2 };
    assert_eq!(built, (ACCEPTED.len() - https) * AppEnv::ALL.len());
}

#[cfg(not(feature = "tls"))]
#[test]
fn https_is_refused_by_the_policy_in_a_build_without_tls() {
    for env in AppEnv::ALL {
        let loaded = load(
            env,
            &[(
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "https://collector.example.com:4317",
            )],
        );
        let finding = loaded
            .policy()
            .violations
            .iter()
            .find(|f| f.rule == "telemetry.invalid")
            .unwrap_or_else(|| panic!("{env}: {}", loaded.policy()));
        assert_eq!(finding.key, "otlp_endpoint");
        assert!(
            finding.message.contains("`tls` feature"),
            "{}",
            finding.message
        );
    }
}
