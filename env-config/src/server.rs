//! [`ServerConfig`]: bind address, port, debug endpoints, CORS origins and
//! the client-address settings (trusted proxies, the header they write).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::client_addr::{ClientAddrResolver, ClientIpHeader, deserialize_trusted_proxies};
use crate::error::Error;
use crate::policy::Check;

/// The default port.
pub const DEFAULT_PORT: u16 = 3001;

/// The server section (`server.*`).
///
/// | key | variable | local | staging | production |
/// |---|---|---|---|---|
/// | `server.host` | `HOST` | `127.0.0.1` | `0.0.0.0` | `0.0.0.0` |
/// | `server.port` | `PORT` | 3001 | 3001 | 3001 |
/// | `server.debug_endpoints` | `ENABLE_DEBUG_ENDPOINTS` | on | on | off, cannot be turned on |
/// | `server.cors_origin` | `CORS_ORIGIN` (comma-separated) | empty | empty | empty |
/// | `server.trusted_proxies` | `TRUSTED_PROXIES` (comma-separated CIDRs or addresses) | empty | empty | empty |
/// | `server.client_ip_header` | `CLIENT_IP_HEADER` | `x-forwarded-for` | `x-forwarded-for` | `x-forwarded-for` |
///
/// The last two configure the one [`ClientAddrResolver`] (see
/// [`ServerConfig::client_addr`]) behind every "who is the client?" in the
/// service: the rate limiter's key and telemetry's `client.address`. With no
/// trusted proxy, the peer address is the client and no header is read;
/// `client_ip_header` is read only from trusted proxies. The platform
/// presets (Fly.io, Render, Cloudflare, AWS ALB, nginx, ingress-nginx) are in
/// the [`ClientAddrResolver`] docs.
///
/// Local binds loopback so that a production container that forgot
/// `APP_ENV` fails its health checks instead of serving with local settings.
///
/// Rules: `server.debug-endpoints` (debug endpoints on in production:
/// refused, not waivable), `cors.wildcard` (`*` in production), `cors.origin`
/// (an entry that is not an origin as browsers send it, such as
/// `https://app.example.com/` with its trailing slash: refused in every
/// environment, since it would silently allow nobody),
/// `server.trust-all` (a trusted proxy range of prefix length 0, such as
/// `0.0.0.0/0` or `::/0`, lets every client choose its own address: a
/// violation, refused in production) and `server.client-ip-header-unused`
/// (`client_ip_header` set while no proxy is trusted, so it is never read: a
/// warning).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, appenv_config_derive::Section)]
#[serde(deny_unknown_fields)]
#[config(rule(id = "server.debug-endpoints", check = debug_endpoints_in_production))]
#[config(rule(id = "cors.wildcard", check = cors_wildcard))]
#[config(rule(id = "cors.origin", check = cors_origins))]
#[config(rule(id = "server.trust-all", check = trust_all))]
#[config(rule(id = "server.client-ip-header-unused", check = client_ip_header_unused))]
pub struct ServerConfig {
    /// The address to bind.
    #[config(alias = "HOST")]
    #[config(default = Ipv4Addr::UNSPECIFIED.into(), local = Ipv4Addr::LOCALHOST.into())]
    pub host: IpAddr,
    /// The port to bind.
    #[config(alias = "PORT", default = DEFAULT_PORT)]
    pub port: u16,
    /// Whether debug endpoints (`/debug/config`) are served.
    #[config(alias = "ENABLE_DEBUG_ENDPOINTS", default = true, production = false)]
    pub debug_endpoints: bool,
    /// Allowed CORS origins, each written as a browser sends it in
    /// `Origin` (`https://app.example.com`, `http://localhost:5173`: scheme,
    /// host and a non-default port, no path or trailing slash); `*` allows
    /// any (refused in production).
    #[config(alias = "CORS_ORIGIN")]
    pub cors_origin: Vec<String>,
    /// Proxies (CIDRs or single addresses) whose `client_ip_header` is
    /// believed.
    #[serde(deserialize_with = "deserialize_trusted_proxies")]
    #[config(alias = "TRUSTED_PROXIES")]
    pub trusted_proxies: Vec<IpNet>,
    /// The header trusted proxies put the client address in.
    #[config(alias = "CLIENT_IP_HEADER")]
    pub client_ip_header: ClientIpHeader,
}

