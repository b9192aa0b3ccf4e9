//! The SAML 2.0 service-provider strategy (reference §3): OneLogin and any SAML 2.0 identity provider.
//!
//! The SAML documents are read and written here, with one strict parser, and XML signatures are
//! verified in pure Rust with bergshamra, so the crate links no C library. A general
//! XML-signature verifier is not safe on its own: it dereferences Reference URIs and runs
//! transforms before it checks anything, and it says only that *something* is signed. So:
//!
//! - [`metadata`]: IdP metadata read strictly, refused without an RSA or EC signing certificate;
//!   bounded fetching.
//! - [`details`]: the authority's `details` ([`SamlStrategy`] implements [`DetailsRules`]).
//! - [`sp`]: our SP configuration and metadata.
//! - [`sp_key`]: our SP signing key and its certificate.
//! - [`request`]: the AuthnRequest (HTTP-Redirect binding) with a random, server-stored id,
//!   signed when the IdP wants it.
//! - `precheck` (private): the strict structural check that runs before anything else reads a
//!   response.
//! - `signature` (private): every signature verified against the metadata keys only, and what
//!   each one covers checked.
//! - `assertion` (private): the Assertion's parts, read from the pre-checked document.
//! - [`response`]: [`verify_response`] — pre-check, signatures, then our own checks on the
//!   signed assertion; and
//!   [`unverified_in_response_to`], the pre-checked but untrusted key to find the pending request by.
//! - [`error`]: [`SamlError`], detailed for logs, with short [`SamlError::reason`] codes for audit
//!   and one generic message for people.
//!
//! The server keeps the state: the pending request id bound to the browser (see [`request`]) and
//! the assertion replay cache (see [`response`]).
//!
//! [`DetailsRules`]: authx_strategy_core::DetailsRules

mod assertion;
pub mod details;
pub mod error;
pub mod metadata;
mod precheck;
pub mod request;
pub mod response;
mod signature;
pub mod sp;
pub mod sp_key;
#[cfg(test)]
mod test_support;
mod xml;

pub use details::{MetadataSource, SAML_SECRET_FIELDS, SamlDetails, SamlStrategy};
pub use error::SamlError;
pub use metadata::{IdentityProvider, MetadataError, fetch_identity_provider, fetch_metadata};
pub use request::{AuthnRedirect, authn_request};
pub use response::{VerifiedAssertion, unverified_in_response_to, verify_response};
pub use sp::{SpConfig, sp_metadata_xml};
pub use sp_key::SpKey;
pub use xml::XmlError;
