//! [`ClientAddrResolver`]: the client address of a request behind trusted
//! proxies, resolved the same way for every consumer (the rate limiter's
//! key, telemetry's `client.address`).
//!
//! Configured once, in the server section ([`ServerConfig`](crate::ServerConfig)):
//!
//! | key | variable | default |
//! |---|---|---|
//! | `server.trusted_proxies` | `TRUSTED_PROXIES` (comma list of CIDRs or addresses) | empty: no proxy is trusted, the peer is the client |
//! | `server.client_ip_header` | `CLIENT_IP_HEADER` | `x-forwarded-for` (read only when the peer is a trusted proxy) |
//!
//! # How the address is found
//!
//! 1. The peer address of the connection is where the walk starts. When it is
//!    not a trusted proxy, it is the client, and no header is read at all.
//! 2. When the peer is a trusted proxy, **only the configured header** is
//!    read. A header of another kind (a `Forwarded` the client wrote while the
//!    proxy appends `X-Forwarded-For`, an `X-Real-IP` the client made up)
//!    never changes the result.
//! 3. For `x-forwarded-for` and `forwarded`, the hops are walked right to
//!    left (all header lines in order form one list): each hop is the address
//!    the proxy on its right saw. The first hop that is not a trusted proxy is
//!    the client. Entries a client wrote itself are always on the left, so
//!    they are only reached by passing through proxies you trust.
//! 4. Each hop is parsed on its own. A hop that is not an address (bytes that
//!    are not UTF-8, `unknown`, an obfuscated `_node`, a `Forwarded` element
//!    without `for=`) ends the walk there: the client is the last address the
//!    walk reached, which is the trusted proxy that forwarded the unusable
//!    entry. A bad entry elsewhere in the line does not matter, and the
//!    client is never "unknown" once there is a peer address.
//! 5. If every hop is a trusted proxy, the leftmost address is the client.
//!    The walk stops after [`MAX_HOPS`] hops at the address it reached.
//! 6. For a single-value platform header (`fly-client-ip`,
//!    `cf-connecting-ip`, `true-client-ip`, `x-real-ip`), its value is the
//!    client when it is an address; when it is missing or not an address,
//!    the peer (the trusted proxy) is. If several values arrive (more than
//!    one line, or a comma list) the last one, written by the nearest hop,
//!    counts.
//!
//! Addresses are accepted as `192.0.2.1`, `192.0.2.1:8080`, `2001:db8::1`,
//! `[2001:db8::1]`, `[2001:db8::1]:443`, with a zone (`fe80::1%eth0`, the
//! zone is dropped) and, in `Forwarded`, quoted (`for="[2001:db8::1]:443"`).
//! IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`) count as IPv4, for the
//! trusted ranges and for the result.
//!
//! # Presets
//!
//! Trust exactly the addresses your platform's proxies connect from (the
//! peer address your service sees; log it once to check), never `0.0.0.0/0`
//! (rule `server.trust-all`).
//!
//! | platform | `CLIENT_IP_HEADER` | `TRUSTED_PROXIES` |
//! |---|---|---|
//! | Fly.io | `fly-client-ip` | the private range Fly's proxy connects from (the peer you see, e.g. `172.16.0.0/12`) |
//! | Render | `x-forwarded-for` | the private range of Render's load balancers (the peer you see, typically within `10.0.0.0/8`) |
//! | Cloudflare (origin reached directly from Cloudflare) | `cf-connecting-ip` | Cloudflare's published ranges (<https://www.cloudflare.com/ips/>) |
//! | Cloudflare Enterprise, Akamai | `true-client-ip` | the CDN's published ranges |
//! | AWS ALB | `x-forwarded-for` (the ALB appends the client it saw) | the subnets of the load balancer, e.g. the VPC CIDR `10.0.0.0/16` |
//! | nginx with `proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;` | `x-forwarded-for` | nginx's address, e.g. `127.0.0.1` or its subnet |
//! | nginx with `proxy_set_header X-Real-IP $remote_addr;` | `x-real-ip` | nginx's address |
//! | nginx with `proxy_set_header Forwarded "for=\"$remote_addr\"";` (or a proxy that writes RFC 7239) | `forwarded` | the proxy's address |
//! | Kubernetes ingress-nginx | `x-forwarded-for` (it sends `X-Forwarded-For`, extended with the client list when `use-forwarded-headers` is on) | the pod CIDR of the ingress controller, e.g. `10.244.0.0/16` |
//!
//! Behind two layers (a CDN in front of a load balancer), trust both ranges
//! and use the header both write (`x-forwarded-for`): the walk passes the
//! load balancer, then the CDN, and stops at the client.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::sync::Arc;