impl ServerConfig {
    /// The socket address to bind.
    pub fn bind_addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }

    /// The client-address resolver for these settings: pass it to every
    /// consumer (the rate limiter, the telemetry layer) so they agree on
    /// who the client is.
    pub fn client_addr(&self) -> ClientAddrResolver {
        ClientAddrResolver::new(self.trusted_proxies.iter().copied(), self.client_ip_header)
    }

    /// tower-http's CORS layer for `server.cors_origin`, or `None` when no
    /// origin is listed (browsers then allow same-origin requests only).
    ///
    /// The layer allows exactly the listed origins (any origin for `*`,
    /// which production refuses: rule `cors.wildcard`); an entry the
    /// `cors.origin` rule refuses never reaches it, since loading refuses
    /// it first. Methods and headers are the service's to say, with the
    /// header names the crates export rather than string literals:
    ///
    /// ```
    /// use appenv_config::{AppEnv, Section, ServerConfig};
    /// use http::{Method, header};
    ///
    /// let mut server = ServerConfig::defaults(AppEnv::Staging);
    /// server.cors_origin = vec!["https://app.example.com".into()];
    /// let cors = server.cors_layer().map(|cors| {
    ///     cors.allow_methods([Method::GET, Method::POST])
    ///         .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
    ///         .expose_headers([header::RETRY_AFTER])
    /// });
    /// assert!(cors.is_some());
    /// ```
    #[cfg(feature = "cors")]
    pub fn cors_layer(&self) -> Option<tower_http::cors::CorsLayer> {
        use tower_http::cors::{AllowOrigin, CorsLayer};
        if self.cors_origin.is_empty() {
            return None;
        }
        let allow = if self.cors_origin.iter().any(|o| o.trim() == "*") {
            AllowOrigin::any()
        } else {
            AllowOrigin::list(
                self.cors_origin
                    .iter()
                    .filter_map(|o| http::HeaderValue::from_str(o.trim()).ok()),
            )
        };
        Some(CorsLayer::new().allow_origin(allow))
    }
}

/// Why `entry` is not an origin a browser sends, with the fix, or `None`
/// when it is one, `*`, or `null` (what sandboxed iframes and `file://`
/// pages send).
fn origin_problem(entry: &str) -> Option<(String, String)> {
    let entry = entry.trim();
    if entry == "*" || entry == "null" {
        return None;
    }
    let example = "write each origin as scheme://host[:port], e.g. https://app.example.com";
    if entry.contains('*') {
        return Some((
            format!("`{entry}` is matched exactly, so its `*` matches no origin"),
            "list each origin (https://a.example.com,https://b.example.com), or `*` for any"
                .to_owned(),
        ));
    }
    let url = match url::Url::parse(entry) {
        Ok(url) if url.host_str().is_some_and(|h| !h.is_empty()) => url,
        _ => {
            return Some((
                format!("`{entry}` is not an origin (scheme://host[:port])"),
                example.to_owned(),
            ));
        }
    };
    let origin = if matches!(url.scheme(), "http" | "https") {
        url.origin().ascii_serialization()
    } else {
        // App and extension origins (`capacitor://localhost`,
        // `chrome-extension://…`): the url crate calls them opaque, so the
        // origin is spelled out from its parts.
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        match url.port() {
            Some(port) => format!("{}://{host}:{port}", url.scheme()),
            None => format!("{}://{host}", url.scheme()),
        }
    };
    (origin != entry).then(|| {
        (
            format!(
                "`{entry}` never matches a browser's Origin header, which is `{origin}` for it"
            ),
            format!("write `{origin}`: an origin has no path, query, user or trailing slash"),
        )
    })
}

/// `cors.origin`: every listed origin can match. A browser compares its
/// `Origin` header byte for byte, so `https://app.example.com/` silently
/// allows nobody; refused in every environment so it fails on the
/// developer's machine first.
fn cors_origins(check: &mut Check<'_>, server: &ServerConfig) -> Result<(), Error> {
    for entry in &server.cors_origin {
        if let Some((message, fix)) = origin_problem(entry) {
            check.deny("cors_origin", message, fix);
        }
    }
    Ok(())
}

fn debug_endpoints_in_production(
    check: &mut Check<'_>,
    server: &ServerConfig,
) -> Result<(), Error> {
    if check.env().is_production() && server.debug_endpoints {
        check.forbid(
            "debug_endpoints",
            "debug endpoints expose internal state and cannot be on in production",
            "unset ENABLE_DEBUG_ENDPOINTS (or set it to false) for production",
        );
    }
    Ok(())
}

fn cors_wildcard(check: &mut Check<'_>, server: &ServerConfig) -> Result<(), Error> {
    if server.cors_origin.iter().any(|o| o.trim() == "*") {
        check.violation(
            "cors_origin",
            "CORS allows any origin (`*`)",
            "list the allowed origins, e.g. CORS_ORIGIN=https://app.example.com",
        );
    }
    Ok(())
}

fn trust_all(check: &mut Check<'_>, server: &ServerConfig) -> Result<(), Error> {
    if server
        .trusted_proxies
        .iter()
        .any(|net| net.prefix_len() == 0)
    {
        check.violation(
            "trusted_proxies",
            format!(
                "every address is a trusted proxy, so any client chooses its own address with {}",
                server.client_ip_header.header_name().as_str()
            ),
            "list only your load balancers' ranges in TRUSTED_PROXIES",
        );
    }
    Ok(())
}

fn client_ip_header_unused(check: &mut Check<'_>, server: &ServerConfig) -> Result<(), Error> {
    if server.trusted_proxies.is_empty() && !check.is_default("client_ip_header") {
        check.warn(
            "client_ip_header",
            format!(
                "{} is never read because no proxy is trusted; the peer address is the client",
                server.client_ip_header
            ),
            "list your proxies' ranges in TRUSTED_PROXIES, or unset CLIENT_IP_HEADER",
        );
    }
    Ok(())
}
