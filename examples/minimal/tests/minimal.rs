//! example-minimal end to end: the real binary, over HTTP.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn command(vars: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_example-minimal"));
    let dir = std::env::temp_dir();
    cmd.env_clear()
        .envs(vars.iter().copied())
        .current_dir(dir)
        .stdin(Stdio::null());
    cmd
}

#[test]
fn serves_hello_in_local_without_rate_limit_headers() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = command(&[("PORT", &port.to_string())])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Killed(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    let response = loop {
        match reqwest::blocking::get(format!("http://127.0.0.1:{port}/")) {
            Ok(response) => break response,
            Err(_) if Instant::now() < deadline => {
                assert!(
                    child.0.try_wait().unwrap().is_none(),
                    "example-minimal exited"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(err) => panic!("example-minimal never answered: {err}"),
        }
    };
    assert_eq!(response.status(), 200);
    assert!(
        response.headers().get("x-request-id").is_some(),
        "telemetry layer"
    );
    assert!(
        response.headers().get("ratelimit").is_none(),
        "rate limiting is off in local"
    );
    assert_eq!(response.text().unwrap(), "hello\n");
}

#[test]
fn production_refuses_cors_wildcard_with_exit_78() {
    let out = command(&[("APP_ENV", "production"), ("CORS_ORIGIN", "*")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cors.wildcard") && stderr.contains("env CORS_ORIGIN"),
        "{stderr}"
    );
}
