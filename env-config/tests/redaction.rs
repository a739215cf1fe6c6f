//! Redaction holds for every URL and header list: passwords of any
//! spelling, secret query parameters in any spelling, OTLP endpoints,
//! Redis URLs and `OTEL_EXPORTER_OTLP_HEADERS` lists.

use appenv_config::{SecretUrl, redact_header_list, redact_url};
use proptest::prelude::*;

#[test]
fn passwords_with_any_character_are_redacted() {
    for password in [
        "pa ss word",
        "pa\"ss'word",
        "p@ss@word",
        "pa#ss",
        "pa%ss",
        "pa%40ss",
        "pässwörd✓",
        "pa/ss?x=1",
        " leading",
        "trailing ",
        "'quoted'",
    ] {
        for scheme in ["postgres", "mysql", "redis", "rediss", "https"] {
            let url = format!("{scheme}://app:{password}@db.internal:5432/events?sslmode=require");
            for out in [
                redact_url(&url).into_owned(),
                SecretUrl::from(url.as_str()).to_string(),
                format!("{:?}", SecretUrl::from(url.as_str())),
                redact_url(&format!("error: cannot connect to {url}: refused")).into_owned(),
            ] {
                assert!(!out.contains(password.trim()), "{url} -> {out}");
                assert!(out.contains("[REDACTED]"), "{url} -> {out}");
            }
        }
    }
    // A comma-separated list of Redis Cluster node URLs: each is redacted.
    assert_eq!(
        redact_url("redis://:p1@h1:6379,redis://:p2@h2:6379"),
        "redis://:[REDACTED]@h1:6379,redis://:[REDACTED]@h2:6379"
    );
    // Redis with a password only, and with a user.
    assert_eq!(
        redact_url("redis://:p w@cache:6379/0"),
        "redis://:[REDACTED]@cache:6379/0"
    );
    assert_eq!(
        redact_url("rediss://default:pw@cache:6380"),
        "rediss://default:[REDACTED]@cache:6380"
    );
}

#[test]
fn secret_query_parameters_in_any_spelling() {
    for name in [
        "x-api-key",
        "X-Api-Key",
        "api_key",
        "apiKey",
        "access-token",
        "access_token",
        "sig",
        "signature",
        "token",
        "password",
        "PASSWORD",
        "sslpassword",
        "secret",
        "client_secret",
        "key",
        "Key",
        "pwd",
        "auth",
        "x%2Dapi%2Dkey",
    ] {
        let url = format!("https://collector.example.com/v1/traces?a=1&{name}=SENTINEL&b=2");
        let out = redact_url(&url);
        assert_eq!(
            out,
            format!("https://collector.example.com/v1/traces?a=1&{name}=[REDACTED]&b=2"),
            "{name}"
        );
    }
    for keep in ["monkey=1", "keyboard=2", "sslmode=require", "page=3"] {
        let url = format!("https://h/p?{keep}");
        assert_eq!(redact_url(&url), url);
    }
    // Redis and OTLP endpoints.
    assert_eq!(
        redact_url("redis://cache:6379/0?token=SENTINEL"),
        "redis://cache:6379/0?token=[REDACTED]"
    );
    assert_eq!(
        redact_url("https://otlp.example.com:4318?signature=abc#frag"),
        "https://otlp.example.com:4318?signature=[REDACTED]#frag"
    );
}

#[test]
fn header_lists_mask_every_value() {
    assert_eq!(
        redact_header_list("api-key=SENTINEL,x-honeycomb-team=SENTINEL2"),
        "api-key=[REDACTED],x-honeycomb-team=[REDACTED]"
    );
    assert_eq!(
        redact_header_list(" Authorization = Basic%20SENTINEL , x-scope-orgid=tenant"),
        " Authorization =[REDACTED], x-scope-orgid=[REDACTED]"
    );
    // A raw comma inside a value does not expose its tail.
    let out = redact_header_list("authorization=Bearer a,SENTINEL,x=1");
    assert!(!out.contains("SENTINEL"), "{out}");
    assert_eq!(redact_header_list(""), "");
    assert_eq!(redact_header_list("empty="), "empty=");
}

