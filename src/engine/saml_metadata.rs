//! The identity-provider metadata of `saml` authorities, as this node uses it (reference §3 saml).
//!
//! An authority's `details` hold either pasted metadata (`idp_metadata_xml`) or its URL
//! (`idp_metadata_url`). Either way the certificates that may sign responses come only from that
//! metadata, read by `IdentityProvider::from_metadata_xml`, which refuses metadata without a
//! signing certificate (a response could then be checked against nothing). The admin API
//! refuses to save an enabled authority whose metadata fails that ([`MetadataCache::fetch`] for a
//! URL); logins get it from this per-node cache, keyed by authority **and** source, so a changed
//! URL or pasted document is used at once, on every node.
//!
//! The refresh policy for metadata by URL:
//!
//! - a successful fetch is used for [`METADATA_TTL`] (1 hour); the first login after that fetches
//!   again;
//! - every fetch is checked again from scratch. A refresh the checks refuse — **no signing
//!   certificate**, or anything else unusable — replaces what was cached: the IdP cannot be used
//!   (logins answer the generic page and are audited with [`MetadataFailure::reason`]) until a
//!   later fetch is acceptable. Certificates the IdP no longer publishes are never kept;
//! - a refresh that fails in transport (unreachable, timeout, an HTTP error) keeps the last good
//!   metadata for at most [`STALE_GRACE`] (1 day) after it was fetched, with a warning in the
//!   log, so a short outage of the metadata server does not stop logins; past that, logins fail
//!   (`idp_metadata_unavailable`);
//! - after a failed fetch the next attempt waits [`RETRY_AFTER`] (30 s), so logins don't hammer
//!   a broken metadata server.
//!
//! Pasted metadata never changes; it is parsed on first use and kept. An admin update or
//! deletion drops the authority's entry ([`MetadataCache::forget`]). Two concurrent logins may
//! both fetch; the last answer wins, which is harmless.
//!
//! Fetches reach only the addresses the outbound policy (`outbound` in the configuration)
//! permits: by default no loopback, private or link-local address, redirects included.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use authx_strategy_core::outbound::OutboundPolicy;
use authx_strategy_saml::{IdentityProvider, MetadataError, MetadataSource};

/// How long fetched metadata is used before it is fetched again.
pub const METADATA_TTL: Duration = Duration::from_secs(3600);
/// How long the last good metadata may still be used while refreshes fail in transport.
pub const STALE_GRACE: Duration = Duration::from_secs(24 * 3600);
/// The least time between two fetch attempts after a failure.
pub const RETRY_AFTER: Duration = Duration::from_secs(30);
/// Redirects followed when fetching metadata (each must stay on https).
const MAX_REDIRECTS: usize = 3;

/// Why an authority's IdP metadata cannot be used now.
#[derive(Clone, Debug, thiserror::Error)]
pub enum MetadataFailure {
    /// The metadata was read (or pasted) and refused: no signing certificate, not an IdP, …
    #[error("IdP metadata refused: {0}")]
    Refused(MetadataError),
    /// The metadata could not be fetched, and no good copy is recent enough.
    #[error("IdP metadata unavailable: {0}")]
    Unavailable(MetadataError),
}

impl MetadataFailure {
    fn classify(error: MetadataError) -> Self {
        match error {
            MetadataError::Fetch(_) => Self::Unavailable(error),
            _ => Self::Refused(error),
        }
    }

    /// A short, stable code for the audit log.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Refused(MetadataError::NoSigningCertificate) => {
                "idp_metadata_no_signing_certificate"
            }
            Self::Refused(_) => "idp_metadata_refused",
            Self::Unavailable(_) => "idp_metadata_unavailable",
        }
    }
}

/// What this node knows of one authority's metadata.
#[derive(Clone)]
struct Entry {
    /// Where it came from; an entry for another source is stale.
    source: MetadataSource,
    /// The last acceptable metadata and when it was read. `None` after a refusal.
    good: Option<(Arc<IdentityProvider>, Instant)>,
    /// The last failed attempt since then.
    failed: Option<(Instant, MetadataFailure)>,
}