use http::{HeaderMap, HeaderName};
use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How many hops of `X-Forwarded-For` / `Forwarded` are walked at most; the
/// walk stops at the address it reached by then.
pub const MAX_HOPS: usize = 64;

/// The header a trusted proxy puts the client address in
/// (`server.client_ip_header` / `CLIENT_IP_HEADER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ClientIpHeader {
    /// `X-Forwarded-For`: a comma list, walked right to left (the default).
    #[default]
    XForwardedFor,
    /// `Forwarded` (RFC 7239): its `for=` parameters, walked right to left.
    Forwarded,
    /// `Fly-Client-IP` (Fly.io), a single address.
    FlyClientIp,
    /// `CF-Connecting-IP` (Cloudflare), a single address.
    CfConnectingIp,
    /// `True-Client-IP` (Cloudflare Enterprise, Akamai), a single address.
    TrueClientIp,
    /// `X-Real-IP` (nginx `proxy_set_header X-Real-IP $remote_addr`), a
    /// single address.
    XRealIp,
}

impl ClientIpHeader {
    /// Every accepted value, in the spelling configuration uses.
    pub const ALL: [ClientIpHeader; 6] = [
        ClientIpHeader::XForwardedFor,
        ClientIpHeader::Forwarded,
        ClientIpHeader::FlyClientIp,
        ClientIpHeader::CfConnectingIp,
        ClientIpHeader::TrueClientIp,
        ClientIpHeader::XRealIp,
    ];

    /// The configuration spelling, which is also the lowercase header name.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientIpHeader::XForwardedFor => "x-forwarded-for",
            ClientIpHeader::Forwarded => "forwarded",
            ClientIpHeader::FlyClientIp => "fly-client-ip",
            ClientIpHeader::CfConnectingIp => "cf-connecting-ip",
            ClientIpHeader::TrueClientIp => "true-client-ip",
            ClientIpHeader::XRealIp => "x-real-ip",
        }
    }

    /// The header's name.
    pub fn header_name(self) -> HeaderName {
        HeaderName::from_static(self.as_str())
    }

    /// `true` for the headers that carry a list of hops.
    pub fn is_list(self) -> bool {
        matches!(
            self,
            ClientIpHeader::XForwardedFor | ClientIpHeader::Forwarded
        )
    }
}

impl fmt::Display for ClientIpHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ClientIpHeader {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim();
        ClientIpHeader::ALL
            .into_iter()
            .find(|h| h.as_str().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| {
                let names: Vec<_> = ClientIpHeader::ALL.iter().map(|h| h.as_str()).collect();
                format!(
                    "unknown client IP header `{wanted}`; expected one of {}",
                    names.join(", ")
                )
            })
    }
}