/// Characters that make URL passwords hard: separators, quotes, percent
/// signs, non-ASCII.
fn hard_char() -> impl Strategy<Value = char> {
    prop_oneof![
        prop::sample::select(vec![
            ' ', '"', '\'', '@', '#', '%', '/', '?', '&', '=', ':', ';', ',', '[', ']', '\\', '+',
            '~', 'é', 'ß', '✓', '鍵', '\t',
        ]),
        proptest::char::range('a', 'z'),
        proptest::char::range('0', '9'),
    ]
}

fn hard_text() -> impl Strategy<Value = String> {
    prop::collection::vec(hard_char(), 0..12).prop_map(|c| c.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// A password made of two sentinels around arbitrary hard characters
    /// never survives redaction, alone or inside a message, whatever the
    /// scheme.
    #[test]
    fn no_sentinel_password_survives_redaction(
        before in hard_text(),
        middle in hard_text(),
        after in hard_text(),
        scheme in prop::sample::select(vec!["postgres", "postgresql", "mysql", "mariadb", "redis", "rediss", "http", "https"]),
        user in "[a-z]{0,6}",
        host in prop::sample::select(vec!["db.internal", "h1:5432,h2:5433", "[::1]:5432", "", "cache"]),
        tail in prop::sample::select(vec!["", "/events", "/events?sslmode=require", "/0?protocol=resp3", "?a=b@c"]),
    ) {
        let password = format!("{before}SENTINELA{middle}SENTINELB{after}");
        prop_assume!(!password.contains("://"));
        let url = format!("{scheme}://{user}:{password}@{host}{tail}");
        let secret = SecretUrl::from(url.as_str());
        for out in [
            redact_url(&url).into_owned(),
            secret.to_string(),
            format!("{secret:?}"),
            serde_json::to_string(&secret).unwrap(),
            redact_url(&format!("failed to connect to {url}: timed out")).into_owned(),
            redact_url(&format!("'{url}'")).into_owned(),
        ] {
            prop_assert!(!out.contains("SENTINEL"), "{} -> {}", url, out);
        }
    }

    /// A sentinel in a secret query parameter or a header value never
    /// survives either.
    #[test]
    fn no_sentinel_parameter_survives_redaction(
        name in prop::sample::select(vec!["x-api-key", "X-Api-Key", "access-token", "sig", "signature", "token", "password", "secret", "key", "apikey"]),
        value in "[A-Za-z0-9%._~-]{0,10}",
        other in "[a-z]{1,6}=[a-z0-9]{0,6}",
    ) {
        let url = format!("https://collector.internal:4318/v1/traces?{other}&{name}=SENTINEL{value}");
        prop_assert!(!redact_url(&url).contains("SENTINEL"));
        let headers = format!("{other},{name}=SENTINEL{value}");
        prop_assert!(!redact_header_list(&headers).contains("SENTINEL"));
    }
}

mod explain {
    use appenv_config::{AppEnv, Loader, Section};
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Serialize, Deserialize)]
    struct Keys {
        signing_key: String,
        api_token: String,
        #[serde(rename = "X-Api-Key")]
        header_key: String,
        key: String,
        monkey: String,
        keyboard_layout: String,
    }

    impl Section for Keys {
        fn defaults(_env: AppEnv) -> Self {
            Keys {
                signing_key: "SENTINEL1".into(),
                api_token: "SENTINEL2".into(),
                header_key: "SENTINEL3".into(),
                key: "ip".into(),
                monkey: "banana".into(),
                keyboard_layout: "dvorak".into(),
            }
        }
    }

    /// Explain hides keys by the same name rule as logs and URLs.
    #[test]
    fn explain_uses_the_shared_sensitive_names() {
        let loaded = Loader::hermetic([("APP_ENV", "local")])
            .config_dir("does-not-exist")
            .dotenv_dir("does-not-exist")
            .load::<Keys>()
            .unwrap();
        let text = format!("{}{}", loaded.explain(), loaded.explain().to_json());
        assert!(!text.contains("SENTINEL"), "{text}");
        let value = |key: &str| loaded.explain().get(key).unwrap().value.clone();
        assert_eq!(value("signing_key"), "[REDACTED]");
        assert_eq!(value("key"), "ip");
        assert_eq!(value("monkey"), "banana");
        assert_eq!(value("keyboard_layout"), "dvorak");
    }
}
