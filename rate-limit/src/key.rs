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
//! `key = "header:<name>"`, when the header is missing or empty (for a
//! composite key: when any part is), or when the service's own key function
//! returns `None`. What happens to it is `overflow`: `shared` (production)
//! counts all such requests in one shared bucket; `pass` lets them through
//! unlimited, logged at debug level. It is never a `500`.

use std::fmt;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use appenv_config::ClientAddrResolver;
use http::{Extensions, HeaderMap, HeaderName, Method, Request, Uri};
use sha2::{Digest, Sha256};

use crate::allow::AllowList;
use crate::config::{KeyKind, KeyPart};

/// The bucket a request is counted in.
///
/// Header values (API keys) and keys the service supplies are kept only as
/// a truncated SHA-256 digest, so neither memory, Redis keys nor logs ever
/// hold the value itself.
#[derive(Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClientKey {
    /// A client address (IPv6 truncated to its /64).
    Ip(IpAddr),
    /// A digest of a header value.
    Header([u8; 16]),
    /// A digest of an identity the service supplied (a user id, an API key
    /// owner) or of a composite key's parts. Shown as `id:<hex>`.
    Id([u8; 16]),
    /// The one global bucket.
    Global,
    /// The shared overflow bucket (unidentified requests, keys beyond the
    /// cap).
    Overflow,
}

fn digest(value: &[u8]) -> [u8; 16] {
    let digest = Sha256::digest(value);
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

impl ClientKey {
    /// Builds the key for a client address, grouping IPv6 by /64.
    pub fn from_ip(ip: IpAddr) -> Self {
        ClientKey::Ip(group(ip))
    }

    /// Builds the key for a header value (stored only as a digest).
    pub fn from_header_value(value: &[u8]) -> Self {
        ClientKey::Header(digest(value))
    }

    /// Builds the key for an identity the service knows, such as the `sub`
    /// claim of a verified JWT or the owner of an API key (stored only as a
    /// digest). The allow-list entry `key:<identity>` matches it.
    pub fn from_identity(identity: impl AsRef<[u8]>) -> Self {
        // Domain-separated from header digests: an identity and a header
        // value that are equal never share a bucket or an allow entry.
        let mut hasher = Sha256::new();
        hasher.update(b"appenv-rl-identity\0");
        hasher.update(identity.as_ref());
        let digest = hasher.finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(&digest[..16]);
        ClientKey::Id(out)
    }

    /// One key made of several (for example the client address and a
    /// tenant header): requests share a bucket only when every part is
    /// equal. The order of the parts matters.
    pub fn composite<'a>(parts: impl IntoIterator<Item = &'a ClientKey>) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"appenv-rl-composite");
        for part in parts {
            let shown = part.to_string();
            hasher.update((shown.len() as u64).to_be_bytes());
            hasher.update(shown.as_bytes());
        }
        let digest = hasher.finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(&digest[..16]);
        ClientKey::Id(out)
    }
}

fn write_hex(f: &mut fmt::Formatter<'_>, prefix: &str, digest: &[u8; 16]) -> fmt::Result {
    f.write_str(prefix)?;
    for byte in digest {
        write!(f, "{byte:02x}")?;
    }
    Ok(())
}

impl fmt::Display for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientKey::Ip(IpAddr::V4(ip)) => write!(f, "ip:{ip}"),
            ClientKey::Ip(IpAddr::V6(ip)) => write!(f, "ip:{ip}/64"),
            ClientKey::Header(digest) => write_hex(f, "hdr:", digest),
            ClientKey::Id(digest) => write_hex(f, "id:", digest),
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

/// What a service's key function sees of a request
/// ([`RateLimitBuilder::key_with`](crate::RateLimitBuilder::key_with)):
/// its head, and the client address as the service's resolver finds it.
///
/// ```
/// use appenv_rate_limit::{ClientKey, KeyRequest};
///
/// /// What an auth middleware put in the extensions.
/// #[derive(Clone)]
/// struct User { sub: String }
///
/// fn key(req: &KeyRequest<'_>) -> Option<ClientKey> {
///     match req.extensions().get::<User>() {
///         Some(user) => Some(ClientKey::from_identity(&user.sub)),
///         // Anonymous requests are keyed by address.
///         None => req.client_ip().map(ClientKey::from_ip),
///     }
/// }
/// # let _ = key;
/// ```
#[derive(Debug)]
pub struct KeyRequest<'a> {
    method: &'a Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    extensions: &'a Extensions,
    client_addr: &'a ClientAddrResolver,
}

impl<'a> KeyRequest<'a> {
    pub(crate) fn new<B>(req: &'a Request<B>, client_addr: &'a ClientAddrResolver) -> Self {
        KeyRequest {
            method: req.method(),
            uri: req.uri(),
            headers: req.headers(),
            extensions: req.extensions(),
            client_addr,
        }
    }

    /// The request method.
    pub fn method(&self) -> &'a Method {
        self.method
    }

    /// The request URI.
    pub fn uri(&self) -> &'a Uri {
        self.uri
    }

    /// The request headers.
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }

    /// The request extensions (where authentication middleware leaves the
    /// verified identity).
    pub fn extensions(&self) -> &'a Extensions {
        self.extensions
    }

    /// The client address as the service's [`ClientAddrResolver`] finds it
    /// (the same one `key = "ip"` and telemetry use), or `None` without a
    /// peer address.
    pub fn client_ip(&self) -> Option<IpAddr> {
        let peer = peer_addr(self.extensions)?;
        Some(self.client_addr.resolve(peer, self.headers))
    }
}

