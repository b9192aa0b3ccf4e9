//! Reading an identity provider's SAML metadata.
//!
//! [`IdentityProvider`] is what the rest of the crate trusts about an IdP: its entity id, the
//! HTTP-Redirect single sign-on URL, and the certificates whose keys may sign responses. It is
//! built only by [`IdentityProvider::from_metadata_xml`], which parses the metadata with the
//! strict parser of the private `xml` module (no DOCTYPE, no entities, no processing instructions) and
//! refuses metadata that yields **no usable signing certificate**: a response could then be
//! checked against nothing, so such metadata is never accepted. Every refresh of fetched metadata goes through the same function, so the check is
//! repeated each time.
//!
//! Only what we use is read, and only from `md:` elements in the metadata namespace:
//! `EntityDescriptor@entityID`, `IDPSSODescriptor` (SAML 2.0 protocol) →
//! `SingleSignOnService[Binding=HTTP-Redirect]@Location` (https, or http on a loopback host),
//! `@WantAuthnRequestsSigned`, and `KeyDescriptor` with `use="signing"` or no `use` → `ds:KeyInfo/ds:X509Data/
//! ds:X509Certificate`. Certificates must parse as X.509 with an RSA or EC (P-256, P-384) key,
//! read by the same parser the signature verifier uses (we accept RSA-SHA256 and ECDSA-SHA256
//! signatures); others are skipped. Their validity dates are ignored, as is usual for SAML
//! metadata, where the certificate is only a container for the pinned key. `validUntil` and
//! metadata signatures are not evaluated: the metadata is trusted because an administrator
//! configured it (pasted it, or named its https URL).
//!
//! [`fetch_metadata`] downloads metadata with a size bound and a timeout; the server calls it
//! and then [`IdentityProvider::from_metadata_xml`].

use std::time::Duration;

use base64::Engine as _;
use roxmltree::Node;

use crate::xml::{self, NS_DSIG, NS_METADATA, NS_PROTOCOL, Profile, XmlError, is};

/// The HTTP-Redirect binding URI.
pub const BINDING_HTTP_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
/// The largest metadata document accepted, pasted or fetched.
pub const MAX_METADATA_BYTES: usize = 512 * 1024;
/// How long [`fetch_metadata`] waits for the whole download.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest entity id accepted.
const MAX_ENTITY_ID_LEN: usize = 1024;

/// Why metadata was refused. The texts are meant for the administrator configuring the authority.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    /// The strict XML parser refused the document.
    #[error("metadata XML refused: {0}")]
    Xml(#[from] XmlError),
    /// Larger than [`MAX_METADATA_BYTES`].
    #[error("metadata is larger than {MAX_METADATA_BYTES} bytes")]
    TooLarge,
    /// Not an `md:EntityDescriptor` (or `md:EntitiesDescriptor` with exactly one IdP).
    #[error("metadata must describe exactly one SAML 2.0 identity provider: {0}")]
    NotAnIdp(String),
    /// The entity id is missing, empty or too long.
    #[error("metadata has no usable entityID")]
    EntityId,
    /// No HTTP-Redirect SingleSignOnService, or its Location is not an acceptable URL.
    #[error("metadata has no usable HTTP-Redirect SingleSignOnService: {0}")]
    SsoService(String),
    /// No signing certificate with a key we verify with: nothing could check a response.
    #[error("metadata has no signing certificate (an X.509 certificate with an RSA or EC key)")]
    NoSigningCertificate,
    /// A certificate element that does not decode or parse.
    #[error("metadata certificate is invalid: {0}")]
    Certificate(String),
    /// The metadata URL is not https (or http on a loopback host).
    #[error("metadata URL must be https (http only for 127.0.0.1, ::1 or localhost)")]
    Url,
    /// Downloading failed (connection, timeout, TLS, non-200 status, not UTF-8).
    #[error("fetching metadata failed: {0}")]
    Fetch(String),
}

/// What we trust about one SAML identity provider, read from its metadata.
///
/// Invariant: at least one signing certificate (DER, RSA or EC key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityProvider {
    entity_id: String,
    sso_redirect_url: String,
    signing_certificates: Vec<Vec<u8>>,
    wants_signed_requests: bool,
}

