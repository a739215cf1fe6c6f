//! The built-in policy rules for keys the sections marked as secrets or
//! database URLs.

use std::borrow::Cow;
use std::net::IpAddr;

use figment::Figment;

use crate::env::AppEnv;
use crate::policy::Check;
use crate::section::Schema;

/// Secret: set, long enough and not a placeholder (production).
pub(crate) const SECRET_MISSING: &str = "secret.missing";
pub(crate) const SECRET_TOO_SHORT: &str = "secret.too-short";
pub(crate) const SECRET_PLACEHOLDER: &str = "secret.placeholder";
pub(crate) const DB_LOOPBACK: &str = "database.loopback-host";
pub(crate) const DB_TLS_DISABLED: &str = "database.tls-disabled";
pub(crate) const DB_OTHER_ENV: &str = "database.other-environment";
pub(crate) const DB_REMOTE_IN_LOCAL: &str = "database.remote-host-in-local";

/// Every built-in rule id.
pub(crate) const BUILTIN_IDS: &[&str] = &[
    SECRET_MISSING,
    SECRET_TOO_SHORT,
    SECRET_PLACEHOLDER,
    DB_LOOPBACK,
    DB_TLS_DISABLED,
    DB_OTHER_ENV,
    DB_REMOTE_IN_LOCAL,
];

/// The shortest secret production accepts, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

/// Values that are never real secrets.
const PLACEHOLDERS: &[&str] = &[
    "changeme",
    "change-me",
    "change_me",
    "secret",
    "password",
    "development_password",
    "dev_password",
    "test",
    "example",
    "default",
    "your-secret-here",
    "replace-me",
    "xxx",
    "[redacted]",
];

fn raw_string(figment: &Figment, key: &str) -> Option<String> {
    let value = figment.find_value(key).ok()?;
    if let Some(s) = value.as_str() {
        return Some(s.to_owned());
    }
    value.to_num_lossy().map(|n| format!("{n:?}")).or_else(|| {
        // Numbers and booleans count as (weak) values too.
        value.to_bool().map(|b| b.to_string())
    })
}

fn is_placeholder(value: &str, extra: &[String]) -> bool {
    let lower = value.trim().to_ascii_lowercase();
    PLACEHOLDERS.iter().any(|p| lower == *p)
        || lower.contains("changeme")
        || lower.contains("change-me")
        || lower.contains("change_me")
        || extra.iter().any(|e| e.trim() == value.trim())
}

/// Runs the built-in rules.
pub(crate) fn builtin(
    check: &mut Check<'_>,
    figment: &Figment,
    schema: &Schema,
    dotenv_example: &[String],
    prefix: &str,
) {
    for key in &schema.secrets {
        let value = raw_string(figment, key).filter(|v| !v.trim().is_empty());
        match value {
            None => {
                check.set_rule(SECRET_MISSING);
                check.violation(
                    key,
                    "the secret is not set",
                    format!(
                        "set {} (or {}_FILE pointing at a mounted secret)",
                        flat(prefix, key),
                        flat(prefix, key)
                    ),
                );
            }
            Some(value) => {
                if is_placeholder(&value, dotenv_example) {
                    check.set_rule(SECRET_PLACEHOLDER);
                    check.violation(
                        key,
                        "the secret is a known placeholder value",
                        "generate a real secret, e.g. `openssl rand -base64 48`",
                    );
                } else if value.len() < MIN_SECRET_BYTES {
                    check.set_rule(SECRET_TOO_SHORT);
                    check.violation(
                        key,
                        format!(
                            "the secret is {} bytes long; at least {MIN_SECRET_BYTES} are required",
                            value.len()
                        ),
                        "generate a longer secret, e.g. `openssl rand -base64 48`",
                    );
                }
            }
        }
    }

    for key in &schema.database_urls {
        let Some(raw) = raw_string(figment, key).filter(|v| !v.trim().is_empty()) else {
            continue;
        };
        database_rules(check, key, &raw, prefix);
    }
}

/// The variable name for a dotted key (`database.url` → `DATABASE_URL`),
/// with the loader's prefix.
fn flat(prefix: &str, key: &str) -> String {
    format!("{prefix}{}", key.replace('.', "_").to_ascii_uppercase())
}

/// Splits a database name (or a host label) into words: `events_dev` →
/// `events`, `dev`.
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
}

/// The words of a host name that may name an environment: every label but
/// the top-level one, so `postgres.default.svc.cluster.local` (Kubernetes)
/// or `db.example.dev` (the `.dev` TLD) do not read as "local" or "dev".
/// IP addresses have no words.
fn host_words(host: &str) -> Vec<String> {
    let host = host.trim_end_matches('.');
    if host.starts_with('[') || host.parse::<IpAddr>().is_ok() {
        return Vec::new();
    }
    let labels: Vec<&str> = host.split('.').collect();
    let named = match labels.split_last() {
        Some((_, rest)) if !rest.is_empty() => rest,
        _ => &labels[..],
    };
    named.iter().flat_map(|label| words(label)).collect()
}

fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let name = host.trim_end_matches('.').to_ascii_lowercase();
    if name == "localhost" || name.ends_with(".localhost") {
        return true;
    }
    host.parse::<IpAddr>().is_ok_and(|ip| {
        let ip = ip.to_canonical();
        ip.is_loopback() || ip.is_unspecified()
    })
}

/// Where a database URL connects: a TCP host, or a Unix socket directory
/// (`postgres:///db?host=/var/run/postgresql`, `mysql://…?socket=…`, or no
/// host at all, which drivers read as the default local socket).
enum Target {
    Host(String),
    Socket(String),
}