/// A key function a service supplies.
pub(crate) type KeyFn = Arc<dyn Fn(&KeyRequest<'_>) -> Option<ClientKey> + Send + Sync>;

/// Where a request's key comes from.
#[derive(Clone)]
enum Source {
    Kind(KeyKind),
    Custom(KeyFn),
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Kind(kind) => write!(f, "{kind}"),
            Source::Custom(_) => f.write_str("custom"),
        }
    }
}

/// What the extractor found for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Identified {
    /// Count it in this bucket.
    Key(ClientKey),
    /// On the allow-list: never limited.
    Allowed,
    /// No usable key.
    Unidentified,
}

/// Finds the key of a request, as configured.
#[derive(Debug, Clone)]
pub(crate) struct KeyExtractor {
    source: Source,
    client_addr: ClientAddrResolver,
    allow: Arc<AllowList>,
}

impl KeyExtractor {
    pub(crate) fn new(kind: KeyKind, client_addr: ClientAddrResolver, allow: AllowList) -> Self {
        KeyExtractor {
            source: Source::Kind(kind),
            client_addr,
            allow: Arc::new(allow),
        }
    }

    /// The service's own key function replaces the configured key kind.
    pub(crate) fn with_custom(mut self, key: KeyFn) -> Self {
        self.source = Source::Custom(key);
        self
    }

    /// The request's key, or whether it is allow-listed or unidentified.
    pub(crate) fn extract<B>(&self, req: &Request<B>) -> Identified {
        let allow = &*self.allow;
        if allow.has_networks()
            && let Some(ip) = self.client_ip(req)
            && allow.contains_ip(ip)
        {
            return Identified::Allowed;
        }
        let key = match &self.source {
            Source::Kind(KeyKind::Global) => Some(ClientKey::Global),
            Source::Kind(KeyKind::Header(name)) => header_key(req.headers(), name),
            Source::Kind(KeyKind::Ip) => self.client_ip(req).map(ClientKey::from_ip),
            Source::Kind(KeyKind::Composite(parts)) => self.composite(req, parts),
            Source::Custom(key) => key(&KeyRequest::new(req, &self.client_addr)),
        };
        match key {
            Some(key) if allow.contains_key(&key) => Identified::Allowed,
            Some(key) => Identified::Key(key),
            None => Identified::Unidentified,
        }
    }

    fn client_ip<B>(&self, req: &Request<B>) -> Option<IpAddr> {
        let peer = peer_addr(req.extensions())?;
        Some(self.client_addr.resolve(peer, req.headers()))
    }

    fn composite<B>(&self, req: &Request<B>, parts: &[KeyPart]) -> Option<ClientKey> {
        let mut keys = Vec::with_capacity(parts.len());
        for part in parts {
            let key = match part {
                KeyPart::Ip => ClientKey::from_ip(self.client_ip(req)?),
                KeyPart::Header(name) => header_key(req.headers(), name)?,
            };
            keys.push(key);
        }
        Some(ClientKey::composite(&keys))
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
pub(crate) fn peer_addr(extensions: &Extensions) -> Option<IpAddr> {
    #[cfg(feature = "axum")]
    if let Some(info) = extensions.get::<axum::extract::ConnectInfo<SocketAddr>>() {
        return Some(info.0.ip());
    }
    extensions.get::<SocketAddr>().map(SocketAddr::ip)
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
            AllowList::default(),
        );
        let req = Request::builder()
            .header("x-api-key", "  ")
            .body(())
            .unwrap();
        assert_eq!(extractor.extract(&req), Identified::Unidentified);
        let req = Request::builder()
            .header("x-api-key", "k1")
            .body(())
            .unwrap();
        assert_eq!(
            extractor.extract(&req),
            Identified::Key(ClientKey::from_header_value(b"k1"))
        );
    }

    #[test]
    fn peer_address_comes_from_extensions() {
        let extractor = KeyExtractor::new(
            KeyKind::Ip,
            ClientAddrResolver::direct(),
            AllowList::default(),
        );
        let req = Request::new(());
        assert_eq!(extractor.extract(&req), Identified::Unidentified);
        let mut req = Request::new(());
        req.extensions_mut()
            .insert(SocketAddr::from(([192, 0, 2, 1], 4000)));
        assert_eq!(
            extractor.extract(&req),
            Identified::Key(ClientKey::from_ip(ip("192.0.2.1")))
        );
    }

    #[test]
    fn composite_keys_need_every_part_and_never_show_the_header() {
        let extractor = KeyExtractor::new(
            "ip+header:x-tenant".parse().unwrap(),
            ClientAddrResolver::direct(),
            AllowList::default(),
        );
        let req = |tenant: Option<&str>, peer: [u8; 4]| {
            let mut builder = Request::builder();
            if let Some(tenant) = tenant {
                builder = builder.header("x-tenant", tenant);
            }
            let mut req = builder.body(()).unwrap();
            req.extensions_mut().insert(SocketAddr::from((peer, 4000)));
            req
        };
        let a = extractor.extract(&req(Some("acme-secret"), [192, 0, 2, 1]));
        let b = extractor.extract(&req(Some("acme-secret"), [192, 0, 2, 2]));
        let c = extractor.extract(&req(Some("other"), [192, 0, 2, 1]));
        let again = extractor.extract(&req(Some("acme-secret"), [192, 0, 2, 1]));
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, again);
        let Identified::Key(key) = a else {
            panic!("{a:?}")
        };
        assert!(key.to_string().starts_with("id:"), "{key}");
        assert!(!format!("{key} {key:?}").contains("acme"));
        assert_eq!(
            extractor.extract(&req(None, [192, 0, 2, 1])),
            Identified::Unidentified
        );
    }
}
