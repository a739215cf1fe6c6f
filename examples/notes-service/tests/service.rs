//! notes-service as its users run it: the real binary against a real
//! PostgreSQL, one temporary database per test. Local applies migrations
//! at startup; staging and production verify them and refuse pending ones
//! until the release step (`migrate up`) ran; production refuses an unsafe
//! configuration, listing every violation; SIGTERM drains a request in
//! flight before the process exits 0.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use appenv_testkit::{TempDatabase, free_port, postgres_url, terminate};

const BIN: &str = env!("CARGO_BIN_EXE_notes-service");
/// The test server is loopback without TLS: waived, as an operator would
/// waive them on purpose (and the waiver is logged).
const TEST_SERVER_WAIVERS: &str = "database.loopback-host,database.tls-optional";

fn command(env: &str, database: &str, vars: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("APP_ENV", env)
        .env("DATABASE_URL", database)
        .envs(vars.iter().copied())
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::null());
    cmd
}

fn run(env: &str, database: &str, vars: &[(&str, &str)], args: &[&str]) -> (Option<i32>, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = command(env, database, vars).args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&stdout),
        String::from_utf8_lossy(&stderr)
    );
    (status.code(), text)
}

/// A running `serve`, its output collected as it comes.
struct Server {
    child: Child,
    port: u16,
    output: Arc<Mutex<String>>,
}

impl Server {
    fn start(env: &str, database: &str, vars: &[(&str, &str)]) -> Server {
        let port = free_port();
        let mut child = command(env, database, vars)
            .env("PORT", port.to_string())
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let output = Arc::new(Mutex::new(String::new()));
        for pipe in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let output = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let mut all = output.lock().unwrap();
                    all.push_str(&line);
                    all.push('\n');
                }
            });
        }
        let mut server = Server {
            child,
            port,
            output,
        };
        server.wait_for_output("listening on");
        server
    }

    fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Waits until the output contains `text` (the bound only catches a
    /// hang or an early exit).
    fn wait_for_output(&mut self, text: &str) {
        let start = Instant::now();
        while !self.output().contains(text) {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the readers finish the last lines.
                std::thread::sleep(Duration::from_millis(200));
                panic!("exited ({status}) before `{text}`:\n{}", self.output());
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "no `{text}` after 120 s:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn get(&self, path: &str) -> reqwest::blocking::Response {
        reqwest::blocking::get(format!("http://127.0.0.1:{}{path}", self.port)).unwrap()
    }

    fn wait(mut self) -> (Option<i32>, String) {
        let status = self.child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        (status.code(), self.output())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn local_applies_pending_migrations_at_startup() {
    let Some(admin) = postgres_url() else { return };
    let db = TempDatabase::postgres(&admin, "notes_service");
    let server = Server::start("local", &db.url, &[]);
    assert_eq!(server.get("/readyz").status(), 200, "{}", server.output());
    assert_eq!(server.get("/notes").text().unwrap(), "[]\n");
    let (code, status) = run("local", &db.url, &[], &["migrate", "status"]);
    assert_eq!(code, Some(0), "{status}");
    assert!(status.contains("1 applied, 0 pending"), "{status}");
}

#[test]
fn staging_refuses_pending_migrations_until_the_release_step_applies_them() {
    let Some(admin) = postgres_url() else { return };
    let db = TempDatabase::postgres(&admin, "notes_service");
    let (code, output) = run("staging", &db.url, &[], &["serve"]);
    assert_eq!(code, Some(3), "{output}");
    assert!(
        output.contains("pending: version 1 file V1__notes.sql"),
        "{output}"
    );

    let (code, output) = run("staging", &db.url, &[], &["migrate", "up"]);
    assert_eq!(code, Some(0), "{output}");
    let server = Server::start("staging", &db.url, &[]);
    assert_eq!(server.get("/readyz").status(), 200, "{}", server.output());
}

#[test]
fn production_refuses_pending_migrations() {
    let Some(admin) = postgres_url() else { return };
    let db = TempDatabase::postgres(&admin, "notes_service");
    let vars = [("POLICY_ALLOW", TEST_SERVER_WAIVERS)];
    let (code, output) = run("production", &db.url, &vars, &["serve"]);
    assert_eq!(code, Some(3), "{output}");
    assert!(
        output.contains("pending: version 1 file V1__notes.sql"),
        "{output}"
    );
    assert!(output.contains("policy rule waived"), "{output}");
}

#[test]
fn production_refuses_an_unsafe_configuration_as_config_check_reports_it() {
    let url = "postgres://notes:n0tes-Pa55word@127.0.0.1:5432/notes";
    let vars = [("CORS_ORIGIN", "*")];
    let (serve_code, serve) = run("production", url, &vars, &["serve"]);
    let (check_code, check) = run("production", url, &vars, &["config", "check"]);
    assert_eq!(serve_code, Some(78), "{serve}");
    assert_eq!(check_code, Some(78), "{check}");
    for rule in [
        "cors.wildcard",
        "database.loopback-host",
        "database.tls-optional",
    ] {
        assert!(serve.contains(rule), "serve does not name {rule}:\n{serve}");
        assert!(
            check.contains(rule),
            "config check does not name {rule}:\n{check}"
        );
    }
    for output in [&serve, &check] {
        assert!(
            !output.contains("n0tes-Pa55word"),
            "password printed:\n{output}"
        );
    }
}

#[test]
fn sigterm_drains_a_request_in_flight_and_exits_0() {
    let Some(admin) = postgres_url() else { return };
    let db = TempDatabase::postgres(&admin, "notes_service");
    let vars = [("SHUTDOWN_DELAY_MS", "0"), ("SHUTDOWN_DRAIN_MS", "120000")];
    let mut server = Server::start("local", &db.url, &vars);

    // Half a request: the handler is reading its body once the server
    // answers `100 Continue`.
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    stream
        .write_all(
            b"POST /notes HTTP/1.1\r\nHost: notes\r\nContent-Length: 10\r\n\
              Expect: 100-continue\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 100"), "{line:?}");
    reader.read_line(&mut line).unwrap();
    stream.write_all(b"hello").unwrap();

    terminate(&server.child);
    server.wait_for_output("draining requests in flight");
    stream.write_all(b"world").unwrap();
    let mut response = String::new();
    reader.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("helloworld"), "{response}");

    let (code, output) = server.wait();
    assert_eq!(code, Some(0), "{output}");
    assert!(output.contains("requests drained"), "{output}");
}
