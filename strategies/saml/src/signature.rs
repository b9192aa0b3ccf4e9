//! XML signature verification in pure Rust, with bergshamra, against the IdP metadata's keys only.
//!
//! This runs after the pre-check (see the private `precheck` module), which has already refused
//! every shape we do not verify: signatures anywhere but directly under the Response or the one
//! Assertion, references other than `#` + the parent's ID, transforms other than
//! enveloped-signature and exclusive C14N, algorithms other than RSA-SHA256 or ECDSA-SHA256 with
//! SHA-256 digests, `KeyInfo` that points anywhere. Here every signature in the document must
//! verify, and then we check **what** each one covers:
//!
//! - bergshamra runs with its SAML profile (`trusted_keys_only`: a `KeyInfo` in the message only
//!   orders the candidate keys and never adds one; `strict_verification`: a reference must point
//!   at an ancestor or sibling of the signature), and only the keys of the metadata
//!   certificates are loaded;
//! - each valid signature has exactly one reference, and the element it resolved is the
//!   signature's own parent, which is the document's Response or the Response's one Assertion
//!   with the ID the pre-check read.
//!
//! The assertion is covered when its own signature or the Response's verified. Its contents are
//! then read (`assertion`) from the same node the pre-check walked, and the pre-check has made
//! sure there is exactly one Assertion to read.

use bergshamra::xml::uppsala::{self, Document, NodeId};
use bergshamra::{DsigContext, KeysManager, VerifyResult};

use crate::SamlError;
use crate::precheck::Prechecked;
use crate::xml::{NS_ASSERTION, NS_PROTOCOL};

/// Which elements a message's verified signatures cover.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Covered {
    /// The Response (and so everything in it) is signed.
    pub response: bool,
    /// The Assertion is signed by its own signature.
    pub assertion: bool,
}

/// The keys of the metadata's signing certificates, as the verifier wants them. A certificate
/// whose key bergshamra cannot use is an error: the metadata reader accepts only keys it can.
pub(crate) fn trusted_keys(certificates: &[Vec<u8>]) -> Result<KeysManager, SamlError> {
    let mut keys = KeysManager::new();
    for der in certificates {
        let key = bergshamra::keys::loader::load_x509_cert_der(der)
            .map_err(|e| SamlError::SignatureInvalid(format!("an IdP certificate: {e}")))?;
        keys.add_key(key);
    }
    Ok(keys)
}

/// Verifies every signature of a pre-checked message against `certificates` (DER) and returns
/// what they cover; an error unless every signature verified and the Assertion is covered.
pub(crate) fn verify_signatures(
    xml: &str,
    pre: &Prechecked,
    certificates: &[Vec<u8>],
) -> Result<Covered, SamlError> {
    let context = DsigContext::new(trusted_keys(certificates)?);
    let document = uppsala::parse(xml)
        .map_err(|e| SamlError::SignatureInvalid(format!("the verifier's parser: {e}")))?;
    let results =
        bergshamra::dsig::verify::verify_all_document_with_source(&context, &document, Some(xml))
            .map_err(|e| SamlError::SignatureInvalid(e.to_string()))?;

    let response = document
        .document_element()
        .filter(|node| is(&document, *node, NS_PROTOCOL, "Response"))
        .ok_or_else(|| SamlError::SignatureInvalid("the verifier sees no Response".into()))?;
    let mut covered = Covered {
        response: false,
        assertion: false,
    };
    for result in results {
        let VerifyResult::Valid {
            signature_node,
            references,
            ..
        } = result
        else {
            let reason = match result {
                VerifyResult::Invalid { reason } => reason,
                VerifyResult::Valid { .. } => String::new(),
            };
            tracing::debug!(%reason, "a SAML signature did not verify");
            return Err(SamlError::SignatureInvalid(reason));
        };
        let parent = document.parent(signature_node);
        let [reference] = references.as_slice() else {
            return Err(SamlError::SignatureInvalid(format!(
                "a signature covers {} references, not one",
                references.len()
            )));
        };
        if !reference.digest_verified || reference.resolved_node.is_none() {
            return Err(SamlError::SignatureInvalid(
                "a reference was not digested from this document".into(),
            ));
        }
        if reference.resolved_node != parent {
            return Err(SamlError::SignatureInvalid(
                "a signature covers an element other than its parent".into(),
            ));
        }
        match parent {
            Some(node) if node == response => covered.response = true,
            Some(node)
                if document.parent(node) == Some(response)
                    && is(&document, node, NS_ASSERTION, "Assertion")
                    && document.get_attribute(node, "ID") == Some(pre.assertion_id.as_str()) =>
            {
                covered.assertion = true;
            }
            _ => {
                return Err(SamlError::SignatureInvalid(
                    "a signature covers neither the Response nor its Assertion".into(),
                ));
            }
        }
    }
    if covered.response != pre.response_signed {
        // The pre-check and the verifier must agree on which signatures exist.
        return Err(SamlError::SignatureInvalid(
            "the verifier and the pre-check disagree about the Response signature".into(),
        ));
    }
    if !covered.response && !covered.assertion {
        return Err(SamlError::Unsigned);
    }
    Ok(covered)
}

/// Whether `node` is the element `namespace`:`name`.
fn is(document: &Document<'_>, node: NodeId, namespace: &str, name: &str) -> bool {
    document.element(node).is_some_and(|element| {
        element.name.namespace_uri.as_deref() == Some(namespace) && element.name.local_name == name
    })
}
