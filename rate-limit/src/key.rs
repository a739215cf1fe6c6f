//! Client identity: which bucket a request is counted in.
//!
//! For `key = "ip"` the client address is the one the service's
//! [`ClientAddrResolver`] finds (configured once in the server section:
//! `server.trusted_proxies` / `TRUSTED_PROXIES` and
//! `server.client_ip_header` / `CLIENT_IP_HEADER`; see its docs for the
//! rules and the platform presets), starting from the peer address of the
//! connection: axum's `ConnectInfo<SocketAddr>` extension (feature `axum`)
//! or a plain [`SocketAddr`] extension (insert one from hyper, tonic or your
//! own accept loop). Telemetry's `client.address` uses the same resolver,
//! so both name the same client.
//!
//! IPv4-mapped IPv6 addresses count as IPv4; other IPv6 addresses are
//! grouped by their /64, the block one subscriber usually holds.
//!
//! A request is *unidentified* when there is no peer address, or, for
//! `key = "header:<name>"`, when the header is missing or empty. What
//! happens to it is `overflow`: `shared` (production) counts all such
//! requests in one shared bucket; `pass` lets them through unlimited, logged
//! at debug level. It is never a `500`.

use std::fmt;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use appenv_config::ClientAddrResolver;
use http::{HeaderMap, HeaderName, Request};
use sha2::{Digest, Sha256};

use crate::config::KeyKind;

/// The bucket a request is counted in.
///
/// Header values (API keys) are kept only as a truncated SHA-256 digest, so
/// neither memory, Redis keys nor logs ever hold the key itself.
#[derive(Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClientKey {
    /// A client address (IPv6 truncated to its /64).
    Ip(IpAddr),
    /// A digest of a header value.
    Header([u8; 16]),
    /// The one global bucket.
    Global,
    /// The shared overflow bucket (unidentified requests, keys beyond the
    /// cap).
    Overflow,
}

impl ClientKey {
    /// Builds the key for a client address, grouping IPv6 by /64.
    pub fn from_ip(ip: IpAddr) -> Self {
        ClientKey::Ip(group(ip))
    }

    /// Builds the key for a header value (stored only as a digest).
    pub fn from_header_value(value: &[u8]) -> Self {
        let digest = Sha256::digest(value);
        let mut out = [0u8; 16];
        out.copy_from_slice(&digest[..16]);
        ClientKey::Header(out)
    }
}

impl fmt::Display for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientKey::Ip(IpAddr::V4(ip)) => write!(f, "ip:{ip}"),
            ClientKey::Ip(IpAddr::V6(ip)) => write!(f, "ip:{ip}/64"),
            ClientKey::Header(digest) => {
                f.write_str("hdr:")?;
                for byte in digest {
                    write!(f, "{byte:02x}")?;
                }
                Ok(())
            }
            ClientKey::Global => f.write_str("global"),
            ClientKey::Overflow => f.write_str("overflow"),
        }
    }
}

impl fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientKey({self})")
    }
}

fn group(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
    }
}

/// Finds the key of a request, as configured.
#[derive(Debug, Clone)]
pub(crate) struct KeyExtractor {
    kind: KeyKind,
    client_addr: ClientAddrResolver,
}

impl KeyExtractor {
    pub(crate) fn new(kind: KeyKind, client_addr: ClientAddrResolver) -> Self {
        KeyExtractor { kind, client_addr }
    }

    /// The request's key, or `None` when it cannot be identified.
    pub(crate) fn extract<B>(&self, req: &Request<B>) -> Option<ClientKey> {
        match &self.kind {
            KeyKind::Global => Some(ClientKey::Global),
            KeyKind::Header(name) => header_key(req.headers(), name),
            KeyKind::Ip => {
                let peer = peer_addr(req)?;
                let client = self.client_addr.resolve(peer, req.headers());
                Some(ClientKey::from_ip(client))
            }
        }
    }
}

fn header_key(headers: &HeaderMap, name: &HeaderName) -> Option<ClientKey> {
    let value = headers.get(name)?.as_bytes();
    let value = value.trim_ascii();
    if value.is_empty() {
        return None;
    }
    Some(ClientKey::from_header_value(value))
}

/// The connection's peer address, from axum's `ConnectInfo` or a plain
/// `SocketAddr` extension.
pub(crate) fn peer_addr<B>(req: &Request<B>) -> Option<IpAddr> {
    #[cfg(feature = "axum")]
    if let Some(info) = req
        .extensions()
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
    {
        return Some(info.0.ip());
    }
    req.extensions().get::<SocketAddr>().map(SocketAddr::ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv6_is_grouped_by_64_and_mapped_v4_is_v4() {
        let a = ClientKey::from_ip(ip("2001:db8:1:2:aaaa::1"));
        let b = ClientKey::from_ip(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"));
        let c = ClientKey::from_ip(ip("2001:db8:1:3::1"));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.to_string(), "ip:2001:db8:1:2::/64");
        assert_eq!(
            ClientKey::from_ip(ip("::ffff:192.0.2.1")),
            ClientKey::from_ip(ip("192.0.2.1"))
        );
    }

    #[test]
    fn header_keys_are_digests_never_the_value() {
        let key = ClientKey::from_header_value(b"sk_live_supersecretvalue");
        let shown = format!("{key} {key:?}");
        assert!(!shown.contains("supersecret"), "{shown}");
        assert!(shown.starts_with("hdr:"));
        let extractor = KeyExtractor::new(
            KeyKind::Header(HeaderName::from_static("x-api-key")),
            ClientAddrResolver::direct(),
        );
        let req = Request::builder()
            .header("x-api-key", "  ")
            .body(())
            .unwrap();
        assert_eq!(extractor.extract(&req), None);
        let req = Request::builder()
            .header("x-api-key", "k1")
            .body(())
            .unwrap();
        assert_eq!(
            extractor.extract(&req),
            Some(ClientKey::from_header_value(b"k1"))
        );
    }

    #[test]
    fn peer_address_comes_from_extensions() {
        let extractor = KeyExtractor::new(KeyKind::Ip, ClientAddrResolver::direct());
        let req = Request::new(());
        assert_eq!(extractor.extract(&req), None);
        let mut req = Request::new(());
        req.extensions_mut()
            .insert(SocketAddr::from(([192, 0, 2, 1], 4000)));
        assert_eq!(
            extractor.extract(&req),
            Some(ClientKey::from_ip(ip("192.0.2.1")))
        );
    }
}