impl Serialize for ClientIpHeader {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ClientIpHeader {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Parses a trusted proxy: a CIDR (`10.0.0.0/8`, `2001:db8::/32`) or a
/// single address (`10.0.0.1`, taken as `/32` or `/128`).
///
/// # Errors
///
/// A message naming the value when it is neither.
pub fn parse_trusted_proxy(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    if let Ok(net) = s.parse::<IpNet>() {
        return Ok(net);
    }
    s.parse::<IpAddr>().map(IpNet::from).map_err(|_| {
        format!("`{s}` is not a CIDR (`10.0.0.0/8`, `2001:db8::/32`) or an IP address")
    })
}

/// Serde helper for a list of trusted proxies: a list of strings or one
/// comma-separated string, each a CIDR or an address
/// (`#[serde(deserialize_with = "appenv_config::deserialize_trusted_proxies")]`).
///
/// # Errors
/// The deserializer's error for a value that is neither, naming the bad
/// entry.
pub fn deserialize_trusted_proxies<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<IpNet>, D::Error> {
    crate::lists::deserialize_string_list(deserializer)?
        .iter()
        .map(|s| parse_trusted_proxy(s).map_err(serde::de::Error::custom))
        .collect()
}

/// Resolves the client address of a request: see the [module
/// docs](crate::ClientAddrResolver#how-the-address-is-found) for the rules
/// and the platform presets.
///
/// Build it from the server section with
/// [`ServerConfig::client_addr`](crate::ServerConfig::client_addr) so every
/// consumer uses the same settings. Cloning is cheap.
///
/// ```
/// use appenv_config::{ClientAddrResolver, ClientIpHeader};
/// use http::HeaderMap;
///
/// let resolver = ClientAddrResolver::new(
///     ["10.0.0.0/8".parse().unwrap()],
///     ClientIpHeader::XForwardedFor,
/// );
/// let mut headers = HeaderMap::new();
/// // The client wrote 6.6.6.6 itself; the load balancer appended the
/// // address it saw.
/// headers.insert("x-forwarded-for", "6.6.6.6, 198.51.100.7".parse().unwrap());
/// headers.insert("forwarded", "for=7.7.7.7".parse().unwrap()); // not read
/// let client = resolver.resolve("10.1.2.3".parse().unwrap(), &headers);
/// assert_eq!(client.to_string(), "198.51.100.7");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ClientAddrResolver {
    trusted: Arc<[IpNet]>,
    header: ClientIpHeader,
}

impl fmt::Debug for ClientAddrResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientAddrResolver")
            .field("trusted_proxies", &self.trusted)
            .field("header", &self.header)
            .finish()
    }
}

impl Default for ClientAddrResolver {
    fn default() -> Self {
        ClientAddrResolver::direct()
    }
}

impl ClientAddrResolver {
    /// A resolver trusting `trusted_proxies` (IPv4-mapped IPv6 ranges are
    /// taken as IPv4) and reading `header` from them.
    pub fn new(trusted_proxies: impl IntoIterator<Item = IpNet>, header: ClientIpHeader) -> Self {
        let trusted: Vec<IpNet> = trusted_proxies.into_iter().map(canonical_net).collect();
        ClientAddrResolver {
            trusted: trusted.into(),
            header,
        }
    }

    /// A resolver for clients that connect directly: no proxy is trusted,
    /// the peer address is the client and no header is ever read.
    pub fn direct() -> Self {
        ClientAddrResolver::new([], ClientIpHeader::XForwardedFor)
    }

    /// The trusted proxy ranges.
    pub fn trusted_proxies(&self) -> &[IpNet] {
        &self.trusted
    }

    /// The header read from trusted proxies.
    pub fn header(&self) -> ClientIpHeader {
        self.header
    }

    /// Whether `ip` is a trusted proxy.
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.trusted.iter().any(|net| net.contains(&ip))
    }

    /// The client address of a request that arrived from `peer` with
    /// `headers`. IPv4-mapped addresses come back as IPv4.
    pub fn resolve(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if self.trusted.is_empty() || !self.is_trusted(peer) {
            return peer;
        }
        match self.header {
            ClientIpHeader::XForwardedFor => self.walk(peer, xff_hops(headers)),
            ClientIpHeader::Forwarded => self.walk(peer, forwarded_hops(headers)),
            single => {
                single_value(headers, single.header_name()).map_or(peer, |ip| ip.to_canonical())
            }
        }
    }

    /// Walks `hops` (right to left) from `current` while it is trusted.
    fn walk(&self, mut current: IpAddr, hops: impl Iterator<Item = Option<IpAddr>>) -> IpAddr {
        for hop in hops.take(MAX_HOPS) {
            let Some(ip) = hop else {
                return current;
            };
            current = ip.to_canonical();
            if !self.is_trusted(current) {
                return current;
            }
        }
        current
    }
}

