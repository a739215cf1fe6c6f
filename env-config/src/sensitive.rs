//! "Is this name secret?": the one list of sensitive names that explain
//! output, URL query redaction, header lists and log redaction all use.
//!
//! A name (a config key's last segment, a log field, a query parameter, a
//! header) is split into words at every character that is not a letter or
//! a digit and at lower-to-upper case changes (`X-Api-Key`, `db_password`,
//! `signingKey`). It is sensitive when
//!
//! 1. its letters and digits, lowercased and run together, contain one of
//!    [`SENSITIVE_FRAGMENTS`] (`password`, `token`, `apikey`, …): `db_password`,
//!    `access-token`, `x-api-key`, `Set-Cookie`, `client_credentials`;
//! 2. or it has two or more words and its last word is one of
//!    [`SENSITIVE_WORDS`] (`key`, `sig`, `signature`, `pwd`, `pass`, `auth`):
//!    `signing_key`, `encryptionKey`, `url_sig`, `mysql_pwd`, `basic_auth`.
//!    A word only counts whole, so `monkey`, `keyboard`, `hotkey`,
//!    `key_id` or `signature_algorithm` are not sensitive.
//!
//! A bare word on its own (`key`, `sig`, `pwd`) is ambiguous in a log field
//! or config key (`key = "database.url"` in a log line is a config key,
//! `rate_limit.key = "ip"` a keying mode, `pwd` a working directory), so
//! [`is_sensitive_name`] does not redact it; in a URL query string or a
//! header list it is a credential (`?key=…`, `?sig=…`, `PWD=…`), so
//! [`is_sensitive_param`] does.

/// Fragments that make a name sensitive wherever they appear in it
/// (compared with the name's letters and digits lowercased and run
/// together, so `api_key`, `api-key`, `apiKey` and `X-Api-Key` all contain
/// `apikey`).
pub const SENSITIVE_FRAGMENTS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "authorization",
    "cookie",
    "credential",
    "apikey",
    "privatekey",
    "jwt",
];

/// Words that make a name sensitive as its last word after a qualifier
/// (`signing_key`, `url_sig`), and on their own in query strings and header
/// lists.
pub const SENSITIVE_WORDS: &[&str] = &["key", "sig", "signature", "pwd", "pass", "auth"];

/// The words of `name`, lowercased: split at non-alphanumeric characters and
/// at lower-to-upper case changes.
fn words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if !c.is_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        current.extend(c.to_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

fn has_fragment(words: &[String]) -> bool {
    let joined: String = words.concat();
    SENSITIVE_FRAGMENTS.iter().any(|f| joined.contains(f))
}

/// Whether values of the field, key or header `name` must never be shown.
/// It is when its letters and digits, lowercased and run together, contain
/// one of [`SENSITIVE_FRAGMENTS`] (`db_password`, `X-Api-Key`), or when it
/// has two or more words (split at non-alphanumerics and case changes) and
/// the last is one of [`SENSITIVE_WORDS`] (`signing_key`, `url_sig`). Words
/// count whole (`monkey`, `key_id` are not sensitive), and a bare `key` is
/// not sensitive here: see [`is_sensitive_param`].
///
/// ```
/// use appenv_config::is_sensitive_name;
///
/// for name in ["password", "DB_PASSWORD", "access-token", "X-Api-Key", "signing_key", "jwt"] {
///     assert!(is_sensitive_name(name), "{name}");
/// }
/// for name in ["monkey", "keyboard", "key_id", "key", "user", "url.path"] {
///     assert!(!is_sensitive_name(name), "{name}");
/// }
/// ```
pub fn is_sensitive_name(name: &str) -> bool {
    let words = words(name);
    if has_fragment(&words) {
        return true;
    }
    match words.split_last() {
        Some((last, rest)) if !rest.is_empty() => SENSITIVE_WORDS.contains(&last.as_str()),
        _ => false,
    }
}

/// Whether the value of the URL query parameter or header-list entry `name`
/// must never be shown: [`is_sensitive_name`], plus a bare
/// [`SENSITIVE_WORDS`] word (`?key=…`, `?sig=…`, `PWD=…`). The name is
/// compared percent-decoded.
///
/// ```
/// use appenv_config::is_sensitive_param;
///
/// for name in ["key", "sig", "signature", "X-Api-Key", "access-token", "pass%77ord"] {
///     assert!(is_sensitive_param(name), "{name}");
/// }
/// assert!(!is_sensitive_param("sslmode"));
/// assert!(!is_sensitive_param("monkey"));
/// ```
pub fn is_sensitive_param(name: &str) -> bool {
    let decoded = percent_encoding::percent_decode_str(name).decode_utf8_lossy();
    if is_sensitive_name(&decoded) {
        return true;
    }
    matches!(words(&decoded).as_slice(), [only] if SENSITIVE_WORDS.contains(&only.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_at_separators_and_case_changes() {
        assert_eq!(words("X-Api-Key"), ["x", "api", "key"]);
        assert_eq!(words("signingKey"), ["signing", "key"]);
        assert_eq!(words("DB_PASSWORD"), ["db", "password"]);
        assert_eq!(words("url.path"), ["url", "path"]);
        assert!(words("--").is_empty());
    }

    #[test]
    fn the_required_names_are_sensitive() {
        for name in [
            "password",
            "passwd",
            "secret",
            "client_secret",
            "token",
            "access_token",
            "access-token",
            "Authorization",
            "proxy-authorization",
            "cookie",
            "set-cookie",
            "api_key",
            "apikey",
            "apiKey",
            "x-api-key",
            "X-Api-Key",
            "private_key",
            "privateKey",
            "jwt",
            "jwt_secret",
            "url_sig",
            "request-signature",
            "signing_key",
            "encryption.key",
            "credential",
            "credentials",
            "aws_secret_access_key",
            "mysql_pwd",
            "redis_pass",
            "basic_auth",
        ] {
            assert!(is_sensitive_name(name), "{name}");
            assert!(is_sensitive_param(name), "{name}");
        }
    }

    #[test]
    fn whole_words_only() {
        for name in [
            "monkey",
            "keyboard",
            "hotkey",
            "key_id",
            "key_path",
            "max_tracked_keys",
            "signature_algorithm",
            "passenger",
            "bypass",
            "oauth_url",
            "user",
            "method",
            "message",
            "url.path",
            "sslmode",
            "sslkey",
        ] {
            assert!(!is_sensitive_name(name), "{name}");
            assert!(!is_sensitive_param(name), "{name}");
        }
    }

    #[test]
    fn bare_words_are_credentials_only_as_parameters() {
        for name in [
            "key",
            "KEY",
            "sig",
            "signature",
            "pwd",
            "PWD",
            "pass",
            "auth",
        ] {
            assert!(!is_sensitive_name(name), "{name}");
            assert!(is_sensitive_param(name), "{name}");
        }
        assert!(is_sensitive_param("%6Bey"));
    }
}
