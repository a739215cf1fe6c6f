//! The built-in policy rules for keys the sections marked as secrets or
//! database URLs.

use std::collections::BTreeSet;

use figment::Figment;

use crate::env::AppEnv;
use crate::placeholders::{Placeholders, is_placeholder};
use crate::policy::Check;
use crate::section::Schema;
use crate::service_url::{Host, ServiceUrl, Tls, UrlBackend};

/// Secret: set, long enough, not a placeholder, not weak (production).
pub(crate) const SECRET_MISSING: &str = "secret.missing";
pub(crate) const SECRET_TOO_SHORT: &str = "secret.too-short";
pub(crate) const SECRET_PLACEHOLDER: &str = "secret.placeholder";
pub(crate) const SECRET_WEAK: &str = "secret.weak";
pub(crate) const DB_URL_INVALID: &str = "database.url-invalid";
pub(crate) const DB_LOOPBACK: &str = "database.loopback-host";
pub(crate) const DB_TLS_DISABLED: &str = "database.tls-disabled";
pub(crate) const DB_TLS_OPTIONAL: &str = "database.tls-optional";
pub(crate) const DB_SQLITE: &str = "database.sqlite-in-production";
pub(crate) const DB_OTHER_ENV: &str = "database.other-environment";
pub(crate) const DB_REMOTE_IN_LOCAL: &str = "database.remote-host-in-local";

/// Every built-in rule id.
pub(crate) const BUILTIN_IDS: &[&str] = &[
    SECRET_MISSING,
    SECRET_TOO_SHORT,
    SECRET_PLACEHOLDER,
    SECRET_WEAK,
    DB_URL_INVALID,
    DB_LOOPBACK,
    DB_TLS_DISABLED,
    DB_TLS_OPTIONAL,
    DB_SQLITE,
    DB_OTHER_ENV,
    DB_REMOTE_IN_LOCAL,
];

/// The shortest secret production accepts, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

/// The fewest distinct characters a secret may have.
const MIN_DISTINCT_CHARS: usize = 8;

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

/// What makes a secret guessable, without showing it: a single repeated
/// character, only digits, a short pattern repeated, few distinct
/// characters, or mostly a run of consecutive characters.
pub(crate) fn weakness(value: &str) -> Option<String> {
    let chars: Vec<char> = value.chars().collect();
    let n = chars.len();
    if n == 0 {
        return None;
    }
    let distinct = chars.iter().collect::<BTreeSet<_>>().len();
    if distinct == 1 {
        return Some(format!("a single character repeated {n} times"));
    }
    if chars.iter().all(char::is_ascii_digit) {
        return Some("only digits".to_owned());
    }
    let period = smallest_period(&chars);
    if period <= n / 2 {
        return Some(format!("a repeated pattern of {period} characters"));
    }
    if distinct < MIN_DISTINCT_CHARS {
        return Some(format!(
            "only {distinct} distinct characters (at least {MIN_DISTINCT_CHARS} expected)"
        ));
    }
    let steps = chars
        .windows(2)
        .filter(|w| (i64::from(u32::from(w[1])) - i64::from(u32::from(w[0]))).abs() == 1)
        .count();
    if steps * 4 >= (n - 1) * 3 {
        return Some("mostly a run of consecutive characters (abcd…, 1234…)".to_owned());
    }
    None
}

/// The smallest `p` with `chars[i] == chars[i - p]` for every `i >= p`
/// (`chars.len()` when no shorter one exists), from the prefix function in
/// linear time: a secret is at most a few KiB in practice, but a file or a
/// variable can hold anything, and trying each period in turn is quadratic.
fn smallest_period(chars: &[char]) -> usize {
    // prefix[i]: the longest proper prefix of chars[..=i] that is also its
    // suffix.
    let mut prefix = vec![0usize; chars.len()];
    for i in 1..chars.len() {
        let mut k = prefix[i - 1];
        while k > 0 && chars[i] != chars[k] {
            k = prefix[k - 1];
        }
        if chars[i] == chars[k] {
            k += 1;
        }
        prefix[i] = k;
    }
    chars.len() - prefix.last().copied().unwrap_or(0)
}

