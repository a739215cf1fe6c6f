//! [`Host`]: one host of a URL, and loopback in every spelling.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One host a URL connects to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Host {
    /// A DNS name, lowercased, without a trailing dot.
    Name(String),
    /// An IP address, in whatever spelling it was written (`127.1`,
    /// `0x7f000001`, `[::ffff:127.0.0.1]`).
    Ip(IpAddr),
    /// A Unix socket path (a socket directory for Postgres) or an abstract
    /// socket (`@name`).
    Socket(String),
    /// No host at all: the driver's default, which is on this machine
    /// (Postgres: the local Unix socket; MySQL and Redis: localhost).
    Default,
}

impl Host {
    /// Reads a host as written in a URL (brackets, percent-encoding) or in
    /// a parameter (`host=/var/run/postgresql`, `host=::1`). `None` when it
    /// cannot be a host (an empty or malformed IPv6 literal, white space or
    /// characters no host name has).
    pub fn parse(text: &str) -> Option<Host> {
        let decoded = percent_encoding::percent_decode_str(text).decode_utf8_lossy();
        let text = decoded.trim();
        if text.is_empty() {
            return Some(Host::Default);
        }
        if text.starts_with('/') || text.starts_with('@') {
            return Some(Host::Socket(text.to_owned()));
        }
        if let Some(inner) = text.strip_prefix('[') {
            let inner = inner.strip_suffix(']')?;
            return parse_ipv6(inner).map(Host::Ip);
        }
        if text.contains(':') {
            return parse_ipv6(text).map(Host::Ip);
        }
        let name = text.strip_suffix('.').unwrap_or(text);
        if let Some(ip) = parse_ipv4_loose(name) {
            return Some(Host::Ip(IpAddr::V4(ip)));
        }
        let valid = name.chars().all(|c| {
            c.is_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | '!' | '$' | '*' | '+')
        });
        (valid && !name.is_empty()).then(|| Host::Name(name.to_lowercase()))
    }

    /// A loopback address in any spelling (`127.0.0.0/8`, `::1`, their
    /// IPv4-mapped forms, the unspecified `0.0.0.0`/`::` that connects to
    /// this machine), or a loopback name (`localhost`, `*.localhost`,
    /// `localhost.localdomain`, Debian's `ip6-localhost`/`ip6-loopback`).
    /// Sockets and [`Host::Default`] are local but not loopback addresses:
    /// see [`Host::is_local`].
    pub fn is_loopback(&self) -> bool {
        match self {
            Host::Ip(ip) => {
                let ip = ip.to_canonical();
                ip.is_loopback() || ip.is_unspecified()
            }
            Host::Name(name) => {
                name == "localhost"
                    || name.ends_with(".localhost")
                    || name == "localhost.localdomain"
                    || name == "ip6-localhost"
                    || name == "ip6-loopback"
            }
            Host::Socket(_) | Host::Default => false,
        }
    }

    /// On this machine: a loopback address or name, a Unix socket, or no
    /// host.
    pub fn is_local(&self) -> bool {
        self.is_loopback() || matches!(self, Host::Socket(_) | Host::Default)
    }

    /// The DNS name, for names.
    pub fn name(&self) -> Option<&str> {
        match self {
            Host::Name(name) => Some(name),
            _ => None,
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(name) => f.write_str(name),
            Host::Ip(IpAddr::V4(ip)) => write!(f, "{ip}"),
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Host::Socket(path) => write!(f, "socket {path}"),
            Host::Default => f.write_str("the default local socket"),
        }
    }
}

/// A host with its port, when the URL gives one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    pub(super) host: Host,
    pub(super) port: Option<u16>,
}

impl HostPort {
    /// The host.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The port, when the URL gives one.
    pub fn port(&self) -> Option<u16> {
        self.port
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.host),
            None => write!(f, "{}", self.host),
        }
    }
}

/// Whether `host` (a name, an address in any spelling, with or without
/// brackets) is a loopback host. See [`Host::is_loopback`].
///
/// ```
/// use appenv_config::is_loopback_host;
///
/// for host in ["localhost", "db.localhost", "127.1", "0x7f000001", "2130706433", "[::1]", "::ffff:127.0.0.1"] {
///     assert!(is_loopback_host(host), "{host}");
/// }
/// assert!(!is_loopback_host("db.internal"));
/// ```
pub fn is_loopback_host(host: &str) -> bool {
    Host::parse(host).is_some_and(|h| h.is_loopback())
}