impl IdentityProvider {
    /// Reads IdP metadata (see the module documentation for what is read and refused).
    pub fn from_metadata_xml(metadata: &str) -> Result<Self, MetadataError> {
        if metadata.len() > MAX_METADATA_BYTES {
            return Err(MetadataError::TooLarge);
        }
        let metadata = metadata.strip_prefix('\u{feff}').unwrap_or(metadata);
        let document = xml::parse(metadata, Profile::Metadata)?;
        let root = document.root_element();
        if !(is(root, NS_METADATA, "EntityDescriptor")
            || is(root, NS_METADATA, "EntitiesDescriptor"))
        {
            return Err(MetadataError::NotAnIdp(
                "the root element is not md:EntityDescriptor or md:EntitiesDescriptor".into(),
            ));
        }
        // An aggregate is accepted only if exactly one entity in it is a SAML 2.0 IdP.
        let entities: Vec<Node<'_, '_>> = root
            .descendants()
            .filter(|n| is(*n, NS_METADATA, "EntityDescriptor"))
            .filter(|n| !idp_descriptors(*n).is_empty())
            .collect();
        let [entity] = entities.as_slice() else {
            return Err(MetadataError::NotAnIdp(format!(
                "found {} SAML 2.0 identity providers",
                entities.len()
            )));
        };

        let entity_id = entity
            .attribute("entityID")
            .map(str::trim)
            .filter(|id| !id.is_empty() && id.len() <= MAX_ENTITY_ID_LEN)
            .ok_or(MetadataError::EntityId)?
            .to_owned();

        let descriptors = idp_descriptors(*entity);
        let sso_redirect_url = descriptors
            .iter()
            .flat_map(|d| d.children())
            .filter(|n| is(*n, NS_METADATA, "SingleSignOnService"))
            .find(|n| n.attribute("Binding") == Some(BINDING_HTTP_REDIRECT))
            .ok_or_else(|| MetadataError::SsoService("none with the HTTP-Redirect binding".into()))?
            .attribute("Location")
            .map(str::trim)
            .filter(|url| is_acceptable_url(url))
            .ok_or_else(|| {
                MetadataError::SsoService(
                    "its Location must be https (http only on a loopback host)".into(),
                )
            })?
            .to_owned();

        let mut signing_certificates: Vec<Vec<u8>> = Vec::new();
        for key_descriptor in descriptors
            .iter()
            .flat_map(|d| d.children())
            .filter(|n| is(*n, NS_METADATA, "KeyDescriptor"))
        {
            // No `use` means the key serves both signing and encryption.
            if !matches!(key_descriptor.attribute("use"), None | Some("signing")) {
                continue;
            }
            for certificate in key_descriptor
                .children()
                .filter(|n| is(*n, NS_DSIG, "KeyInfo"))
                .flat_map(|n| n.children())
                .filter(|n| is(*n, NS_DSIG, "X509Data"))
                .flat_map(|n| n.children())
                .filter(|n| is(*n, NS_DSIG, "X509Certificate"))
            {
                let der = decode_certificate(certificate.text().unwrap_or_default())?;
                if has_signing_key(&der)? && !signing_certificates.contains(&der) {
                    signing_certificates.push(der);
                }
            }
        }
        if signing_certificates.is_empty() {
            return Err(MetadataError::NoSigningCertificate);
        }
        let wants_signed_requests = descriptors
            .iter()
            .any(|d| matches!(d.attribute("WantAuthnRequestsSigned"), Some("true" | "1")));

        Ok(Self {
            entity_id,
            sso_redirect_url,
            signing_certificates,
            wants_signed_requests,
        })
    }

    /// The IdP's entity id: the Issuer every response and assertion must carry.
    pub fn entity_id(&self) -> &str {
        &self.entity_id
    }

    /// Where AuthnRequests are sent (HTTP-Redirect binding).
    pub fn sso_redirect_url(&self) -> &str {
        &self.sso_redirect_url
    }

    /// Whether the IdP's metadata says `WantAuthnRequestsSigned="true"`: it refuses unsigned
    /// AuthnRequests, so ours are signed.
    pub fn wants_signed_requests(&self) -> bool {
        self.wants_signed_requests
    }

    /// The DER certificates whose keys may sign responses; never empty.
    pub fn signing_certificates(&self) -> &[Vec<u8>] {
        &self.signing_certificates
    }
}

