//! The SAML 2.0 service-provider strategy (reference §3): OneLogin and any SAML 2.0 identity provider.
//!
//! samael 0.0.22 does the SAML and XML-signature work, but it is **not safe on its own**: it hands
//! every `ds:Signature` of the posted XML to xmlsec, which dereferences Reference URIs and runs
//! transforms (XSLT, XPath, remote fetches) *before* checking any signature; with no signing
//! certificate in the IdP metadata it skips verification; it accepts a missing or OR-ed
//! AudienceRestriction, a future IssueInstant, a missing NameID, and malformed XML in libxml2's
//! recover mode. This crate wraps it so that none of that is reachable:
//!
//! - [`metadata`]: IdP metadata read strictly, refused without an RSA signing certificate;
//!   bounded fetching.
//! - [`details`]: the authority's `details` ([`SamlStrategy`] implements [`DetailsRules`]).
//! - [`sp`]: our SP configuration and metadata.
//! - [`request`]: the AuthnRequest (HTTP-Redirect binding) with a random, server-stored id.
//! - `precheck` (private): the strict structural check that runs before samael sees a response.
//! - [`response`]: [`verify_response`] — pre-check, samael's signature verification against the
//!   metadata certificates only, then our own checks on the assertion samael returns; and
//!   [`unverified_in_response_to`], the pre-checked but untrusted key to find the pending request by.
//! - [`error`]: [`SamlError`], detailed for logs, with short [`SamlError::reason`] codes for audit
//!   and one generic message for people.
//!
//! The server keeps the state: the pending request id bound to the browser (see [`request`]) and
//! the assertion replay cache (see [`response`]).
//!
//! [`DetailsRules`]: authx_strategy_core::DetailsRules

pub mod details;
pub mod error;
pub mod metadata;
mod precheck;
pub mod request;
pub mod response;
pub mod sp;
#[cfg(test)]
mod test_support;
mod xml;

pub use details::{MetadataSource, SamlDetails, SamlStrategy};
pub use error::SamlError;
pub use metadata::{IdentityProvider, MetadataError, fetch_identity_provider, fetch_metadata};
pub use request::{AuthnRedirect, authn_request};
pub use response::{VerifiedAssertion, unverified_in_response_to, verify_response};
pub use sp::{SpConfig, sp_metadata_xml};
pub use xml::XmlError;