/// Splits `h1:5432,[::1]:5433` into hosts (a list only when `multi`).
pub(super) fn parse_host_list(list: &str, multi: bool) -> Result<Vec<HostPort>, String> {
    if list.is_empty() {
        return Ok(vec![HostPort {
            host: Host::Default,
            port: None,
        }]);
    }
    let items: Vec<&str> = if multi {
        list.split(',').collect()
    } else {
        vec![list]
    };
    let many = items.len() > 1;
    items
        .into_iter()
        .map(|item| {
            if item.is_empty() {
                return Err("a host in the list of hosts is empty".to_owned());
            }
            let (host_text, port_text) = if item.starts_with('[') {
                let Some(close) = item.find(']') else {
                    return Err("an IPv6 address in brackets has no closing `]`".to_owned());
                };
                let after = &item[close + 1..];
                let port = match after.strip_prefix(':') {
                    Some(port) => Some(port),
                    None if after.is_empty() => None,
                    None => return Err("unexpected text after an IPv6 address".to_owned()),
                };
                (&item[..=close], port)
            } else {
                match item.split_once(':') {
                    Some((host, port)) => (host, Some(port)),
                    None => (item, None),
                }
            };
            let port = match port_text {
                None | Some("") => None,
                Some(text) => Some(
                    text.parse::<u16>()
                        .ok()
                        .filter(|_| text.bytes().all(|b| b.is_ascii_digit()))
                        .ok_or_else(|| "the port is not a number from 0 to 65535".to_owned())?,
                ),
            };
            let host = Host::parse(host_text)
                .ok_or_else(|| "the host is not a valid host name or address".to_owned())?;
            if many && host == Host::Default {
                return Err("a host in the list of hosts is empty".to_owned());
            }
            Ok(HostPort { host, port })
        })
        .collect()
}

fn parse_ipv6(text: &str) -> Option<IpAddr> {
    // A zone (`fe80::1%eth0`, `%25eth0` in a URL) does not change the address.
    let address = text.split('%').next().unwrap_or(text);
    address.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
}

/// IPv4 as `inet_aton` (and so libc's resolver, which drivers call) reads
/// it: one to four parts, each decimal, octal (leading `0`) or hex (`0x`),
/// the last part filling the remaining bytes (`127.1`, `2130706433`,
/// `0x7f000001`).
fn parse_ipv4_loose(text: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut values = Vec::with_capacity(parts.len());
    for part in &parts {
        let (digits, radix) =
            if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
                (hex, 16)
            } else if part.len() > 1 && part.starts_with('0') {
                (&part[1..], 8)
            } else {
                (*part, 10)
            };
        if digits.is_empty() && radix != 8 {
            return None;
        }
        if !digits.chars().all(|c| c.is_digit(radix)) {
            return None;
        }
        let value = if digits.is_empty() {
            0
        } else {
            u64::from_str_radix(digits, radix).ok()?
        };
        values.push(value);
    }
    let (last, head) = values.split_last()?;
    if head.iter().any(|v| *v > 255) {
        return None;
    }
    let bits = 8 * (4 - head.len() as u32);
    if *last >= 1u64 << bits {
        return None;
    }
    let mut address: u64 = 0;
    for (i, v) in head.iter().enumerate() {
        address |= v << (24 - 8 * i as u32);
    }
    address |= last;
    u32::try_from(address).ok().map(Ipv4Addr::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loose_ipv4_forms() {
        for (text, want) in [
            ("127.0.0.1", Some([127, 0, 0, 1])),
            ("127.1", Some([127, 0, 0, 1])),
            ("127.0.1", Some([127, 0, 0, 1])),
            ("2130706433", Some([127, 0, 0, 1])),
            ("0x7f000001", Some([127, 0, 0, 1])),
            ("0x7f.1", Some([127, 0, 0, 1])),
            ("0177.0.0.1", Some([127, 0, 0, 1])),
            ("0", Some([0, 0, 0, 0])),
            ("10.0.0.256", None),
            ("256.0.0.1", None),
            ("1.2.3.4.5", None),
            ("4294967296", None),
            ("08.0.0.1", None),
            ("db", None),
            ("1e3", None),
            ("", None),
        ] {
            assert_eq!(parse_ipv4_loose(text), want.map(Ipv4Addr::from), "{text}");
        }
    }

    #[test]
    fn host_parse() {
        assert_eq!(
            Host::parse("DB.Internal."),
            Some(Host::Name("db.internal".into()))
        );
        assert_eq!(Host::parse(""), Some(Host::Default));
        assert_eq!(Host::parse("[::1"), None);
        assert_eq!(Host::parse("bad host"), None);
        assert_eq!(Host::parse("%2Ftmp"), Some(Host::Socket("/tmp".into())));
        assert!(Host::parse("[fe80::1%25eth0]").is_some());
    }
}
