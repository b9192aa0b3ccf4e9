//! Networks in CIDR notation, and lists of them as configuration writes them: a list, or (in the
//! environment) one comma-separated string. Shared by the settings that name networks: the
//! trusted reverse proxies and the networks outbound requests may reach.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// A network in CIDR notation (`10.0.0.0/8`, `::1/128`); a bare address is a single host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n`, `x::y/n` or a bare address.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let network: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("'{s}' is not an IP address or CIDR network"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("'{s}': the prefix length must be 0–{max}"))?,
        };
        Ok(Self { network, prefix })
    }

    /// Whether `ip` is in this network (an IPv4-mapped IPv6 address counts as its IPv4 form).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// A list of networks; empty by default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "NetworkList", into = "Vec<String>")]
pub struct Networks(Vec<Cidr>);

/// How a list of networks may be written.
#[derive(Deserialize)]
#[serde(untagged)]
enum NetworkList {
    List(Vec<String>),
    CommaSeparated(String),
}

impl TryFrom<NetworkList> for Networks {
    type Error = String;

    fn try_from(list: NetworkList) -> Result<Self, String> {
        match list {
            NetworkList::List(list) => Self::parse_list(&list),
            NetworkList::CommaSeparated(s) => {
                let list: Vec<&str> = s
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect();
                Self::parse_list(&list)
            }
        }
    }
}

impl From<Networks> for Vec<String> {
    fn from(networks: Networks) -> Self {
        networks.0.iter().map(Cidr::to_string).collect()
    }
}

impl Networks {
    /// Parses each entry with [`Cidr::parse`].
    pub fn parse_list<S: AsRef<str>>(list: &[S]) -> Result<Self, String> {
        list.iter()
            .map(|s| Cidr::parse(s.as_ref()))
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// Whether `ip` is in one of the networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(ip))
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks() {
        let net = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(net.contains(ip("10.1.200.3")));
        assert!(!net.contains(ip("10.2.0.1")));
        assert!(net.contains(ip("::ffff:10.1.0.9")), "IPv4-mapped");
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(Cidr::parse("fd00::/8").unwrap().contains(ip("fd12::1")));
        assert!(!Cidr::parse("fd00::/8").unwrap().contains(ip("10.0.0.1")));
        assert!(Cidr::parse("::1").unwrap().contains(ip("::1")));
        for bad in ["10.0.0.0/33", "nope", "10.0.0.0/x", "::/129", ""] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lists() {
        let list = Networks::parse_list(&["10.0.0.0/8", "::1"]).unwrap();
        assert_eq!(Vec::<String>::from(list.clone()), ["10.0.0.0/8", "::1/128"]);
        let from_env =
            Networks::try_from(NetworkList::CommaSeparated("10.0.0.0/8, ::1".into())).unwrap();
        assert_eq!(from_env, list);
        assert!(list.contains(ip("10.3.3.3")) && !list.contains(ip("192.168.0.1")));
        assert!(Networks::parse_list(&["10.0.0.0/8", "bad"]).is_err());
    }
}
