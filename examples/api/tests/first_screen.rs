//! The local first screen of `cargo run -p example-api`: short, the
//! service's own story (where it listens, the environment, the database,
//! how to get a token), no dependency debug output, no registry paths, no
//! blank messages.

mod support;

use support::*;

const OWN: [&str; 2] = ["appenv", "example_api"];

/// `(level, target, rest)` of a pretty header line.
fn header(line: &str) -> Option<(&str, &str, &str)> {
    if !line.starts_with("20") {
        return None;
    }
    let mut parts = line.splitn(2, ' ');
    parts.next()?;
    let rest = parts.next()?.trim_start();
    let (level, rest) = rest.split_once(' ')?;
    let (target, message) = rest
        .split_once(": ")
        .unwrap_or((rest.trim_end_matches(':'), ""));
    Some((level, target, message))
}

fn assert_quiet(output: &str) {
    assert!(
        !output.contains(".cargo/registry"),
        "registry path:\n{output}"
    );
    assert!(!output.contains("/rustc/"), "std path:\n{output}");
    assert!(
        !output.contains("provider is set"),
        "SDK chatter:\n{output}"
    );
    for line in output.lines() {
        let Some((level, target, message)) = header(line) else {
            continue;
        };
        if matches!(level, "DEBUG" | "TRACE") {
            assert!(
                OWN.iter().any(|own| target.starts_with(own)),
                "dependency line below info: {line}"
            );
        }
        assert!(
            !message.trim().is_empty() && !message.starts_with(','),
            "line without a message: {line}"
        );
    }
}

#[test]
fn the_local_first_screen_is_short_and_says_what_matters() {
    let setup = Setup::new(&[]);
    let server = setup.spawn().ready();
    assert_eq!(server.get("/v1/events").status(), 200);
    assert_eq!(server.get("/readyz").status(), 200);
    server.terminate();
    let (code, output) = server.wait();
    assert_eq!(code, Some(0), "{output}");
    assert_quiet(&output);

    let startup: Vec<&str> = output
        .lines()
        .take_while(|l| !l.contains("appenv_observability::access"))
        .collect();
    let startup_text = startup.join("\n");
    assert!(
        startup.len() <= 30,
        "{} lines:\n{startup_text}",
        startup.len()
    );
    for what in [
        "listening on http://127.0.0.1:",
        "running as local",
        "sqlite://data/example-api.db",
        "example-api token --sub",
    ] {
        assert!(
            startup_text.contains(what),
            "{what} missing:\n{startup_text}"
        );
    }
    // One access line for the API call, none for the probe.
    let access = output
        .lines()
        .filter(|l| l.contains("appenv_observability::access"));
    assert_eq!(access.count(), 1, "{output}");
}

#[test]
fn export_failures_have_a_message() {
    // A collector that is not there: the SDK's export errors still read.
    let port = free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let setup = Setup::new(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_SHUTDOWN_TIMEOUT", "2000"),
    ]);
    let server = setup.spawn().ready();
    assert_eq!(server.get("/v1/events").status(), 200);
    server.terminate();
    let (code, output) = server.wait();
    assert_eq!(code, Some(0), "{output}");
    assert_quiet(&output);
}
