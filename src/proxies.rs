//! Which address a request comes from, behind reverse proxies (`server.trusted_proxies`).
//!
//! The socket's peer is the client unless it is one of the trusted proxies. Only then are the
//! `Forwarded` (RFC 7239) or, when that is absent, `X-Forwarded-For` headers believed, read from
//! the nearest hop outwards: the first address that is not itself a trusted proxy is the client.
//! A client cannot spoof its address by sending these headers, because a proxy appends the peer it
//! saw, and hops left of the first untrusted one are never read. An entry that is not an address
//! (`unknown`, an obfuscated `_node`) ends the walk at the last trusted hop, which is then the
//! best-known address. Rate limits, sessions and audit events all use the address found here.

use std::net::IpAddr;

use authx_strategy_core::network::Networks;
use serde::{Deserialize, Serialize};

/// The configured trusted proxies; empty (the default) trusts no forwarding header. Written as a
/// list of networks, or (in the environment) one comma-separated string.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TrustedProxies(Networks);

impl TrustedProxies {
    /// Whether `ip` is a trusted proxy.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.0.contains(ip)
    }

    /// The client's address for a request from `peer` carrying the given `Forwarded` and
    /// `X-Forwarded-For` header values (each in the order received; several headers of one name
    /// are read as one list).
    pub fn client(&self, peer: IpAddr, forwarded: &[&str], x_forwarded_for: &[&str]) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<Option<IpAddr>> = if forwarded.is_empty() {
            x_forwarded_for
                .iter()
                .flat_map(|v| v.split(','))
                .map(|hop| parse_hop(hop.trim()))
                .collect()
        } else {
            forwarded
                .iter()
                .flat_map(|v| v.split(','))
                .map(forwarded_for)
                .collect()
        };
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            match hop {
                Some(ip) if self.trusts(ip) => client = ip,
                Some(ip) => return ip,
                None => return client,
            }
        }
        client
    }
}

/// The `for=` address of one `Forwarded` element, if it names an address.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("for")
            .then(|| parse_hop(value.trim().trim_matches('"')))
            .flatten()
    })
}

/// An address as a hop writes it: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1` or
/// `[2001:db8::1]:4711`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Some(rest) = hop.strip_prefix('[') {
        return rest
            .split(']')
            .next()?
            .parse::<IpAddr>()
            .ok()
            .map(|ip| ip.to_canonical());
    }
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    // IPv4 with a port.
    let (addr, port) = hop.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    addr.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies(Networks::parse_list(list).unwrap())
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn written_as_a_list_or_one_string() {
        let list: TrustedProxies =
            serde_json::from_value(serde_json::json!(["10.0.0.0/8", "::1"])).unwrap();
        let string: TrustedProxies =
            serde_json::from_value(serde_json::json!("10.0.0.0/8, ::1")).unwrap();
        assert_eq!(list, string);
        assert_eq!(list, proxies(&["10.0.0.0/8", "::1"]));
    }

    #[test]
    fn headers_count_only_from_trusted_proxies() {
        let none = TrustedProxies::default();
        assert_eq!(
            none.client(ip("198.51.100.9"), &[], &["203.0.113.1"]),
            ip("198.51.100.9"),
            "no proxy trusted: the header is ignored"
        );
        let p = proxies(&["10.0.0.0/8"]);
        assert_eq!(
            p.client(ip("198.51.100.9"), &[], &["203.0.113.1"]),
            ip("198.51.100.9"),
            "an untrusted peer's header is ignored"
        );
        assert_eq!(
            p.client(ip("10.0.0.5"), &[], &["203.0.113.1"]),
            ip("203.0.113.1")
        );
        // The client prepends a spoofed hop; the proxy appends the real one.
        assert_eq!(
            p.client(ip("10.0.0.5"), &[], &["1.2.3.4, 203.0.113.1"]),
            ip("203.0.113.1")
        );
        // Two proxies in a row, and several header lines.
        assert_eq!(
            p.client(ip("10.0.0.5"), &[], &["1.2.3.4, 203.0.113.1", "10.9.9.9"]),
            ip("203.0.113.1")
        );
        // Nothing but proxies: the farthest one.
        assert_eq!(p.client(ip("10.0.0.5"), &[], &["10.1.1.1"]), ip("10.1.1.1"));
        assert_eq!(p.client(ip("10.0.0.5"), &[], &[]), ip("10.0.0.5"));
        // Garbage ends the walk at the last trusted hop.
        assert_eq!(
            p.client(ip("10.0.0.5"), &[], &["203.0.113.1, garbage"]),
            ip("10.0.0.5")
        );
    }

    #[test]
    fn forwarded_wins_over_x_forwarded_for() {
        let p = proxies(&["10.0.0.0/8"]);
        assert_eq!(
            p.client(
                ip("10.0.0.5"),
                &["for=1.2.3.4, for=\"[2001:db8::17]:4711\";proto=https"],
                &["198.51.100.1"]
            ),
            ip("2001:db8::17")
        );
        assert_eq!(
            p.client(ip("10.0.0.5"), &["For=203.0.113.7:80;by=10.0.0.5"], &[]),
            ip("203.0.113.7")
        );
        assert_eq!(
            p.client(ip("10.0.0.5"), &["for=unknown"], &[]),
            ip("10.0.0.5")
        );
    }
}