fn target(url: &url::Url) -> Target {
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    if let Some(socket) = param("socket") {
        return Target::Socket(socket);
    }
    // libpq's `host` parameter overrides the host of the URL.
    match param("host") {
        Some(host) if host.starts_with('/') || host.starts_with('@') => Target::Socket(host),
        Some(host) => Target::Host(host),
        None => match url.host_str() {
            Some(host) if !host.is_empty() => Target::Host(host.to_owned()),
            _ => Target::Socket("the default socket".to_owned()),
        },
    }
}

fn tls_disabled(url: &url::Url) -> bool {
    url.query_pairs().any(|(k, v)| {
        let k = k.to_ascii_lowercase();
        let v = v.trim().to_ascii_lowercase();
        (matches!(k.as_str(), "sslmode" | "ssl-mode" | "ssl_mode")
            && matches!(v.as_str(), "disable" | "disabled"))
            || (matches!(k.as_str(), "ssl" | "tls" | "usessl")
                && matches!(v.as_str(), "false" | "0" | "off" | "no"))
    })
}

/// The URL without its user and password, which the rules do not need and
/// which often keep a URL from parsing: an unescaped `#`, `/` or `@` in the
/// password, or the empty host of `postgres://user:pw@/db?host=/socket`.
fn without_userinfo(raw: &str) -> Cow<'_, str> {
    let Some((scheme, rest)) = raw.split_once("://") else {
        return Cow::Borrowed(raw);
    };
    let authority_end = rest.find('?').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => Cow::Owned(format!("{scheme}://{}", &rest[at + 1..])),
        None => Cow::Borrowed(raw),
    }
}

fn database_rules(check: &mut Check<'_>, key: &str, raw: &str, prefix: &str) {
    let env = check.env();
    let Ok(url) = url::Url::parse(&without_userinfo(raw.trim())) else {
        return;
    };
    let scheme = url.scheme().to_ascii_lowercase();
    if scheme.starts_with("sqlite") {
        return;
    }
    let target = target(&url);
    let host = match &target {
        Target::Host(host) => host.clone(),
        Target::Socket(_) => String::new(),
    };
    let db_name = url.path().trim_start_matches('/').to_owned();

    // A database or host that names another environment, in any environment.
    let names: Vec<String> = host_words(&host)
        .into_iter()
        .chain(words(&db_name))
        .collect();
    for other in AppEnv::ALL.into_iter().filter(|e| *e != env) {
        if let Some(word) = names
            .iter()
            .find(|w| other.name_markers().contains(&w.as_str()))
        {
            check.set_rule(DB_OTHER_ENV);
            check.deny(
                key,
                format!(
                    "the database URL names another environment ({other}: `{word}` in host `{host}` or database `{db_name}`) while APP_ENV={env}"
                ),
                format!(
                    "point {} at the {env} database, or waive `{DB_OTHER_ENV}` if the name is a coincidence",
                    flat(prefix, key)
                ),
            );
            break;
        }
    }

    match env {
        AppEnv::Production => {
            match &target {
                Target::Host(host) if is_loopback_host(host) => {
                    check.set_rule(DB_LOOPBACK);
                    check.violation(
                        key,
                        format!("the production database host is loopback (`{host}`)"),
                        "use the managed database's address",
                    );
                }
                Target::Socket(socket) => {
                    check.set_rule(DB_LOOPBACK);
                    check.violation(
                        key,
                        format!(
                            "the production database is reached through a local Unix socket ({socket})"
                        ),
                        format!(
                            "use the managed database's address, or waive `{DB_LOOPBACK}` if the socket belongs to a proxy for it (such as /cloudsql/…)"
                        ),
                    );
                }
                Target::Host(_) => {}
            }
            if tls_disabled(&url) {
                check.set_rule(DB_TLS_DISABLED);
                check.violation(
                    key,
                    "TLS to the database is disabled",
                    "remove sslmode=disable (use sslmode=require or verify-full)",
                );
            }
        }
        AppEnv::Local => {
            let single_label = !host.contains('.') && !host.contains(':');
            if !host.is_empty() && !is_loopback_host(&host) && !single_label {
                check.set_rule(DB_REMOTE_IN_LOCAL);
                check.deny(
                    key,
                    format!(
                        "local points at a remote database host `{host}`; local is what runs when APP_ENV is forgotten"
                    ),
                    format!(
                        "use a local database, set APP_ENV to the environment you mean, or waive `{DB_REMOTE_IN_LOCAL}`"
                    ),
                );
            }
        }
        AppEnv::Staging => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_recognised() {
        assert!(is_placeholder("changeme", &[]));
        assert!(is_placeholder(
            "  CHANGEME-please-0123456789abcdefghijk ",
            &[]
        ));
        assert!(is_placeholder(
            "from-example-file",
            &["from-example-file".into()]
        ));
        assert!(!is_placeholder("Zq3v9w0P1b2n4m5k6j7h8g9f0d1s2a3q", &[]));
    }

    #[test]
    fn loopback_hosts() {
        for host in [
            "localhost",
            "127.0.0.1",
            "127.1.2.3",
            "[::1]",
            "LOCALHOST",
            "localhost.",
            "db.localhost",
            "[::ffff:7f00:1]",
            "0.0.0.0",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in ["db.internal", "10.0.0.1", "postgres", "[2001:db8::1]"] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn host_words_skip_the_top_level_label_and_addresses() {
        assert_eq!(
            host_words("postgres.prod.svc.cluster.local"),
            ["postgres", "prod", "svc", "cluster"]
        );
        assert_eq!(host_words("staging-db"), ["staging", "db"]);
        assert!(host_words("[2001:db8::dev]").is_empty());
    }
}
