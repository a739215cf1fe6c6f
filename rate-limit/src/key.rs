//! Client identity: which bucket a request is counted in.
//!
//! For `key = "ip"` the client address is found like this:
//!
//! 1. Start from the peer address of the connection: axum's
//!    `ConnectInfo<SocketAddr>` extension (feature `axum`) or a plain
//!    [`SocketAddr`] extension (insert one from hyper, tonic or your own
//!    accept loop).
//! 2. While the current address is a trusted proxy, step one hop to the
//!    left in the forwarding chain: the `Forwarded` header (RFC 7239, its
//!    `for=` parameters) when present, otherwise `X-Forwarded-For`. The
//!    chain is read right to left, so entries a client wrote itself (always
//!    on the left) are only reached by passing through proxies you trust.
//! 3. The first address that is not a trusted proxy is the client. If every
//!    hop is trusted, the leftmost address is the client.
//!
//! IPv4-mapped IPv6 addresses count as IPv4; other IPv6 addresses are
//! grouped by their /64, the block one subscriber usually holds.
//!
//! A request is *unidentified* when there is no peer address, when a trusted
//! proxy forwarded an entry that is not an address (`unknown`, an obfuscated
//! `_node`), or, for `key = "header:<name>"`, when the header is missing or
//! empty. What happens to it is `overflow`: `shared` (production) counts all
//! such requests in one shared bucket; `pass` lets them through unlimited,
//! logged at debug level. It is never a `500`.

use std::fmt;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use http::{HeaderMap, HeaderName, Request};
use ipnet::IpNet;
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
    trusted: Vec<IpNet>,
}

impl KeyExtractor {
    pub(crate) fn new(kind: KeyKind, trusted: Vec<IpNet>) -> Self {
        KeyExtractor { kind, trusted }
    }

    /// The request's key, or `None` when it cannot be identified.
    pub(crate) fn extract<B>(&self, req: &Request<B>) -> Option<ClientKey> {
        match &self.kind {
            KeyKind::Global => Some(ClientKey::Global),
            KeyKind::Header(name) => header_key(req.headers(), name),
            KeyKind::Ip => {
                let peer = peer_addr(req)?;
                client_ip(peer, req.headers(), &self.trusted).map(ClientKey::from_ip)
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

fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    let ip = ip.to_canonical();
    trusted.iter().any(|net| net.contains(&ip))
}

/// Walks the forwarding chain right to left from `peer` through trusted
/// proxies. `None` when a trusted proxy forwarded something that is not an
/// address.
pub(crate) fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    let mut current = peer.to_canonical();
    if !is_trusted(current, trusted) {
        return Some(current);
    }
    let hops = forwarding_chain(headers);
    for hop in hops.iter().rev() {
        match hop {
            Some(ip) => {
                current = ip.to_canonical();
                if !is_trusted(current, trusted) {
                    return Some(current);
                }
            }
            None => return None,
        }
    }
    Some(current)
}

/// The forwarding chain, left (client) to right (nearest proxy): the `for=`
/// parameters of `Forwarded` when that header is present, otherwise
/// `X-Forwarded-For`. An entry that is not an address is `None`.
fn forwarding_chain(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<_> = headers.get_all(http::header::FORWARDED).iter().collect();
    if !forwarded.is_empty() {
        let mut out = Vec::new();
        for value in forwarded {
            let Ok(value) = value.to_str() else {
                out.push(None);
                continue;
            };
            for element in split_unquoted(value, ',') {
                let node = split_unquoted(element, ';')
                    .into_iter()
                    .filter_map(|pair| pair.split_once('='))
                    .find(|(name, _)| name.trim().eq_ignore_ascii_case("for"))
                    .map(|(_, node)| node.trim());
                match node {
                    Some(node) => out.push(parse_node(node)),
                    // An element without `for=` says nothing about the client.
                    None => continue,
                }
            }
        }
        return out;
    }
    let mut out = Vec::new();
    for value in headers.get_all(HeaderName::from_static("x-forwarded-for")) {
        let Ok(value) = value.to_str() else {
            out.push(None);
            continue;
        };
        out.extend(
            value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(parse_node),
        );
    }
    out
}

/// Splits on `sep` outside double-quoted strings.
fn split_unquoted(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            parts.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    parts.push(&s[start..]);
    parts
}

/// Parses one node: `1.2.3.4`, `1.2.3.4:80`, `[2001:db8::1]:443`,
/// `2001:db8::1`, optionally double-quoted.
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim().trim_matches('"').trim();
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(addr) = node.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    let inner = node.strip_prefix('[')?;
    let (ip, _) = inner.split_once(']')?;
    ip.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn untrusted_peer_ignores_forwarding_headers() {
        let h = headers(&[("x-forwarded-for", "6.6.6.6"), ("forwarded", "for=7.7.7.7")]);
        assert_eq!(
            client_ip(ip("203.0.113.9"), &h, &[]),
            Some(ip("203.0.113.9"))
        );
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_ip(ip("203.0.113.9"), &h, &trusted),
            Some(ip("203.0.113.9"))
        );
    }

    #[test]
    fn xff_is_walked_right_to_left_through_trusted_proxies() {
        let trusted = nets(&["10.0.0.0/8", "192.168.0.0/16"]);
        // The client wrote 6.6.6.6 itself; the edge proxy appended the real
        // client 198.51.100.7; an inner proxy appended the edge proxy.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 192.168.1.1")]);
        assert_eq!(
            client_ip(ip("10.1.2.3"), &h, &trusted),
            Some(ip("198.51.100.7"))
        );
        // Several header lines form one list, in order.
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "198.51.100.7:5555, 192.168.1.1"),
        ]);
        assert_eq!(
            client_ip(ip("10.1.2.3"), &h, &trusted),
            Some(ip("198.51.100.7"))
        );
        // Every hop trusted: the leftmost is the client.
        let h = headers(&[("x-forwarded-for", "10.9.9.9, 192.168.1.1")]);
        assert_eq!(
            client_ip(ip("10.1.2.3"), &h, &trusted),
            Some(ip("10.9.9.9"))
        );
        // No header from a trusted peer: the peer itself.
        assert_eq!(
            client_ip(ip("10.1.2.3"), &HeaderMap::new(), &trusted),
            Some(ip("10.1.2.3"))
        );
    }

    #[test]
    fn forwarded_header_wins_and_is_parsed_per_rfc_7239() {
        let trusted = nets(&["10.0.0.0/8"]);
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            (
                "forwarded",
                r#"for=6.6.6.6;proto=https, For="[2001:db8:cafe::17]:4711";by=10.0.0.1, for=10.0.0.2"#,
            ),
        ]);
        assert_eq!(
            client_ip(ip("10.0.0.3"), &h, &trusted),
            Some(ip("2001:db8:cafe::17"))
        );
        // An obfuscated node behind a trusted proxy: unidentified.
        let h = headers(&[("forwarded", "for=_hidden, for=10.0.0.2")]);
        assert_eq!(client_ip(ip("10.0.0.3"), &h, &trusted), None);
        let h = headers(&[("forwarded", r#"for="unknown""#)]);
        assert_eq!(client_ip(ip("10.0.0.3"), &h, &trusted), None);
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
        // A trusted range written in IPv4 matches a mapped peer address.
        let trusted = nets(&["10.0.0.0/8"]);
        let h = headers(&[("x-forwarded-for", "198.51.100.7")]);
        assert_eq!(
            client_ip(ip("::ffff:10.0.0.1"), &h, &trusted),
            Some(ip("198.51.100.7"))
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
            vec![],
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
        let extractor = KeyExtractor::new(KeyKind::Ip, vec![]);
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
