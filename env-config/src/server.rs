//! [`ServerConfig`]: bind address, port, debug endpoints and CORS origins.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};

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
///
/// Local binds loopback so that a production container that forgot
/// `APP_ENV` fails its health checks instead of serving with local settings.
///
/// Rules: `server.debug-endpoints` (debug endpoints on in production:
/// refused, not waivable) and `cors.wildcard` (`*` in production).
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
}

impl ServerConfig {
    /// The socket address to bind.
    pub fn bind_addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
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
        }
    }

    fn register(reg: &mut Registry<'_, Self>) {
        reg.alias("HOST", "host")
            .alias("PORT", "port")
            .alias("ENABLE_DEBUG_ENDPOINTS", "debug_endpoints")
            .alias("CORS_ORIGIN", "cors_origin")
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
            });
    }
}