fn canonical_net(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96)
                .map(IpNet::V4)
                .unwrap_or(net),
            None => net,
        },
        other => other,
    }
}

/// The hops of `X-Forwarded-For`, right to left: every line, last line
/// first, each split on commas; empty list elements are skipped.
fn xff_hops(headers: &HeaderMap) -> impl Iterator<Item = Option<IpAddr>> + '_ {
    headers
        .get_all(http::header::HeaderName::from_static("x-forwarded-for"))
        .iter()
        .rev()
        .flat_map(|line| line.as_bytes().rsplit(|b| *b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|hop| !hop.is_empty())
        .map(parse_node)
}

/// The hops of `Forwarded`, right to left: one per element; an element
/// without exactly one `for=` is not an address.
fn forwarded_hops(headers: &HeaderMap) -> impl Iterator<Item = Option<IpAddr>> + '_ {
    headers
        .get_all(http::header::FORWARDED)
        .iter()
        .rev()
        .flat_map(|line| {
            let mut elements = split_unquoted(line.as_bytes(), b',');
            elements.reverse();
            elements
        })
        .map(<[u8]>::trim_ascii)
        .filter(|element| !element.is_empty())
        .map(forwarded_for)
}

/// The `for=` node of one `Forwarded` element.
fn forwarded_for(element: &[u8]) -> Option<IpAddr> {
    let mut found = None;
    for pair in split_unquoted(element, b';') {
        let pair = pair.trim_ascii();
        let Some(eq) = pair.iter().position(|b| *b == b'=') else {
            // A parameter without a value: not RFC 7239.
            return None;
        };
        let (name, value) = (pair[..eq].trim_ascii(), pair[eq + 1..].trim_ascii());
        if name.eq_ignore_ascii_case(b"for") {
            if found.is_some() {
                // Two `for=` in one element: which one is the client?
                return None;
            }
            found = Some(value);
        }
    }
    parse_node(unquote(found?)?)
}

/// The content of a quoted string, or the token itself. An escape
/// (`\"`) never belongs in an address, so a quoted string with one is not
/// an address.
fn unquote(value: &[u8]) -> Option<&[u8]> {
    match value {
        [b'"', inner @ .., b'"'] if !inner.contains(&b'\\') && !inner.contains(&b'"') => {
            Some(inner)
        }
        [b'"', ..] => None,
        token => Some(token),
    }
}

/// Splits on `sep` outside double-quoted strings (with `\` escapes).
fn split_unquoted(s: &[u8], sep: u8) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (i, &c) in s.iter().enumerate() {
        if escaped {
            escaped = false;
        } else if quoted && c == b'\\' {
            escaped = true;
        } else if c == b'"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            parts.push(&s[start..i]);
            start = i + 1;
        }
    }
    parts.push(&s[start..]);
    parts
}

/// The value of a single-value header: the last line's last list element.
fn single_value(headers: &HeaderMap, name: HeaderName) -> Option<IpAddr> {
    let line = headers.get_all(name).iter().next_back()?;
    let last = line.as_bytes().rsplit(|b| *b == b',').next()?;
    parse_node(last.trim_ascii())
}

