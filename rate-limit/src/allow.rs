//! The allow-list: clients that are never limited.
//!
//! Entries (config `allow` / `RATE_LIMIT_ALLOW`, comma-separated, or
//! [`RateLimitBuilder::allow`](crate::RateLimitBuilder::allow) in code):
//!
//! | entry | matches |
//! |---|---|
//! | `10.0.0.0/8`, `2001:db8::/32`, `192.0.2.7` | the client address (as the service's resolver finds it), whatever the key kind |
//! | `key:<value>` | an identity the service supplies ([`ClientKey::from_identity`], after verifying it) equal to `<value>`; never a header value, which any client can send |
//! | `hdr:<32 hex digits>` | a header key (`key = "header:…"`) by its digest, as logs show it: list API keys this way, so the configuration never holds them |
//! | `id:<32 hex digits>` | a supplied or composite key by its digest, as logs show it |
//!
//! An entry matches only keys of its own kind: a header value equal to an
//! allow-listed identity is not allow-listed, and identity digests are
//! domain-separated from header digests.
//!
//! An allow-listed request passes without rate-limit fields and is counted
//! in [`Stats::allow_listed`](crate::Stats::allow_listed).

use std::collections::HashSet;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::key::ClientKey;

/// The parsed allow-list of one layer.
#[derive(Debug, Clone, Default)]
pub(crate) struct AllowList {
    nets: Vec<IpNet>,
    /// `ClientKey::Header` and `ClientKey::Id` keys, each matching only its
    /// own kind.
    keys: HashSet<ClientKey>,
}

/// One parsed entry.
enum Entry {
    Net(IpNet),
    Key(ClientKey),
}

fn parse(entry: &str) -> Result<Entry, String> {
    let entry = entry.trim();
    if let Some(value) = entry.strip_prefix("key:") {
        if value.is_empty() {
            return Err("`key:` needs a value after the colon (`key:monitoring`)".to_owned());
        }
        return Ok(Entry::Key(ClientKey::from_identity(value)));
    }
    type Kind = fn([u8; 16]) -> ClientKey;
    for (prefix, kind) in [
        ("hdr:", ClientKey::Header as Kind),
        ("id:", ClientKey::Id as Kind),
    ] {
        if let Some(hex) = entry.strip_prefix(prefix) {
            return parse_hex(hex).map(|d| Entry::Key(kind(d))).ok_or_else(|| {
                // The digest of a secret is not itself secret, but a
                // mistyped entry may be the secret pasted in: not shown.
                format!(
                    "a `{prefix}` entry must be 32 hexadecimal digits, the digest logs show (`{prefix}3f2a…`)"
                )
            });
        }
    }
    if entry.parse::<IpNet>().is_ok() || entry.parse::<IpAddr>().is_ok() {
        return appenv_config::parse_trusted_proxy(entry).map(Entry::Net);
    }
    // Not shown: an entry that is neither may be a pasted API key.
    Err(
        "an entry is neither an address or CIDR (`10.0.0.0/8`), `key:<value>` nor a digest \
         (`hdr:<32 hex digits>`, `id:<32 hex digits>`)"
            .to_owned(),
    )
}

fn parse_hex(hex: &str) -> Option<[u8; 16]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let pair = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}

/// What is wrong with the entries, keyed like the configuration.
pub(crate) fn problems(entries: &[String]) -> Vec<(&'static str, String)> {
    entries
        .iter()
        .enumerate()
        .filter_map(|(i, entry)| {
            parse(entry)
                .err()
                .map(|message| ("allow", format!("entry {}: {message}", i + 1)))
        })
        .collect()
}

impl AllowList {
    /// The allow-list of entries that [`problems`] accepted (others are
    /// skipped; the constructor validates first).
    pub(crate) fn new(entries: &[String]) -> Self {
        let mut list = AllowList::default();
        for entry in entries {
            match parse(entry) {
                Ok(Entry::Net(net)) => list.nets.push(net),
                Ok(Entry::Key(key)) => {
                    list.keys.insert(key);
                }
                Err(_) => {}
            }
        }
        list
    }

    /// Adds a key given in code.
    pub(crate) fn insert_key(&mut self, key: &ClientKey) {
        match key {
            ClientKey::Ip(ip) => self.nets.push(IpNet::from(*ip)),
            key @ (ClientKey::Header(_) | ClientKey::Id(_)) => {
                self.keys.insert(key.clone());
            }
            _ => {}
        }
    }

    pub(crate) fn has_networks(&self) -> bool {
        !self.nets.is_empty()
    }

    pub(crate) fn contains_ip(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|net| net.contains(&ip))
    }

    pub(crate) fn contains_key(&self, key: &ClientKey) -> bool {
        !self.keys.is_empty()
            && matches!(key, ClientKey::Header(_) | ClientKey::Id(_))
            && self.keys.contains(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_parse_and_match() {
        let header = ClientKey::from_header_value(b"sk_live_monitor");
        let list = AllowList::new(&[
            "10.0.0.0/8".to_owned(),
            " 192.0.2.7 ".to_owned(),
            "key:ops-bot".to_owned(),
            header.to_string(),
        ]);
        assert!(list.contains_ip("10.1.2.3".parse().unwrap()));
        assert!(list.contains_ip("::ffff:10.1.2.3".parse().unwrap()));
        assert!(list.contains_ip("192.0.2.7".parse().unwrap()));
        assert!(!list.contains_ip("192.0.2.8".parse().unwrap()));
        assert!(list.contains_key(&ClientKey::from_identity("ops-bot")));
        // `key:` names verified identities only: a header of that value is
        // what any client can send.
        assert!(!list.contains_key(&ClientKey::from_header_value(b"ops-bot")));
        assert_ne!(
            ClientKey::from_identity("ops-bot"),
            ClientKey::from_header_value(b"ops-bot")
        );
        // A digest entry matches only its own kind.
        let ClientKey::Header(d) = header.clone() else {
            unreachable!()
        };
        assert!(!list.contains_key(&ClientKey::Id(d)));
        assert!(list.contains_key(&header));
        assert!(!list.contains_key(&ClientKey::from_identity("alice")));
    }

    #[test]
    fn bad_entries_are_problems_that_do_not_echo_them() {
        let found = problems(&[
            "10.0.0.0/8".to_owned(),
            "sk_live_pasted_secret".to_owned(),
            "hdr:sk_live_pasted_secret".to_owned(),
            "key:".to_owned(),
            "10.0.0.0/33".to_owned(),
        ]);
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(found.iter().all(|(key, _)| *key == "allow"));
        assert!(found[0].1.starts_with("entry 2:"), "{found:?}");
        for (_, message) in &found {
            assert!(!message.contains("pasted_secret"), "{message}");
        }
    }
}
