//! Which Redis URLs this build can use: one function feeding both the
//! `rate-limit.invalid` rule (so `config check` reports it) and the
//! constructor (which therefore never refuses what the check accepted).

use appenv_config::SecretUrl;
use redis::IntoConnectionInfo;

/// How the limiter reaches Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Topology {
    /// One server (`redis://` or `rediss://`).
    Single(String),
    /// A Redis Cluster: the seed nodes, all of one scheme.
    Cluster(Vec<String>),
}

/// Whether this build speaks TLS to Redis.
pub(crate) const TLS: bool = cfg!(feature = "redis-tls");
/// Whether this build speaks Redis Cluster.
pub(crate) const CLUSTER: bool = cfg!(feature = "redis-cluster");

/// The node URLs of `url`, split on commas.
pub(crate) fn nodes(url: &str) -> Vec<&str> {
    url.split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect()
}

/// The topology of a URL that [`problems`] accepted.
pub(crate) fn topology(url: &SecretUrl) -> Topology {
    let nodes = nodes(url.expose());
    if nodes.len() == 1 {
        Topology::Single(nodes[0].to_owned())
    } else {
        Topology::Cluster(nodes.into_iter().map(str::to_owned).collect())
    }
}

/// `true` when the URL's nodes use TLS.
pub(crate) fn is_tls(url: &SecretUrl) -> bool {
    nodes(url.expose())
        .first()
        .is_some_and(|n| scheme(n).eq_ignore_ascii_case("rediss"))
}

fn scheme(node: &str) -> &str {
    node.split_once("://").map_or("", |(scheme, _)| scheme)
}

/// The nodes of `url` (redacted) whose URL turns TLS certificate
/// verification off, in any form the Redis client accepts (today the
/// `#insecure` fragment of a `rediss://` URL): read from the connection
/// settings the client parses, not from the text, so a spelling the client
/// learns later is caught too.
pub(crate) fn insecure_nodes(url: &SecretUrl) -> Vec<String> {
    nodes(url.expose())
        .into_iter()
        .filter(|node| {
            (*node).into_connection_info().is_ok_and(|info| {
                matches!(
                    info.addr(),
                    redis::ConnectionAddr::TcpTls { insecure: true, .. }
                )
            })
        })
        .map(|node| appenv_config::redact_url(node).into_owned())
        .collect()
}

/// The message for a node that turns certificate verification off.
pub(crate) fn insecure_message(shown: &str) -> String {
    format!(
        "{shown} turns off TLS certificate verification (`#insecure`): anyone on the path can \
         impersonate Redis and read or change the rate-limit state; remove `#insecure` and trust \
         the server's CA with RATE_LIMIT_REDIS_CA_FILE instead"
    )
}

