//! [`ServerConfig`]: bind address, port, debug endpoints, CORS origins and
//! the client-address settings (trusted proxies, the header they write).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::client_addr::{ClientAddrResolver, ClientIpHeader, deserialize_trusted_proxies};
use crate::env::AppEnv;
use crate::section::{Registry, Section};

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
/// refused, not waivable), `cors.wildcard` (`*` in production),
/// `server.trust-all` (a trusted proxy range of prefix length 0, such as
/// `0.0.0.0/0` or `::/0`, lets every client choose its own address: a
/// violation, refused in production) and `server.client-ip-header-unused`
/// (`client_ip_header` set while no proxy is trusted, so it is never read: a
/// warning).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// The address to bind.
    pub host: IpAddr,
    /// The port to bind.
    pub port: u16,
    /// Whether debug endpoints (`/debug/config`) are served.
    pub debug_endpoints: bool,
    /// Allowed CORS origins; `*` allows any (refused in production).
    pub cors_origin: Vec<String>,
    /// Proxies (CIDRs or single addresses) whose `client_ip_header` is
    /// believed.
    #[serde(deserialize_with = "deserialize_trusted_proxies")]
    pub trusted_proxies: Vec<IpNet>,
    /// The header trusted proxies put the client address in.
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
}

impl Section for ServerConfig {
    fn defaults(env: AppEnv) -> Self {
        ServerConfig {
            host: if env.is_local() {
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            } else {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            },
            port: DEFAULT_PORT,
            debug_endpoints: !env.is_production(),
            cors_origin: Vec::new(),
            trusted_proxies: Vec::new(),
            client_ip_header: ClientIpHeader::default(),
        }
    }

    fn register(reg: &mut Registry<'_, Self>) {
        reg.alias("HOST", "host")
            .alias("PORT", "port")
            .alias("ENABLE_DEBUG_ENDPOINTS", "debug_endpoints")
            .alias("CORS_ORIGIN", "cors_origin")
            .alias("TRUSTED_PROXIES", "trusted_proxies")
            .alias("CLIENT_IP_HEADER", "client_ip_header")
            .rule("server.debug-endpoints", |check, server| {
                if check.env().is_production() && server.debug_endpoints {
                    check.forbid(
                        "debug_endpoints",
                        "debug endpoints expose internal state and cannot be on in production",
                        "unset ENABLE_DEBUG_ENDPOINTS (or set it to false) for production",
                    );
                }
                Ok(())
            })
            .rule("cors.wildcard", |check, server| {
                if server.cors_origin.iter().any(|o| o.trim() == "*") {
                    check.violation(
                        "cors_origin",
                        "CORS allows any origin (`*`)",
                        "list the allowed origins, e.g. CORS_ORIGIN=https://app.example.com",
                    );
                }
                Ok(())
            })
            .rule("server.trust-all", |check, server| {
                if server.trusted_proxies.iter().any(|net| net.prefix_len() == 0) {
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
            })
            .rule("server.client-ip-header-unused", |check, server| {
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
            });
    }
}