/// Parses one hop: `192.0.2.1`, `192.0.2.1:80`, `2001:db8::1`,
/// `[2001:db8::1]`, `[2001:db8::1]:443`, optionally with a zone
/// (`fe80::1%eth0`). Anything else (not UTF-8, `unknown`, `_hidden`) is
/// `None`.
fn parse_node(raw: &[u8]) -> Option<IpAddr> {
    let node = std::str::from_utf8(raw.trim_ascii()).ok()?;
    if let Some(rest) = node.strip_prefix('[') {
        let (inner, after) = rest.split_once(']')?;
        if !after.is_empty() && !after.strip_prefix(':').is_some_and(is_port) {
            return None;
        }
        return parse_v6(inner).map(IpAddr::V6);
    }
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some((host, port)) = node.rsplit_once(':')
        && !host.contains(':')
    {
        return match (host.parse::<Ipv4Addr>(), is_port(port)) {
            (Ok(v4), true) => Some(IpAddr::V4(v4)),
            _ => None,
        };
    }
    parse_v6(node).map(IpAddr::V6)
}

/// An IPv6 address, with an optional zone (`%eth0`, `%25eth0`) dropped.
fn parse_v6(s: &str) -> Option<Ipv6Addr> {
    let (addr, zone) = match s.split_once('%') {
        Some((addr, zone)) => (addr, Some(zone)),
        None => (s, None),
    };
    if zone.is_some_and(|z| z.is_empty() || !z.bytes().all(|b| b.is_ascii_graphic())) {
        return None;
    }
    addr.parse().ok()
}