/// What is wrong with `url` (and `ca_file`) for this build, keyed like the
/// configuration; with `production`, a URL that turns TLS certificate
/// verification off too (elsewhere the `rate-limit.invalid` rule warns
/// about it). Messages show URLs redacted.
pub(crate) fn problems(
    url: &SecretUrl,
    ca_file: &str,
    production: bool,
) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if production {
        for shown in insecure_nodes(url) {
            out.push(("redis_url", insecure_message(&shown)));
        }
    }
    let nodes = nodes(url.expose());
    let mut schemes = Vec::new();
    for node in &nodes {
        let shown = appenv_config::redact_url(node);
        let scheme = scheme(node).to_ascii_lowercase();
        match scheme.as_str() {
            "redis" => {}
            "rediss" if TLS => {}
            "rediss" => out.push((
                "redis_url",
                format!(
                    "{shown} uses TLS, which this build does not support: enable the `redis-tls` \
                     feature of appenv-rate-limit"
                ),
            )),
            // Not shown: a value without a scheme may be a pasted secret.
            "" => out.push((
                "redis_url",
                "a node is not a URL (no scheme); expected redis://host:6379 or rediss://host:6380"
                    .to_owned(),
            )),
            other => out.push((
                "redis_url",
                format!(
                    "{shown}: the scheme `{other}` is not supported; use redis:// or rediss:// (TLS)"
                ),
            )),
        }
        if matches!(scheme.as_str(), "redis" | "rediss")
            && let Err(err) = (*node).into_connection_info()
        {
            // The client's parse errors name the problem, not the URL.
            out.push(("redis_url", format!("{shown} is not usable: {err}")));
        }
        schemes.push(scheme);
    }
    if nodes.len() > 1 {
        if !CLUSTER {
            out.push((
                "redis_url",
                "several node URLs mean a Redis Cluster, which this build does not support: \
                 enable the `redis-cluster` feature of appenv-rate-limit"
                    .to_owned(),
            ));
        }
        schemes.dedup();
        if schemes.len() > 1 {
            out.push((
                "redis_url",
                "the cluster's node URLs mix redis:// and rediss://; use one scheme for every node"
                    .to_owned(),
            ));
        }
    }
    if !ca_file.trim().is_empty() {
        if !is_tls(url) {
            out.push((
                "redis_ca_file",
                "a CA file is only used with rediss:// (TLS) URLs".to_owned(),
            ));
        }
        match std::fs::read(ca_file.trim()) {
            Err(err) => out.push((
                "redis_ca_file",
                format!("cannot read {}: {err}", ca_file.trim()),
            )),
            Ok(pem) if !contains(&pem, b"-----BEGIN CERTIFICATE-----") => out.push((
                "redis_ca_file",
                format!("{} holds no PEM certificate", ca_file.trim()),
            )),
            Ok(_) => {}
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str) -> Vec<String> {
        problems(&SecretUrl::new(url), "", false)
            .into_iter()
            .map(|(_, m)| m)
            .collect()
    }

    #[test]
    fn schemes_this_build_supports_pass() {
        assert!(check("redis://127.0.0.1:6379/0").is_empty());
        assert_eq!(check("rediss://cache:6380").is_empty(), TLS);
        assert_eq!(
            check("redis://a:7000, redis://b:7001,redis://c:7002").is_empty(),
            CLUSTER
        );
    }

    #[test]
    fn other_urls_are_problems_without_the_password() {
        for url in [
            "rediss+nope://:sup3rs3cretpw@cache:6379",
            "http://:sup3rs3cretpw@cache:6379",
            "sup3rs3cretpw",
            "redis://:sup3rs3cretpw@a:1,rediss://:sup3rs3cretpw@b:2",
        ] {
            let found = check(url);
            assert!(!found.is_empty(), "{url}");
            for message in found {
                assert!(!message.contains("sup3rs3cretpw"), "{message}");
            }
        }
    }

    #[test]
    fn turning_certificate_verification_off_is_a_production_problem() {
        let url = SecretUrl::new("rediss://:sup3rs3cretpw@cache:6380/0#insecure");
        if !TLS {
            return;
        }
        assert!(problems(&url, "", false).is_empty());
        let found = problems(&url, "", true);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "redis_url");
        assert!(found[0].1.contains("certificate verification"), "{found:?}");
        assert!(!found[0].1.contains("sup3rs3cretpw"), "{found:?}");
        // One node of a cluster is enough.
        let cluster = SecretUrl::new("rediss://a:7000,rediss://b:7000/#insecure");
        assert_eq!(insecure_nodes(&cluster).len(), 1);
        assert!(problems(&SecretUrl::new("rediss://cache:6380"), "", true).is_empty());
        assert!(problems(&SecretUrl::new("redis://cache:6379"), "", true).is_empty());
    }

    #[test]
    fn the_ca_file_must_be_readable_pem_for_tls() {
        let dir = tempfile::tempdir().unwrap();
        let pem = dir.path().join("ca.pem");
        std::fs::write(
            &pem,
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        let tls = SecretUrl::new("rediss://cache:6380");
        if TLS {
            assert!(problems(&tls, pem.to_str().unwrap(), false).is_empty());
        }
        let found = problems(&tls, junk.to_str().unwrap(), false);
        assert!(
            found
                .iter()
                .any(|(k, m)| *k == "redis_ca_file" && m.contains("no PEM"))
        );
        let found = problems(&tls, "/nonexistent/ca.pem", false);
        assert!(
            found
                .iter()
                .any(|(k, m)| *k == "redis_ca_file" && m.contains("cannot read"))
        );
        let plain = SecretUrl::new("redis://cache:6379");
        let found = problems(&plain, pem.to_str().unwrap(), false);
        assert!(
            found
                .iter()
                .any(|(k, m)| *k == "redis_ca_file" && m.contains("only used"))
        );
    }
}
