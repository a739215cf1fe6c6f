//! `server.trusted_proxies` / `server.client_ip_header` loaded through the
//! real loader, hermetically, and the resolver they build.

use appenv_config::{AppEnv, ClientIpHeader, Loaded, Loader, Registry, Section, ServerConfig};
use http::HeaderMap;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct Config {
    server: ServerConfig,
}

impl Section for Config {
    fn defaults(env: AppEnv) -> Self {
        Config {
            server: ServerConfig::defaults(env),
        }
    }

    fn register(reg: &mut Registry<'_, Self>) {
        reg.section::<ServerConfig>("server");
    }
}

fn load(vars: &[(&str, &str)]) -> Result<Loaded<Config>, appenv_config::Error> {
    Loader::hermetic(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
        .dotenv_dir("/nonexistent-appenv-client-addr-tests")
        .config_dir("/nonexistent-appenv-client-addr-tests")
        .load::<Config>()
}

#[test]
fn flat_variables_configure_the_resolver() {
    let loaded = load(&[
        ("APP_ENV", "staging"),
        ("TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.1"),
        ("CLIENT_IP_HEADER", "Fly-Client-IP"),
    ])
    .unwrap();
    let loaded = loaded.enforce().unwrap();
    let server = &loaded.config().server;
    assert_eq!(server.trusted_proxies.len(), 2);
    assert_eq!(server.trusted_proxies[1].to_string(), "192.168.1.1/32");
    assert_eq!(server.client_ip_header, ClientIpHeader::FlyClientIp);
    assert_eq!(
        loaded
            .explain()
            .get("server.trusted_proxies")
            .unwrap()
            .source,
        "env TRUSTED_PROXIES"
    );

    let resolver = server.client_addr();
    let mut headers = HeaderMap::new();
    headers.insert("fly-client-ip", "198.51.100.7".parse().unwrap());
    headers.insert("x-forwarded-for", "6.6.6.6".parse().unwrap());
    assert_eq!(
        resolver.resolve("10.0.0.5".parse().unwrap(), &headers),
        "198.51.100.7".parse::<std::net::IpAddr>().unwrap()
    );
}

#[test]
fn defaults_trust_nobody_and_read_x_forwarded_for_once_proxies_are_trusted() {
    for env in ["local", "staging", "production"] {
        let loaded = load(&[("APP_ENV", env)]).unwrap();
        let server = &loaded.config().server;
        assert!(server.trusted_proxies.is_empty());
        assert_eq!(server.client_ip_header, ClientIpHeader::XForwardedFor);
    }
    let loaded = load(&[("APP_ENV", "staging")]).unwrap();
    let resolver = loaded.config().server.client_addr();
    let mut headers = HeaderMap::new();
    headers.insert("x-forwarded-for", "6.6.6.6".parse().unwrap());
    assert_eq!(
        resolver.resolve("10.0.0.5".parse().unwrap(), &headers),
        "10.0.0.5".parse::<std::net::IpAddr>().unwrap()
    );

    let loaded = load(&[("APP_ENV", "staging"), ("TRUSTED_PROXIES", "10.0.0.0/8")]).unwrap();
    let resolver = loaded.config().server.client_addr();
    assert_eq!(
        resolver.resolve("10.0.0.5".parse().unwrap(), &headers),
        "6.6.6.6".parse::<std::net::IpAddr>().unwrap()
    );
}

#[test]
fn bad_values_are_errors_naming_the_key_and_the_value() {
    let err = load(&[("APP_ENV", "staging"), ("TRUSTED_PROXIES", "10.0.0.0/33")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("server.trusted_proxies"), "{err}");
    assert!(err.contains("`10.0.0.0/33` is not a CIDR"), "{err}");

    let err = load(&[("APP_ENV", "staging"), ("CLIENT_IP_HEADER", "x-client-ip")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("server.client_ip_header"), "{err}");
    assert!(
        err.contains("unknown client IP header `x-client-ip`"),
        "{err}"
    );
    assert!(err.contains("cf-connecting-ip"), "{err}");
}

#[test]
fn trusting_every_address_is_refused_in_production() {
    for all in ["0.0.0.0/0", "10.0.0.0/8, ::/0"] {
        let prod = load(&[("APP_ENV", "production"), ("TRUSTED_PROXIES", all)]).unwrap();
        let err = prod.enforce().unwrap_err().to_string();
        assert!(err.contains("server.trust-all"), "{err}");
        assert!(err.contains("TRUSTED_PROXIES"), "{err}");
        let staging = load(&[("APP_ENV", "staging"), ("TRUSTED_PROXIES", all)]).unwrap();
        let staging = staging.enforce().unwrap();
        assert!(
            staging
                .policy()
                .warnings
                .iter()
                .any(|f| f.rule == "server.trust-all"),
            "{}",
            staging.policy()
        );
    }
}

#[test]
fn a_header_without_trusted_proxies_is_warned_about() {
    let loaded = load(&[("APP_ENV", "production"), ("CLIENT_IP_HEADER", "x-real-ip")]).unwrap();
    let loaded = loaded.enforce().unwrap();
    let warning = loaded
        .policy()
        .warnings
        .iter()
        .find(|f| f.rule == "server.client-ip-header-unused")
        .unwrap_or_else(|| panic!("{}", loaded.policy()));
    assert_eq!(warning.key, "server.client_ip_header");
    assert_eq!(warning.source, "env CLIENT_IP_HEADER");
    let quiet = load(&[
        ("APP_ENV", "production"),
        ("CLIENT_IP_HEADER", "x-real-ip"),
        ("TRUSTED_PROXIES", "10.0.0.0/8"),
    ])
    .unwrap();
    assert!(
        !quiet
            .policy()
            .warnings
            .iter()
            .any(|f| f.rule == "server.client-ip-header-unused")
    );
}
