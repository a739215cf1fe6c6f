//! Redis that scales out: `rediss://` against a private TLS `redis-server`
//! (certificates made with `openssl` here) and a private three-node Redis
//! Cluster, each started by the test on free loopback ports and stopped
//! when it ends. Without `redis-server`/`openssl`: a loud skip locally, a
//! failure when `CI` is set.

use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use appenv_config::{AppEnv, SecretUrl, Section};
use appenv_rate_limit::{
    ClientKey, DecisionSource, Error, FailureMode, RateLimitConfig, RateLimitLayer, StateStore,
};

fn skip_or_fail(test: &str, why: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{test}: {why}");
    }
    eprintln!("\n*** SKIPPED {test}: {why} ***\n");
}

fn have(tool: &str) -> bool {
    // `openssl` answers `version`, not `--version`.
    let arg = if tool == "openssl" {
        "version"
    } else {
        "--version"
    };
    Command::new(tool)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A port free on loopback, with `port + 10000` free too (a cluster node's
/// bus port) and below 55536.
fn free_port() -> u16 {
    loop {
        let l = StdListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let port = 20_000 + port % 25_000;
        if StdListener::bind(("127.0.0.1", port)).is_ok()
            && StdListener::bind(("127.0.0.1", port + 10_000)).is_ok()
        {
            return port;
        }
    }
}

/// Redis servers started by a test, killed (by their own pids) on drop.
struct Servers(Vec<Child>);

impl Drop for Servers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn start_redis(dir: &Path, args: &[&str]) -> Child {
    Command::new("redis-server")
        .args(["--save", "", "--appendonly", "no", "--bind", "127.0.0.1"])
        .arg("--dir")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redis-server")
}

fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while StdStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "redis-server on {port} did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A private CA and a server certificate it signed, for 127.0.0.1 and
/// localhost; returns the CA certificate's path.
fn make_certs(dir: &Path) -> PathBuf {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=appenv test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
            "-out",
            "server.crt",
        ],
    );
    dir.join("ca.crt")
}

fn config(url: &str, max: u32) -> RateLimitConfig {
    let mut cfg = RateLimitConfig::defaults(AppEnv::Production);
    cfg.backend = StateStore::Redis;
    cfg.redis_url = SecretUrl::new(url);
    cfg.max = max;
    cfg.window_ms = 600_000;
    cfg.failure_mode = FailureMode::Closed;
    cfg.redis_timeout_ms = 5_000;
    cfg.redis_connect_timeout_ms = 10_000;
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_with_a_private_ca_decides_in_redis() {
    let test = "rediss_with_a_private_ca_decides_in_redis";
    if !have("redis-server") || !have("openssl") {
        return skip_or_fail(test, "redis-server or openssl is not installed");
    }
    let dir = tempfile::tempdir().unwrap();
    let ca = make_certs(dir.path());
    let port = free_port();
    let port_s = port.to_string();
    let _servers = Servers(vec![start_redis(
        dir.path(),
        &[
            "--port",
            "0",
            "--tls-port",
            &port_s,
            "--tls-cert-file",
            "server.crt",
            "--tls-key-file",
            "server.key",
            "--tls-ca-cert-file",
            "ca.crt",
            "--tls-auth-clients",
            "no",
        ],
    )]);
    wait_listening(port);

    let mut cfg = config(&format!("rediss://127.0.0.1:{port}"), 3);
    cfg.redis_ca_file = ca.to_str().unwrap().to_owned();
    let layer = RateLimitLayer::new(&cfg).unwrap();
    layer.connect().await.unwrap();
    let key = ClientKey::from_ip("192.0.2.1".parse().unwrap());
    let mut allowed = 0;
    for _ in 0..5 {
        let d = layer.check(&key, 1).await;
        assert_eq!(d.source, DecisionSource::Redis, "{d:?}");
        allowed += usize::from(d.allowed);
    }
    assert_eq!(allowed, 3);

    // Without the private CA the server's certificate is not trusted: the
    // layer says Redis is unreachable and serves on its failure mode.
    cfg.redis_ca_file.clear();
    let layer = RateLimitLayer::new(&cfg).unwrap();
    let err = layer.connect().await.unwrap_err();
    assert!(matches!(err, Error::RedisUnreachable { .. }), "{err}");
    assert!(layer.stats().backend_down);
    assert_eq!(
        layer.check(&key, 1).await.source,
        DecisionSource::FailClosed
    );
}

fn redis_cli(args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(args)
        .output()
        .expect("run redis-cli");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_layers_on_a_three_node_cluster_admit_exactly_the_quota() {
    let test = "two_layers_on_a_three_node_cluster_admit_exactly_the_quota";
    if !have("redis-server") || !have("redis-cli") {
        return skip_or_fail(test, "redis-server or redis-cli is not installed");
    }
    let dir = tempfile::tempdir().unwrap();
    let mut ports: Vec<u16> = Vec::new();
    while ports.len() < 3 {
        let p = free_port();
        if !ports.contains(&p) {
            ports.push(p);
        }
    }
    let mut children = Vec::new();
    for port in &ports {
        let node_dir = dir.path().join(port.to_string());
        std::fs::create_dir(&node_dir).unwrap();
        let port_s = port.to_string();
        children.push(start_redis(
            &node_dir,
            &[
                "--port",
                &port_s,
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "5000",
            ],
        ));
    }
    let _servers = Servers(children);
    for port in &ports {
        wait_listening(*port);
    }
    let nodes: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let mut create = vec!["--cluster", "create"];
    create.extend(nodes.iter().map(String::as_str));
    create.extend(["--cluster-replicas", "0", "--cluster-yes"]);
    let out = redis_cli(&create);
    assert!(out.contains("All 16384 slots covered"), "{out}");
    let deadline = Instant::now() + Duration::from_secs(30);
    for port in &ports {
        let port_s = port.to_string();
        while !redis_cli(&["-p", &port_s, "cluster", "info"]).contains("cluster_state:ok") {
            assert!(Instant::now() < deadline, "cluster did not become ok");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    let url = ports
        .iter()
        .map(|p| format!("redis://127.0.0.1:{p}"))
        .collect::<Vec<_>>()
        .join(",");
    let cfg = config(&url, 10);
    let layers: Vec<_> = (0..2).map(|_| RateLimitLayer::new(&cfg).unwrap()).collect();
    for layer in &layers {
        layer.connect().await.unwrap();
    }
    // Eight clients (their keys spread over the cluster's slots), each
    // sending 30 requests at once through either layer.
    let mut tasks = Vec::new();
    for client in 0..8u8 {
        for i in 0..30usize {
            let layer = layers[i % 2].clone();
            tasks.push(tokio::spawn(async move {
                let key = ClientKey::from_ip(SocketAddr::from(([198, 51, 100, client], 1)).ip());
                (client, layer.check(&key, 1).await)
            }));
        }
    }
    let mut allowed = [0u32; 8];
    for task in tasks {
        let (client, decision) = task.await.unwrap();
        assert_eq!(decision.source, DecisionSource::Redis, "{decision:?}");
        allowed[usize::from(client)] += u32::from(decision.allowed);
    }
    assert_eq!(allowed, [10; 8]);
    for layer in &layers {
        let stats = layer.stats();
        assert_eq!(stats.backend_errors, 0, "{stats:?}");
    }
}