/// Runs the built-in rules.
pub(crate) fn builtin(
    check: &mut Check<'_>,
    figment: &Figment,
    schema: &Schema,
    file_placeholders: &[String],
    placeholders: &Placeholders,
    prefix: &str,
) {
    let mut extra = placeholders.clone();
    extra.extend(Placeholders::from_values(file_placeholders));
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
            Some(value) => secret_rules(check, key, &value, &extra),
        }
    }

    for key in &schema.database_urls {
        let Some(raw) = raw_string(figment, key).filter(|v| !v.trim().is_empty()) else {
            continue;
        };
        database_rules(check, key, &raw, prefix);
    }
}

pub(crate) fn secret_rules(
    check: &mut Check<'_>,
    key: &str,
    value: &str,
    placeholders: &Placeholders,
) {
    const GENERATE: &str = "generate a real secret, e.g. `openssl rand -base64 48`";
    if is_placeholder(value, placeholders) {
        check.set_rule(SECRET_PLACEHOLDER);
        check.violation(key, "the secret is a known placeholder value", GENERATE);
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
    } else if let Some(weakness) = weakness(value) {
        check.set_rule(SECRET_WEAK);
        check.violation(key, format!("the secret is weak: {weakness}"), GENERATE);
    }
}

/// The variable name for a dotted key (`database.url` → `DATABASE_URL`),
/// with the loader's prefix.
fn flat(prefix: &str, key: &str) -> String {
    format!("{prefix}{}", key.replace('.', "_").to_ascii_uppercase())
}

/// Splits a database name or a host label into lowercase words: at
/// characters that are not letters or digits, at lower-to-upper case
/// changes and between letters and digits (`events_dev`, `eventsDev`,
/// `events01dev` → `events`, `dev`).
fn words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut prev: Option<char> = None;
    for c in text.chars() {
        if !c.is_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            prev = None;
            continue;
        }
        if let Some(p) = prev {
            let boundary = (p.is_lowercase() && c.is_uppercase())
                || (p.is_ascii_digit() != c.is_ascii_digit());
            if boundary && !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
        }
        prev = Some(c);
        current.extend(c.to_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words.retain(|w| !w.chars().all(|c| c.is_ascii_digit()));
    words
}

/// Markers that also count joined to the end of a longer word
/// (`eventsprod`, `appdev`): none of them ends a common English word,
/// unlike `stage` (`backstage`), `local` (`nonlocal`) or `production`
/// (`reproduction`).
const JOINABLE_MARKERS: &[&str] = &["prod", "prd", "dev", "stg", "staging"];

/// The marker of `env` that `word` carries: the whole word (`prod`,
/// `development`), or a joinable marker at the end of a longer word.
fn marker_in(word: &str, env: AppEnv) -> Option<&'static str> {
    let markers = env.name_markers();
    if let Some(m) = markers.iter().find(|m| **m == word) {
        return Some(m);
    }
    markers
        .iter()
        .copied()
        .find(|m| JOINABLE_MARKERS.contains(m) && word.len() >= m.len() + 3 && word.ends_with(m))
}

/// The words of a host name that may name an environment. Kubernetes
/// `service.namespace[.svc[.cluster.local]]` forms give the service and
/// namespace; a two-label name is read as `service.namespace`; longer names
/// drop their top-level label, so `db.example.dev` does not read as "dev".
/// IP addresses and sockets have no words.
fn host_words(host: &Host) -> Vec<String> {
    let Host::Name(name) = host else {
        return Vec::new();
    };
    let labels: Vec<&str> = name.split('.').collect();
    let named: &[&str] = if let Some(svc) = labels.iter().position(|l| *l == "svc") {
        &labels[..svc]
    } else if labels.len() <= 2 {
        &labels
    } else {
        &labels[..labels.len() - 1]
    };
    named.iter().flat_map(|label| words(label)).collect()
}

/// The first host or database word that names an environment other than
/// `env`, with where it was found.
fn other_environment(url: &ServiceUrl, env: AppEnv) -> Option<(AppEnv, &'static str, String)> {
    let mut places: Vec<(String, Vec<String>)> = url
        .hosts()
        .iter()
        .map(|h| (format!("host `{}`", h.host()), host_words(h.host())))
        .collect();
    if let Some(db) = url.database() {
        places.push((format!("database `{db}`"), words(db)));
    }
    for (place, words) in &places {
        for word in words {
            for other in AppEnv::ALL.into_iter().filter(|e| *e != env) {
                if let Some(marker) = marker_in(word, other) {
                    return Some((other, marker, place.clone()));
                }
            }
        }
    }
    None
}