impl Entry {
    /// The answer from memory at `now`, or `None` when a fetch is due.
    fn answer(&self, now: Instant) -> Option<Result<Arc<IdentityProvider>, MetadataFailure>> {
        let age = |at: Instant| now.saturating_duration_since(at);
        if let Some((idp, fetched)) = &self.good
            && (matches!(self.source, MetadataSource::Xml(_)) || age(*fetched) < METADATA_TTL)
        {
            return Some(Ok(idp.clone()));
        }
        let (failed_at, failure) = self.failed.as_ref()?;
        if age(*failed_at) >= RETRY_AFTER {
            return None;
        }
        Some(self.fallback(now).ok_or_else(|| failure.clone()))
    }

    /// The last good metadata, if a transport failure may still fall back on it at `now`.
    fn fallback(&self, now: Instant) -> Option<Arc<IdentityProvider>> {
        let (idp, fetched) = self.good.as_ref()?;
        (now.saturating_duration_since(*fetched) < STALE_GRACE).then(|| idp.clone())
    }

    /// Takes the result of a fetch at `now` in, and says what to use.
    fn update(
        &mut self,
        result: Result<IdentityProvider, MetadataError>,
        now: Instant,
    ) -> Result<Arc<IdentityProvider>, MetadataFailure> {
        match result {
            Ok(idp) => {
                let idp = Arc::new(idp);
                self.good = Some((idp.clone(), now));
                self.failed = None;
                Ok(idp)
            }
            Err(error) => {
                let failure = MetadataFailure::classify(error);
                let fallback = match failure {
                    // What the IdP publishes now is unusable: forget the old certificates.
                    MetadataFailure::Refused(_) => {
                        self.good = None;
                        None
                    }
                    MetadataFailure::Unavailable(_) => self.fallback(now),
                };
                self.failed = Some((now, failure.clone()));
                fallback.ok_or(failure)
            }
        }
    }
}

/// The per-node cache of IdP metadata (see the module documentation).
pub struct MetadataCache {
    http: reqwest::Client,
    policy: OutboundPolicy,
    entries: Mutex<HashMap<String, Entry>>,
}

