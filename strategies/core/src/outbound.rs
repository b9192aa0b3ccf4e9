//! Where authx may connect when it fetches from an upstream provider (an OpenID Connect issuer's
//! discovery document, keys and token endpoint; a SAML IdP's metadata URL).
//!
//! Those URLs are set by administrators, and discovery documents name further URLs, so without a
//! rule an authority editor could make authx request its own loopback services, the cloud
//! metadata endpoint at 169.254.169.254 or anything on the private network, and read back what
//! the answer's errors reveal (server-side request forgery). [`OutboundPolicy`] refuses
//! every address that is not public — loopback, private, link-local, unique-local, carrier-grade
//! NAT, unspecified, multicast, documentation and benchmarking ranges — unless the policy allows
//! private networks (a development setting) or lists the network.
//!
//! The rule is applied twice, because reqwest resolves names itself and never asks a resolver
//! about a literal address: [`OutboundPolicy::check_url`] refuses a URL whose host is a literal
//! address (or `localhost`) outside the policy, and [`OutboundPolicy::client_builder`] gives a
//! client whose resolver drops every resolved address outside it. Checking the addresses that are
//! actually connected to — rather than a name once at save time — is what defeats a name that
//! resolves to a public address when saved and to a private one when used (DNS rebinding).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::network::Networks;

/// Which addresses outbound requests may reach.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboundPolicy {
    /// Every address may be reached, private ones included. For development, where providers run
    /// on loopback; never in production.
    pub allow_private_networks: bool,
    /// Non-public networks that may be reached anyway (an IdP on the company network).
    pub allowed_networks: Networks,
}

impl OutboundPolicy {
    /// A policy that lets every address through (development and tests).
    pub fn allow_all() -> Self {
        Self {
            allow_private_networks: true,
            allowed_networks: Networks::default(),
        }
    }

    /// Whether a connection to `ip` is allowed.
    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.allow_private_networks || is_public(ip) || self.allowed_networks.contains(ip)
    }

    /// Checks the host of `url` where the resolver cannot: a literal address, or `localhost`
    /// (which resolves locally, whatever DNS says). Names are checked when resolved.
    pub fn check_url(&self, url: &url::Url) -> Result<(), Refused> {
        let ip = match url.host() {
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
            Some(url::Host::Domain(name)) if is_localhost(name) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            _ => return Ok(()),
        };
        if self.permits(ip) {
            Ok(())
        } else {
            Err(Refused(ip))
        }
    }

    /// A reqwest client builder whose resolver keeps only the addresses this policy permits.
    /// Callers still apply [`check_url`](Self::check_url) to every URL they request.
    ///
    /// Proxies named in the environment (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`) are ignored:
    /// through a proxy the resolver would only see the proxy's address, and the proxy would
    /// connect wherever the URL says, loopback and cloud metadata included.
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .no_proxy()
            .dns_resolver(Arc::new(PolicyResolver(self.clone())))
    }
}

/// An address outside the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused(pub IpAddr);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is not a public address; authx does not connect to loopback, private or \
             link-local addresses unless outbound.allowed_networks lists them",
            self.0
        )
    }
}

impl std::error::Error for Refused {}

/// The [`Refused`] somewhere in `error`'s source chain: how a resolver refusal surfaces from
/// reqwest, which reports it as a connection failure.
pub fn refused_in(error: &(dyn std::error::Error + 'static)) -> Option<Refused> {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(refused) = e.downcast_ref::<Refused>() {
            return Some(*refused);
        }
        next = e.source();
    }
    None
}

/// The system resolver, filtered by the policy.
struct PolicyResolver(OutboundPolicy);

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let permitted: Vec<SocketAddr> = resolved
                .iter()
                .copied()
                .filter(|addr| policy.permits(addr.ip()))
                .collect();
            match (permitted.is_empty(), resolved.first()) {
                (true, Some(first)) => Err(Box::new(Refused(first.ip())) as _),
                _ => Ok(Box::new(permitted.into_iter()) as reqwest::dns::Addrs),
            }
        })
    }
}

fn is_localhost(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// Whether `ip` is a globally routable unicast address (the special-purpose registries of
/// RFC 6890 and its updates, as far as a server can reach them).
pub fn is_public(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => is_public_v6(ip),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        // Carrier-grade NAT, 100.64.0.0/10.
        || (a == 100 && (b & 0xc0) == 64)
        // IETF protocol assignments, 192.0.0.0/24.
        || (a == 192 && b == 0 && c == 0)
        // Benchmarking, 198.18.0.0/15.
        || (a == 198 && (b & 0xfe) == 18)
        // Reserved, 240.0.0.0/4.
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // Unique local, fc00::/7.
        || (first & 0xfe00) == 0xfc00
        // Link-local, fe80::/10.
        || (first & 0xffc0) == 0xfe80
        // Documentation, 2001:db8::/32.
        || (first == 0x2001 && ip.segments()[1] == 0x0db8)
        // NAT64 and other translated forms embed an IPv4 address we cannot vet here.
        || first == 0x0064)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_public_addresses_by_default() {
        let policy = OutboundPolicy::default();
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(!policy.permits(ip(private)), "{private}");
        }
        for public in ["8.8.8.8", "142.250.0.1", "2a00:1450::1"] {
            assert!(policy.permits(ip(public)), "{public}");
        }
    }

    #[test]
    fn allowances() {
        assert!(OutboundPolicy::allow_all().permits(ip("127.0.0.1")));
        let policy = OutboundPolicy {
            allow_private_networks: false,
            allowed_networks: Networks::parse_list(&["10.0.0.0/8"]).unwrap(),
        };
        assert!(policy.permits(ip("10.9.9.9")));
        assert!(!policy.permits(ip("192.168.0.1")));
    }

    #[test]
    fn literal_hosts_are_checked_in_urls() {
        let policy = OutboundPolicy::default();
        let check = |s: &str| policy.check_url(&url::Url::parse(s).unwrap());
        assert!(check("http://127.0.0.1:8080/x").is_err());
        assert!(check("http://[::1]/x").is_err());
        assert!(check("http://localhost:9000/").is_err());
        assert!(check("http://169.254.169.254/latest/meta-data").is_err());
        assert!(check("http://2130706433/").is_err(), "decimal 127.0.0.1");
        assert!(check("https://idp.example/metadata").is_ok());
        assert!(check("https://8.8.8.8/").is_ok());
    }

    #[tokio::test]
    async fn the_resolver_drops_what_the_policy_refuses() {
        let client = OutboundPolicy::default().client_builder().build().unwrap();
        let error = client
            .get("http://localhost:9/")
            .send()
            .await
            .expect_err("a loopback name is not connected to");
        let refused = refused_in(&error).expect("the refusal in the chain");
        assert!(refused.0.is_loopback(), "{refused}");
    }
}
