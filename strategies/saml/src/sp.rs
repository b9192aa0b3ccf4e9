//! Our side of the federation: the service-provider configuration and its metadata.
//!
//! [`SpConfig`] joins an authority's validated details with the URLs only the server knows: the
//! Assertion Consumer Service URL (`{issuer}/login/{authority_id}/acs`), which every Recipient and
//! Destination must equal, and optionally where our metadata is served. [`sp_metadata_xml`]
//! renders the metadata an administrator hands to the IdP: our entity id, the ACS URL with the
//! HTTP-POST binding, the requested NameID format, `WantAssertionsSigned="true"`, and our
//! signing certificate (see [`crate::sp_key`]) with `AuthnRequestsSigned` saying whether every
//! request is signed (`sign_requests`; requests to an IdP whose metadata wants them signed are
//! signed either way). It lists no encryption key: encrypted assertions are refused.

use base64::Engine as _;

use crate::SamlError;
use crate::details::SamlDetails;
use crate::sp_key::SpKey;
use crate::xml::{NS_DSIG, NS_METADATA, NS_PROTOCOL, escape};

/// The HTTP-POST binding, on which the IdP posts its response to our ACS URL.
pub(crate) const HTTP_POST_BINDING: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

/// Everything the SAML flows need to know about us for one authority.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpConfig {
    /// The authority's id (goes into the [`authx_strategy_core::UpstreamIdentity`]).
    pub authority_id: String,
    /// Our entity id at the IdP (`details.sp_entity_id`); every AudienceRestriction must name it.
    pub entity_id: String,
    /// Our ACS URL; every Recipient and Destination must equal it.
    pub acs_url: String,
    /// Where our SP metadata is served, if anywhere.
    pub metadata_url: Option<String>,
    /// NameID format to request and require (`details.name_id_format`).
    pub name_id_format: Option<String>,
    /// Attribute carrying the email address (`details.email_attribute`).
    pub email_attribute: Option<String>,
    /// Attribute carrying the given name (`details.given_name_attribute`).
    pub given_name_attribute: Option<String>,
    /// Attribute carrying the family name (`details.family_name_attribute`).
    pub family_name_attribute: Option<String>,
    /// Whether the IdP's email addresses count as verified (`details.trust_email`).
    pub trust_email: bool,
    /// Sign every AuthnRequest (`details.sign_requests`), not only those to IdPs that want it.
    pub sign_requests: bool,
    /// Our signing key (`details.sp_signing_key`), once generated.
    pub signing_key: Option<SpKey>,
}

impl SpConfig {
    /// The configuration of authority `authority_id` with validated `details`, answering at
    /// `acs_url` (the server passes `{issuer}/login/{authority_id}/acs`).
    pub fn new(
        authority_id: impl Into<String>,
        details: &SamlDetails,
        acs_url: impl Into<String>,
        metadata_url: Option<String>,
    ) -> Self {
        Self {
            authority_id: authority_id.into(),
            entity_id: details.sp_entity_id.clone(),
            acs_url: acs_url.into(),
            metadata_url,
            name_id_format: details.name_id_format.clone(),
            email_attribute: details.email_attribute.clone(),
            given_name_attribute: details.given_name_attribute.clone(),
            family_name_attribute: details.family_name_attribute.clone(),
            trust_email: details.trust_email,
            sign_requests: details.sign_requests,
            signing_key: details.sp_signing_key.clone(),
        }
    }
}

/// Our SP metadata for `sp` (see the module documentation). Configured values are escaped, so
/// they stay data whatever an administrator typed.
pub fn sp_metadata_xml(sp: &SpConfig) -> Result<String, SamlError> {
    let name_id_format = sp
        .name_id_format
        .as_deref()
        .map(|format| format!("<md:NameIDFormat>{}</md:NameIDFormat>", escape(format)))
        .unwrap_or_default();
    let key_descriptor = match &sp.signing_key {
        Some(key) => format!(
            "<md:KeyDescriptor use=\"signing\"><ds:KeyInfo xmlns:ds=\"{NS_DSIG}\"><ds:X509Data>\
             <ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>\
             </md:KeyDescriptor>",
            base64::engine::general_purpose::STANDARD.encode(key.certificate_der(&sp.entity_id)?)
        ),
        None => String::new(),
    };
    Ok(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <md:EntityDescriptor xmlns:md=\"{NS_METADATA}\" entityID=\"{entity_id}\">\
         <md:SPSSODescriptor protocolSupportEnumeration=\"{NS_PROTOCOL}\" \
         AuthnRequestsSigned=\"{signed}\" WantAssertionsSigned=\"true\">{key_descriptor}\
         {name_id_format}\
         <md:AssertionConsumerService Binding=\"{HTTP_POST_BINDING}\" Location=\"{acs}\" \
         index=\"0\" isDefault=\"true\"/></md:SPSSODescriptor></md:EntityDescriptor>",
        entity_id = escape(&sp.entity_id),
        signed = sp.sign_requests && sp.signing_key.is_some(),
        acs = escape(&sp.acs_url),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::{self, Profile, is};

    fn sp(sign_requests: bool, signing_key: Option<SpKey>) -> SpConfig {
        SpConfig {
            entity_id: "https://sp.example/\"<&>".into(),
            ..crate::test_support::sp_config(sign_requests, signing_key)
        }
    }

    #[test]
    fn metadata_publishes_the_signing_certificate() {
        let key = SpKey::generate().unwrap();
        for sign_requests in [false, true] {
            let metadata = sp_metadata_xml(&sp(sign_requests, Some(key.clone()))).unwrap();
            let document = xml::parse(&metadata, Profile::Metadata).unwrap();
            let root = document.root_element();
            assert_eq!(root.attribute("entityID"), Some("https://sp.example/\"<&>"));
            let descriptor = root.first_element_child().unwrap();
            assert!(is(descriptor, NS_METADATA, "SPSSODescriptor"));
            assert_eq!(
                descriptor.attribute("AuthnRequestsSigned"),
                Some(if sign_requests { "true" } else { "false" })
            );
            let certificate = descriptor
                .descendants()
                .find(|n| is(*n, NS_DSIG, "X509Certificate"))
                .unwrap();
            let der = base64::engine::general_purpose::STANDARD
                .decode(certificate.text().unwrap())
                .unwrap();
            assert_eq!(
                der,
                key.certificate_der("https://sp.example/\"<&>").unwrap()
            );
            let key_descriptor = certificate.ancestors().nth(3).unwrap();
            assert!(is(key_descriptor, NS_METADATA, "KeyDescriptor"));
            assert_eq!(key_descriptor.attribute("use"), Some("signing"));
        }
    }

    #[test]
    fn without_a_key_no_key_is_listed_and_nothing_claims_signing() {
        let metadata = sp_metadata_xml(&sp(true, None)).unwrap();
        assert!(!metadata.contains("KeyDescriptor"), "{metadata}");
        assert!(
            metadata.contains("AuthnRequestsSigned=\"false\""),
            "{metadata}"
        );
    }
}