/// The SAML 2.0 `IDPSSODescriptor` children of an entity.
fn idp_descriptors<'a, 'i>(entity: Node<'a, 'i>) -> Vec<Node<'a, 'i>> {
    entity
        .children()
        .filter(|n| is(*n, NS_METADATA, "IDPSSODescriptor"))
        .filter(|n| {
            n.attribute("protocolSupportEnumeration")
                .is_some_and(|p| p.split_ascii_whitespace().any(|p| p == NS_PROTOCOL))
        })
        .collect()
}

/// Base64 (whitespace inside is normal in metadata) to DER.
fn decode_certificate(text: &str) -> Result<Vec<u8>, MetadataError> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| MetadataError::Certificate("X509Certificate is not base64".into()))
}

/// Whether a DER certificate parses and carries a key we verify signatures with (RSA, or EC on
/// P-256 or P-384), read by the verifier's own loader so both agree on what the key is.
fn has_signing_key(der: &[u8]) -> Result<bool, MetadataError> {
    let key = bergshamra::keys::loader::load_x509_cert_der(der)
        .map_err(|_| MetadataError::Certificate("X509Certificate is not DER X.509".into()))?;
    Ok(matches!(
        key.algorithm_name(),
        "RSA" | "EC-P256" | "EC-P384"
    ))
}

/// Whether `url` is an absolute https URL, or http on a loopback host (for local test IdPs),
/// without credentials or a fragment.
pub(crate) fn is_acceptable_url(url: &str) -> bool {
    if url.len() > 2000 || !url.bytes().all(|b| b.is_ascii_graphic()) {
        return false;
    }
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return false;
    };
    if !parsed.username().is_empty() || parsed.password().is_some() || parsed.fragment().is_some() {
        return false;
    }
    match parsed.scheme() {
        "https" => parsed.host().is_some(),
        // The URL parser normalises hosts (lower case, `127.1` → `127.0.0.1`, `[::1]`).
        "http" => matches!(parsed.host_str(), Some("localhost" | "127.0.0.1" | "[::1]")),
        _ => false,
    }
}

/// Downloads IdP metadata from `url` (https, or http on a loopback host) with `client`, reading
/// at most [`MAX_METADATA_BYTES`] within [`FETCH_TIMEOUT`]. The caller parses the result with
/// [`IdentityProvider::from_metadata_xml`] — on every refresh, so a refreshed metadata without a
/// signing certificate is refused rather than silently disabling verification.
///
/// Redirects follow the client's policy; give it one that stays on https.
pub async fn fetch_metadata(client: &reqwest::Client, url: &str) -> Result<String, MetadataError> {
    if !is_acceptable_url(url) {
        return Err(MetadataError::Url);
    }
    let mut response = client
        .get(url)
        // reqwest's per-request timeout covers connecting, headers and the whole body.
        .timeout(FETCH_TIMEOUT)
        .header(
            reqwest::header::ACCEPT,
            "application/samlmetadata+xml, application/xml;q=0.9, text/xml;q=0.8",
        )
        .send()
        .await
        .map_err(fetch_error)?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(MetadataError::Fetch(format!(
            "HTTP status {}",
            response.status().as_u16()
        )));
    }
    if response
        .content_length()
        .is_some_and(|n| n > MAX_METADATA_BYTES as u64)
    {
        return Err(MetadataError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(fetch_error)? {
        if body.len() + chunk.len() > MAX_METADATA_BYTES {
            return Err(MetadataError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| MetadataError::Fetch("the body is not UTF-8".into()))
}

/// A transport failure in words: the outbound policy's refusal when that is the cause (reqwest
/// reports it as a connection error), else reqwest's own, without the URL.
fn fetch_error(error: reqwest::Error) -> MetadataError {
    match authx_strategy_core::outbound::refused_in(&error) {
        Some(refused) => MetadataError::Fetch(refused.to_string()),
        None => MetadataError::Fetch(error.without_url().to_string()),
    }
}

/// Fetches and parses in one step: [`fetch_metadata`] then
/// [`IdentityProvider::from_metadata_xml`].
pub async fn fetch_identity_provider(
    client: &reqwest::Client,
    url: &str,
) -> Result<IdentityProvider, MetadataError> {
    let metadata = fetch_metadata(client, url).await?;
    IdentityProvider::from_metadata_xml(&metadata)
}

#[cfg(test)]
mod tests;