pub(crate) fn database_rules(check: &mut Check<'_>, key: &str, raw: &str, prefix: &str) {
    let env = check.env();
    let var = flat(prefix, key);
    let url = match ServiceUrl::parse(raw) {
        Ok(url) => url,
        Err(err) => {
            check.set_rule(DB_URL_INVALID);
            check.deny(
                key,
                format!("the database URL does not parse: {err}"),
                format!("fix {var}: the form is scheme://user:password@host:port/database"),
            );
            return;
        }
    };

    if url.backend() == UrlBackend::Sqlite {
        if env.is_production() {
            check.set_rule(DB_SQLITE);
            check.violation(
                key,
                "the production database is a SQLite file: a container's file disappears with the container, and replicas do not share it",
                format!(
                    "use a managed Postgres or MySQL database, or waive `{DB_SQLITE}` if the file is on a persistent volume of a single replica"
                ),
            );
        }
        return;
    }

    // A database or host that names another environment, in any environment.
    if let Some((other, marker, place)) = other_environment(&url, env) {
        check.set_rule(DB_OTHER_ENV);
        check.deny(
            key,
            format!(
                "the database URL names another environment ({other}: `{marker}` in {place}) while APP_ENV={env}"
            ),
            format!(
                "point {var} at the {env} database, or waive `{DB_OTHER_ENV}` if the name is a coincidence"
            ),
        );
    }

    match env {
        AppEnv::Production => {
            production_hosts(check, key, &url);
            production_tls(check, key, &url);
        }
        AppEnv::Local => {
            let remote: Vec<String> = url
                .hosts()
                .iter()
                .filter(|h| match h.host() {
                    Host::Name(name) => !h.host().is_loopback() && name.contains('.'),
                    Host::Ip(_) => !h.host().is_loopback(),
                    Host::Socket(_) | Host::Default => false,
                })
                .map(|h| format!("`{h}`"))
                .collect();
            if !remote.is_empty() {
                check.set_rule(DB_REMOTE_IN_LOCAL);
                check.deny(
                    key,
                    format!(
                        "local points at a remote database host {}; local is what runs when APP_ENV is forgotten",
                        remote.join(", ")
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

fn production_hosts(check: &mut Check<'_>, key: &str, url: &ServiceUrl) {
    let loopback: Vec<String> = url
        .hosts()
        .iter()
        .filter(|h| h.host().is_loopback())
        .map(|h| format!("`{h}`"))
        .collect();
    if !loopback.is_empty() {
        check.set_rule(DB_LOOPBACK);
        check.violation(
            key,
            format!(
                "the production database host is loopback ({})",
                loopback.join(", ")
            ),
            "use the managed database's address",
        );
    }
    let sockets: Vec<String> = url
        .hosts()
        .iter()
        .filter_map(|h| match h.host() {
            Host::Socket(path) => Some(path.clone()),
            Host::Default => Some("the default socket".to_owned()),
            _ => None,
        })
        .collect();
    if !sockets.is_empty() {
        check.set_rule(DB_LOOPBACK);
        check.violation(
            key,
            format!(
                "the production database is reached through a local Unix socket ({})",
                sockets.join(", ")
            ),
            format!(
                "use the managed database's address, or waive `{DB_LOOPBACK}` if the socket belongs to a proxy for it (such as /cloudsql/…)"
            ),
        );
    }
}

fn production_tls(check: &mut Check<'_>, key: &str, url: &ServiceUrl) {
    // Through a Unix socket TLS does not apply; the socket is reported above.
    if url
        .hosts()
        .iter()
        .all(|h| matches!(h.host(), Host::Socket(_) | Host::Default))
    {
        return;
    }
    let fix = match url.backend() {
        UrlBackend::Postgres => "add sslmode=verify-full (or at least sslmode=require)",
        UrlBackend::MySql => "add ssl-mode=VERIFY_IDENTITY (or at least ssl-mode=REQUIRED)",
        UrlBackend::Redis => "use a rediss:// URL",
        UrlBackend::Http => "use an https:// URL",
        _ => return,
    };
    let ignored = match url.ignored_tls_params() {
        [] => String::new(),
        names => {
            let list: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
            let verb = if names.len() == 1 { "is" } else { "are" };
            format!(
                "; {} {verb} not read by the driver (names are case-sensitive: it reads `sslmode` and `ssl-mode`)",
                list.join(", ")
            )
        }
    };
    match url.tls() {
        Tls::Off => {
            check.set_rule(DB_TLS_DISABLED);
            check.violation(
                key,
                format!(
                    "TLS to the database is disabled ({}){ignored}",
                    url.tls_setting().unwrap_or("no TLS")
                ),
                fix,
            );
        }
        Tls::Optional => {
            let setting = url.tls_setting().map_or_else(
                || "no TLS mode set, so the driver's default only prefers TLS".to_owned(),
                |s| format!("{s} only prefers TLS"),
            );
            check.set_rule(DB_TLS_OPTIONAL);
            check.violation(
                key,
                format!("TLS to the database can be silently downgraded ({setting}){ignored}"),
                fix,
            );
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_secrets() {
        assert!(
            weakness(&"x".repeat(40))
                .unwrap()
                .contains("single character")
        );
        assert_eq!(
            weakness(&"9".repeat(3)).unwrap(),
            "a single character repeated 3 times"
        );
        assert!(
            weakness("12345678901234567890123456789012")
                .unwrap()
                .contains("digits")
        );
        assert!(
            weakness(&"abc".repeat(12))
                .unwrap()
                .contains("pattern of 3")
        );
        assert!(weakness("aabbccddaabbccddaabbccddaabbccdda").is_some());
        assert!(weakness("k3J9x2Lm8Qw7Zp4Rt6Yv1Bn5Hc0Df3Gs9Ua2We8").is_none());
        assert!(weakness("").is_none());
        // A period that does not divide the length still counts.
        assert_eq!(
            weakness("Zq3v9w0PZq3v9w0PZq3v9w0PZq3").unwrap(),
            "a repeated pattern of 8 characters"
        );
    }

    #[test]
    fn smallest_periods() {
        let period = |s: &str| smallest_period(&s.chars().collect::<Vec<_>>());
        assert_eq!(period(""), 0);
        assert_eq!(period("a"), 1);
        assert_eq!(period("abab"), 2);
        assert_eq!(period("ababa"), 2);
        assert_eq!(period("abcab"), 3);
        assert_eq!(period("aabaaab"), 4);
        assert_eq!(period("abcd"), 4);
    }

    #[test]
    fn a_64_kib_value_gets_its_verdict() {
        // The shape that made trying every period quadratic: every
        // candidate matches until the last character.
        let mut value = "a".repeat(64 * 1024 - 1);
        value.push('b');
        assert_eq!(
            weakness(&value).unwrap(),
            "only 2 distinct characters (at least 8 expected)"
        );
        let strong = "k3J9x2Lm8Qw7Zp4Rt6Yv1Bn5Hc0Df3Gs9Ua2We8".repeat(1700);
        assert_eq!(
            weakness(&strong).unwrap(),
            "a repeated pattern of 39 characters"
        );
        let mut almost = strong.clone();
        almost.push('!');
        almost.insert(0, '~');
        assert!(
            weakness(&almost).is_none(),
            "no period once both ends differ"
        );
    }

    #[test]
    fn words_split_names() {
        assert_eq!(words("events_dev"), ["events", "dev"]);
        assert_eq!(words("eventsDev"), ["events", "dev"]);
        assert_eq!(words("events01dev"), ["events", "dev"]);
        assert_eq!(words("db-01"), ["db"]);
    }

    #[test]
    fn host_words_read_kubernetes_forms_and_skip_the_top_level_label() {
        let name = |n: &str| Host::Name(n.to_owned());
        assert_eq!(
            host_words(&name("postgres.prod.svc.cluster.local")),
            ["postgres", "prod"]
        );
        assert_eq!(host_words(&name("postgres.prod")), ["postgres", "prod"]);
        assert_eq!(host_words(&name("staging-db")), ["staging", "db"]);
        assert_eq!(host_words(&name("db.example.dev")), ["db", "example"]);
        assert!(host_words(&Host::Ip("::1".parse().unwrap())).is_empty());
    }

    #[test]
    fn joined_markers() {
        assert_eq!(marker_in("eventsprod", AppEnv::Production), Some("prod"));
        assert_eq!(marker_in("eventsstg", AppEnv::Staging), Some("stg"));
        for clean in [
            "product",
            "prodigy",
            "reproduction",
            "devices",
            "stagecoach",
            "backstage",
        ] {
            for env in AppEnv::ALL {
                assert_eq!(marker_in(clean, env), None, "{clean}");
            }
        }
    }
}