/// A port: digits that fit `u16`, or an RFC 7239 obfuscated port
/// (`_` then letters, digits, `.`, `_`, `-`).
fn is_port(s: &str) -> bool {
    if let Some(obf) = s.strip_prefix('_') {
        return !obf.is_empty()
            && obf
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    }
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && s.parse::<u16>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter()
            .map(|s| parse_trusted_proxy(s).unwrap())
            .collect()
    }

    fn resolver(list: &[&str], header: ClientIpHeader) -> ClientAddrResolver {
        ClientAddrResolver::new(nets(list), header)
    }

    fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const LB: &str = "10.1.2.3";

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_the_headers_say() {
        let h = headers(&[
            ("x-forwarded-for", b"6.6.6.6"),
            ("forwarded", b"for=7.7.7.7"),
            ("x-real-ip", b"8.8.8.8"),
        ]);
        for header in ClientIpHeader::ALL {
            assert_eq!(
                ClientAddrResolver::direct().resolve(ip("203.0.113.9"), &h),
                ip("203.0.113.9")
            );
            assert_eq!(
                resolver(&["10.0.0.0/8"], header).resolve(ip("203.0.113.9"), &h),
                ip("203.0.113.9"),
                "{header}"
            );
        }
    }

    #[test]
    fn xff_is_walked_right_to_left_through_trusted_proxies() {
        let r = resolver(
            &["10.0.0.0/8", "192.168.0.0/16"],
            ClientIpHeader::XForwardedFor,
        );
        let h = headers(&[("x-forwarded-for", b"6.6.6.6, 198.51.100.7, 192.168.1.1")]);
        assert_eq!(r.resolve(ip(LB), &h), ip("198.51.100.7"));
        // Several lines form one list, in order.
        let h = headers(&[
            ("x-forwarded-for", b"6.6.6.6"),
            ("x-forwarded-for", b"198.51.100.7:5555, 192.168.1.1"),
        ]);
        assert_eq!(r.resolve(ip(LB), &h), ip("198.51.100.7"));
        // Every hop trusted: the leftmost is the client.
        let h = headers(&[("x-forwarded-for", b"10.9.9.9, 192.168.1.1")]);
        assert_eq!(r.resolve(ip(LB), &h), ip("10.9.9.9"));
        // No header from a trusted peer: the peer itself.
        assert_eq!(r.resolve(ip(LB), &HeaderMap::new()), ip(LB));
        // Empty list elements are skipped.
        let h = headers(&[("x-forwarded-for", b" , 198.51.100.7,,")]);
        assert_eq!(r.resolve(ip(LB), &h), ip("198.51.100.7"));
    }

    #[test]
    fn only_the_configured_header_is_read() {
        // nginx appends X-Forwarded-For and passes the client's Forwarded
        // (and X-Real-IP, Fly-Client-IP, ...) through untouched.
        let h = headers(&[
            ("forwarded", b"for=6.6.6.6"),
            ("x-real-ip", b"6.6.6.7"),
            ("fly-client-ip", b"6.6.6.8"),
            ("cf-connecting-ip", b"6.6.6.9"),
            ("true-client-ip", b"6.6.6.10"),
            ("x-forwarded-for", b"198.51.100.7"),
        ]);
        let r = resolver(&["10.0.0.0/8"], ClientIpHeader::XForwardedFor);
        assert_eq!(r.resolve(ip(LB), &h), ip("198.51.100.7"));

        // The other way round: a proxy writing Forwarded, a client writing
        // X-Forwarded-For.
        let h = headers(&[
            ("x-forwarded-for", b"6.6.6.6"),
            ("forwarded", b"for=198.51.100.7;proto=https"),
        ]);
        let r = resolver(&["10.0.0.0/8"], ClientIpHeader::Forwarded);
        assert_eq!(r.resolve(ip(LB), &h), ip("198.51.100.7"));
        // Without the configured header, the peer: never another header.
        let h = headers(&[("x-forwarded-for", b"6.6.6.6"), ("x-real-ip", b"6.6.6.7")]);
        assert_eq!(r.resolve(ip(LB), &h), ip(LB));
    }

    #[test]
    fn an_invalid_hop_ends_the_walk_without_poisoning_the_line() {
        let r = resolver(&["10.0.0.0/8"], ClientIpHeader::XForwardedFor);
        // A byte nginx copied from the client's own X-Forwarded-For, left
        // of the address nginx appended.
        let h = headers(&[("x-forwarded-for", b"\xff\xfe garbage, 198.51.100.7")]);
        assert_eq!(r.resolve(ip(LB), &h), ip("198.51.100.7"));
        let h = headers(&[("x-forwarded-for", b"caf\xc3\xa9, unknown, 198.51.100.7")]);
        assert_eq!(r.resolve(ip(LB), &h), ip("198.51.100.7"));
        // An invalid line of its own, before the proxy's line.
        let h = headers(&[
            ("x-forwarded-for", b"\x80\x81"),
            ("x-forwarded-for", b"198.51.100.7"),
        ]);
        assert_eq!(r.resolve(ip(LB), &h), ip("198.51.100.7"));
        // The invalid hop is reached through trusted proxies: the walk ends
        // at the last address it reached (a trusted proxy), not "unknown".
        let h = headers(&[("x-forwarded-for", b"198.51.100.7, \xff, 10.0.0.9")]);
        assert_eq!(r.resolve(ip(LB), &h), ip("10.0.0.9"));
        let h = headers(&[("x-forwarded-for", b"not-an-ip")]);
        assert_eq!(r.resolve(ip(LB), &h), ip(LB));
    }

    #[test]
    fn forwarded_is_parsed_per_rfc_7239() {
        let r = resolver(&["10.0.0.0/8"], ClientIpHeader::Forwarded);
        let h = headers(&[(
            "forwarded",
            br#"for=6.6.6.6;proto=https, For="[2001:db8:cafe::17]:4711";by=10.0.0.1, for=10.0.0.2;host="a,b""#,
        )]);
        assert_eq!(r.resolve(ip("10.0.0.3"), &h), ip("2001:db8:cafe::17"));
        // Quoted IPv4 with a port, lowercase and uppercase names, spaces.
        let h = headers(&[("forwarded", br#"FOR = "198.51.100.7:8080" ; proto=http"#)]);
        assert_eq!(r.resolve(ip("10.0.0.3"), &h), ip("198.51.100.7"));
        // Obfuscated nodes and `unknown` end the walk at the proxy that
        // wrote them.
        for node in [
            &b"for=_hidden, for=10.0.0.2"[..],
            b"for=\"_gazonk\", for=10.0.0.2",
            b"for=unknown, for=10.0.0.2",
            b"for=\"[2001:db8::1]:_obf\"x, for=10.0.0.2",
        ] {
            assert_eq!(
                r.resolve(ip("10.0.0.3"), &headers(&[("forwarded", node)])),
                ip("10.0.0.2"),
                "{}",
                String::from_utf8_lossy(node)
            );
        }
        // An obfuscated port is still an address.
        let h = headers(&[("forwarded", br#"for="[2001:db8::1]:_port1""#)]);
        assert_eq!(r.resolve(ip("10.0.0.3"), &h), ip("2001:db8::1"));
        // An element without `for=` (or with two) says nothing about who
        // came before it: the walk ends there instead of reaching the
        // client-written element on its left.
        let h = headers(&[("forwarded", b"for=6.6.6.6, proto=https")]);
        assert_eq!(r.resolve(ip("10.0.0.3"), &h), ip("10.0.0.3"));
        let h = headers(&[("forwarded", b"for=6.6.6.6, for=1.1.1.1;for=2.2.2.2")]);
        assert_eq!(r.resolve(ip("10.0.0.3"), &h), ip("10.0.0.3"));
        // obs-text inside a quoted string in an element the walk never
        // reaches does not matter.
        let h = headers(&[("forwarded", b"for=\"\xff\", for=198.51.100.7")]);
        assert_eq!(r.resolve(ip("10.0.0.3"), &h), ip("198.51.100.7"));
        // Escapes never belong in an address.
        let h = headers(&[("forwarded", br#"for="1.2.3.4\"""#)]);
        assert_eq!(r.resolve(ip("10.0.0.3"), &h), ip("10.0.0.3"));
    }

    #[test]
    fn ipv6_forms_brackets_ports_zones_and_mapped_v4() {
        let r = resolver(&["10.0.0.0/8", "fd00::/8"], ClientIpHeader::XForwardedFor);
        for (hop, want) in [
            ("2001:db8::1", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("[2001:db8::1]:443", "2001:db8::1"),
            ("fe80::1%eth0", "fe80::1"),
            ("[fe80::1%25eth0]:80", "fe80::1"),
            ("::ffff:198.51.100.7", "198.51.100.7"),
            ("[::ffff:198.51.100.7]:1", "198.51.100.7"),
        ] {
            let h = headers(&[("x-forwarded-for", hop.as_bytes())]);
            assert_eq!(r.resolve(ip(LB), &h), ip(want), "{hop}");
        }
        for bad in [
            "[2001:db8::1]:99999",
            "[2001:db8::1",
            "2001:db8::1]",
            "198.51.100.7:",
            "198.51.100.7:http",
            "fe80::1%",
            "[2001:db8::1]x",
        ] {
            let h = headers(&[("x-forwarded-for", bad.as_bytes())]);
            assert_eq!(r.resolve(ip(LB), &h), ip(LB), "{bad}");
        }
        // A trusted range matches a mapped peer, and a mapped range matches
        // an IPv4 peer.
        let h = headers(&[("x-forwarded-for", b"198.51.100.7")]);
        assert_eq!(r.resolve(ip("::ffff:10.0.0.1"), &h), ip("198.51.100.7"));
        let mapped = resolver(&["::ffff:10.0.0.0/104"], ClientIpHeader::XForwardedFor);
        assert_eq!(mapped.resolve(ip(LB), &h), ip("198.51.100.7"));
        // IPv6 proxies walk like IPv4 ones.
        let h = headers(&[("x-forwarded-for", b"2001:db8::7, fd00::2")]);
        assert_eq!(r.resolve(ip("fd00::1"), &h), ip("2001:db8::7"));
    }

    #[test]
    fn platform_headers_are_single_values_from_trusted_peers() {
        for header in [
            ClientIpHeader::FlyClientIp,
            ClientIpHeader::CfConnectingIp,
            ClientIpHeader::TrueClientIp,
            ClientIpHeader::XRealIp,
        ] {
            let r = resolver(&["10.0.0.0/8"], header);
            let name = header.as_str();
            let h = headers(&[
                (name, b"198.51.100.7"),
                ("x-forwarded-for", b"6.6.6.6"),
                ("forwarded", b"for=6.6.6.7"),
            ]);
            assert_eq!(r.resolve(ip(LB), &h), ip("198.51.100.7"), "{name}");
            // Not from a trusted peer: ignored.
            assert_eq!(r.resolve(ip("203.0.113.1"), &h), ip("203.0.113.1"));
            // Missing or not an address: the peer.
            let h = headers(&[("x-forwarded-for", b"6.6.6.6")]);
            assert_eq!(r.resolve(ip(LB), &h), ip(LB), "{name}");
            let h = headers(&[(name, b"\xffnope")]);
            assert_eq!(r.resolve(ip(LB), &h), ip(LB), "{name}");
            // IPv6, and several values: the last (nearest) counts.
            let h = headers(&[(name, b"2001:db8::9")]);
            assert_eq!(r.resolve(ip(LB), &h), ip("2001:db8::9"));
            let h = headers(&[(name, b"6.6.6.6"), (name, b"6.6.6.5, 198.51.100.8")]);
            assert_eq!(r.resolve(ip(LB), &h), ip("198.51.100.8"));
            // Upper case in the configuration is accepted.
            assert_eq!(
                name.to_ascii_uppercase().parse::<ClientIpHeader>(),
                Ok(header)
            );
        }
    }

    #[test]
    fn many_hops_are_walked_up_to_the_cap() {
        let r = resolver(&["10.0.0.0/8"], ClientIpHeader::XForwardedFor);
        let mut line = String::from("198.51.100.7");
        for i in 0..(MAX_HOPS - 1) {
            line.push_str(&format!(", 10.0.{}.{}", i / 250, i % 250 + 1));
        }
        let h = headers(&[("x-forwarded-for", line.as_bytes())]);
        assert_eq!(r.resolve(ip(LB), &h), ip("198.51.100.7"));
        // A client inside the trusted range sending thousands of trusted
        // hops: the walk stops at the cap, on an address it reached.
        let mut line = String::from("6.6.6.6");
        for _ in 0..5000 {
            line.push_str(", 10.0.0.1");
        }
        let h = headers(&[("x-forwarded-for", line.as_bytes())]);
        assert_eq!(r.resolve(ip(LB), &h), ip("10.0.0.1"));
        // Many untrusted hops on the left of the client cost nothing.
        let mut line = String::new();
        for _ in 0..5000 {
            line.push_str("6.6.6.6, ");
        }
        line.push_str("198.51.100.7");
        let h = headers(&[("x-forwarded-for", line.as_bytes())]);
        assert_eq!(r.resolve(ip(LB), &h), ip("198.51.100.7"));
    }

    #[test]
    fn header_names_parse_and_print() {
        for header in ClientIpHeader::ALL {
            assert_eq!(header.as_str().parse::<ClientIpHeader>(), Ok(header));
            assert_eq!(header.header_name().as_str(), header.as_str());
        }
        let err = "x-client-ip".parse::<ClientIpHeader>().unwrap_err();
        assert!(
            err.contains("unknown client IP header `x-client-ip`"),
            "{err}"
        );
        assert!(err.contains("fly-client-ip"), "{err}");
    }

    #[test]
    fn trusted_proxies_accept_cidrs_addresses_and_comma_lists() {
        let nets = deserialize_trusted_proxies(serde_json::json!(
            "10.0.0.0/8, 192.168.1.7 ,2001:db8::/32"
        ))
        .unwrap();
        assert_eq!(nets.len(), 3);
        assert_eq!(nets[1].to_string(), "192.168.1.7/32");
        let err = deserialize_trusted_proxies(serde_json::json!(["10.0.0.0/33"])).unwrap_err();
        assert!(
            err.to_string().contains("`10.0.0.0/33` is not a CIDR"),
            "{err}"
        );
    }
}