impl MetadataCache {
    /// An empty cache with its HTTP client: only the addresses `policy` permits, redirects only
    /// to https and within the policy, at most three; the crate bounds each download's size and
    /// time.
    pub fn new(policy: &OutboundPolicy) -> Result<Self, reqwest::Error> {
        let allowed = policy.clone();
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS
                || attempt.url().scheme() != "https"
                || allowed.check_url(attempt.url()).is_err()
            {
                attempt.stop()
            } else {
                attempt.follow()
            }
        });
        let http = policy
            .client_builder()
            .redirect(redirects)
            .connect_timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self {
            http,
            policy: policy.clone(),
            entries: Mutex::new(HashMap::new()),
        })
    }

    /// Fetches and checks the metadata at `url` now, bypassing the cache (the admin API's check
    /// before it saves an enabled authority). A URL outside the outbound policy is refused
    /// before anything is sent.
    pub async fn fetch(&self, url: &str) -> Result<IdentityProvider, MetadataError> {
        let parsed = reqwest::Url::parse(url).map_err(|_| MetadataError::Url)?;
        self.policy
            .check_url(&parsed)
            .map_err(|refused| MetadataError::Fetch(refused.to_string()))?;
        authx_strategy_saml::fetch_identity_provider(&self.http, url).await
    }

    /// The identity provider `authority_id` trusts, from `source` (its current details), under
    /// the policy of the module documentation.
    pub async fn identity_provider(
        &self,
        authority_id: &str,
        source: &MetadataSource,
    ) -> Result<Arc<IdentityProvider>, MetadataFailure> {
        let now = Instant::now();
        let mut entry = match self.entry(authority_id, source) {
            Some(entry) => {
                if let Some(answer) = entry.answer(now) {
                    return answer;
                }
                entry
            }
            None => Entry {
                source: source.clone(),
                good: None,
                failed: None,
            },
        };
        let result = match source {
            MetadataSource::Xml(xml) => IdentityProvider::from_metadata_xml(xml),
            MetadataSource::Url(url) => self.fetch(url).await,
        };
        let answer = entry.update(result, Instant::now());
        if let (Ok(_), Some((_, failure))) = (&answer, &entry.failed) {
            tracing::warn!(
                authority = authority_id,
                %failure,
                "refreshing the IdP metadata failed; using the last good copy for now"
            );
        }
        self.lock().insert(authority_id.to_owned(), entry);
        answer
    }

    /// Remembers `idp`, just fetched from `source` for `authority_id` (after the admin API saved
    /// the authority), so the first login need not fetch it again.
    pub fn remember(&self, authority_id: &str, source: &MetadataSource, idp: IdentityProvider) {
        let entry = Entry {
            source: source.clone(),
            good: Some((Arc::new(idp), Instant::now())),
            failed: None,
        };
        self.lock().insert(authority_id.to_owned(), entry);
    }

    /// Drops what is known of `authority_id` (its details changed, or it is gone).
    pub fn forget(&self, authority_id: &str) {
        self.lock().remove(authority_id);
    }

    /// The entry of `authority_id` if it is for `source`.
    fn entry(&self, authority_id: &str, source: &MetadataSource) -> Option<Entry> {
        self.lock()
            .get(authority_id)
            .filter(|entry| entry.source == *source)
            .cloned()
    }

    /// The map; a panic elsewhere while holding the lock leaves it consistent (every write is a
    /// single insert or remove), so poisoning is ignored.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Metadata with an RSA signing certificate.
    fn idp() -> IdentityProvider {
        IdentityProvider::from_metadata_xml(&metadata_with_certificate())
            .expect("test metadata is valid")
    }

    fn metadata_with_certificate() -> String {
        format!(
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://idp.example/metadata"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{TEST_CERTIFICATE}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>"#
        )
    }

    /// A self-signed RSA-2048 certificate (base64 DER): the key the test metadata pins.
    const TEST_CERTIFICATE: &str = concat!(
        "MIIDFTCCAf2gAwIBAgIUL2JW9XGYumHByxxqihNT1P3RU7swDQYJKoZIhvcNAQELBQAwGTEXMBUGA1UEAwwOYXV0",
        "aHggdGVzdCBpZHAwIBcNMjYxMTI5MTgzNTA4WhgPMjEyNjExMDUxODM1MDhaMBkxFzAVBgNVBAMMDmF1dGh4IHRl",
        "c3QgaWRwMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAyIj6PQez8kCLtF7vufi2GI5ANvA5FCqq/xZI",
        "74wfprBSvLCzzFaCGXvGoVFiatpP9Q/oVjypJpbJEAfhcqz9Ac04Bmal2jEBYQ2Vhe/ZOM4P9edMqtJS0dPnj94f",
        "Azcnf0qKLyOIP0bpSl9gFSDyV55lFrJ/s2WlE9Qz21G1F/PLLVW6UAFugzX0JHfiHj78/C/fegc3WaTgbav6EXZm",
        "VmzwiXNUHAtG5zTyAtIWeyEhrvxhkmAY3UpfZt//G6kx9fgJnZZxF/RVACHldHR3+2wxddNkmjFNouxmg18vZkKK",
        "ir0jQbBBBdo/6r77LXwYUCcYHgY9JdsOUIYH+CBCSwIDAQABo1MwUTAdBgNVHQ4EFgQUjEgT/QajrsMd9mVud3qb",
        "s+1TZlYwHwYDVR0jBBgwFoAUjEgT/QajrsMd9mVud3qbs+1TZlYwDwYDVR0TAQH/BAUwAwEB/zANBgkqhkiG9w0B",
        "AQsFAAOCAQEABeUj3TctVQRGAOTWaFDwk/6q7sw+rbWCX2EoT4FeEmOS2p8js8VmneSa92INjiT7a35CeKLQXYU0",
        "xTAA81cjz865+D4iAb3k5p5i82lSINx1xiX749DPLiIQZUOCoaicQS9QhF/bjckMyeRxhOEUH3iGSnEnYwuemE/6",
        "hVf7bZcm63dIrzJfTSDEphHz1+9hmlB3VUEW3qezk1WLcf4jFndYhsapIGbOxYdqhNsH0jlQNFsZ6Sv+++e4lcKY",
        "kriYZ0oQJkaaLdyZ2I394MRuNizN0NaXlOyFoVXbH7+pzqs2h3bvwyvE1ihAlkQDI5FtliSWen52CnNFZODqARNA",
        "4g==",
    );

    fn url_entry() -> Entry {
        Entry {
            source: MetadataSource::Url("https://idp.example/metadata".into()),
            good: None,
            failed: None,
        }
    }

    #[test]
    fn fresh_metadata_is_used_until_its_ttl() {
        let t0 = Instant::now();
        let mut entry = url_entry();
        assert!(entry.answer(t0).is_none(), "nothing known: fetch");
        assert!(entry.update(Ok(idp()), t0).is_ok());
        assert!(matches!(entry.answer(t0 + METADATA_TTL / 2), Some(Ok(_))));
        assert!(entry.answer(t0 + METADATA_TTL).is_none(), "expired: fetch");
    }

    #[test]
    fn a_refresh_without_signing_certificate_disables_the_idp() {
        let t0 = Instant::now();
        let mut entry = url_entry();
        entry.update(Ok(idp()), t0).expect("good");
        let t1 = t0 + METADATA_TTL;
        let refused = entry.update(Err(MetadataError::NoSigningCertificate), t1);
        let failure = refused.expect_err("refused, old certificates not used");
        assert_eq!(failure.reason(), "idp_metadata_no_signing_certificate");
        assert!(entry.good.is_none());
        // Not retried at once, and still refused meanwhile.
        assert!(matches!(entry.answer(t1 + RETRY_AFTER / 2), Some(Err(_))));
        assert!(entry.answer(t1 + RETRY_AFTER).is_none(), "retry: fetch");
        // A later good fetch enables it again.
        assert!(entry.update(Ok(idp()), t1 + RETRY_AFTER).is_ok());
        assert!(matches!(entry.answer(t1 + RETRY_AFTER), Some(Ok(_))));
    }

    #[test]
    fn transport_failures_fall_back_on_recent_metadata_only() {
        let t0 = Instant::now();
        let mut entry = url_entry();
        entry.update(Ok(idp()), t0).expect("good");
        let down = || Err(MetadataError::Fetch("connection refused".into()));
        let t1 = t0 + METADATA_TTL;
        assert!(entry.update(down(), t1).is_ok(), "within the grace");
        assert!(matches!(entry.answer(t1 + RETRY_AFTER / 2), Some(Ok(_))));
        let late = t0 + STALE_GRACE;
        let failure = entry.update(down(), late).expect_err("past the grace");
        assert_eq!(failure.reason(), "idp_metadata_unavailable");
        assert!(matches!(entry.answer(late), Some(Err(_))));
        // Nothing ever fetched: unavailable at once.
        let mut fresh = url_entry();
        assert!(fresh.update(down(), t0).is_err());
    }

    #[test]
    fn pasted_metadata_does_not_expire() {
        let t0 = Instant::now();
        let mut entry = Entry {
            source: MetadataSource::Xml(metadata_with_certificate()),
            good: None,
            failed: None,
        };
        entry.update(Ok(idp()), t0).expect("good");
        assert!(matches!(entry.answer(t0 + STALE_GRACE * 2), Some(Ok(_))));
    }

    #[tokio::test]
    async fn entries_follow_the_source_and_can_be_forgotten() {
        let cache = MetadataCache::new(&OutboundPolicy::default()).expect("client");
        let xml = MetadataSource::Xml(metadata_with_certificate());
        let idp = cache.identity_provider("corp", &xml).await.expect("pasted");
        assert_eq!(idp.entity_id(), "https://idp.example/metadata");
        // Another source for the same authority is not served from the entry.
        let url = MetadataSource::Url("https://idp.example/metadata".into());
        assert!(cache.entry("corp", &url).is_none());
        cache.remember("corp", &url, (*idp).clone());
        assert!(cache.entry("corp", &url).is_some());
        cache.forget("corp");
        assert!(cache.entry("corp", &url).is_none());
        let bad = MetadataSource::Xml("<nope/>".into());
        let failure = cache.identity_provider("corp", &bad).await.err();
        assert_eq!(failure.map(|f| f.reason()), Some("idp_metadata_refused"));
    }
}
