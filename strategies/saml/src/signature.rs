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
//! sure there is exactly one Assertion to read. That node is in our parser's tree (roxmltree),
//! while the signatures were checked on the verifier's (uppsala), so last of all the two trees
//! must be the same, element for element, attribute for attribute and text for text: two
//! parsers reading one message differently is how signature checks have been bypassed in other
//! SAML libraries.

use bergshamra::xml::uppsala::{self, Document, NodeId};
use bergshamra::{DsigContext, KeysManager, VerifyResult};

use crate::SamlError;
use crate::precheck::Prechecked;
use crate::xml::{self, NS_ASSERTION, NS_PROTOCOL, Profile};

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
    // The signatures were checked on the verifier's parse, and every value is read from ours:
    // the two must be the same tree, or a difference between the parsers (how signature checks
    // have been slipped past elsewhere) could put unsigned content where we read.
    let ours = xml::parse(xml, Profile::Message)?;
    if !same_tree(ours.root_element(), &document, response) {
        tracing::debug!("the two XML parsers read the message differently");
        return Err(SamlError::Structure(
            "the message does not parse the same way twice".into(),
        ));
    }
    Ok(covered)
}

/// A node's content as both trees are compared: elements, and text that is not only white space
/// (adjacent pieces joined).
#[derive(Debug)]
enum Content<E> {
    Element(E),
    Text(String),
}

/// Appends `text` to `items`, joined to a text item just before it.
fn push_text<E>(items: &mut Vec<Content<E>>, text: &str) {
    if let Some(Content::Text(last)) = items.last_mut() {
        last.push_str(text);
    } else {
        items.push(Content::Text(text.to_owned()));
    }
}

/// Drops the text items that are only white space (formatting between elements).
fn without_blank<E>(items: Vec<Content<E>>) -> Vec<Content<E>> {
    items
        .into_iter()
        .filter(|item| !matches!(item, Content::Text(t) if t.trim().is_empty()))
        .collect()
}

/// Whether `ours` (roxmltree) and `node` of `theirs` (the verifier's uppsala tree) are the same
/// element: namespace and name, attributes and, recursively, content. Neither parser lists
/// namespace declarations as attributes, so a declaration only one of them reads as an
/// attribute (roxmltree takes `p:xmlns` for one, uppsala does not) is a difference like any
/// other. Comments, processing instructions and CDATA never get here (the pre-check refuses
/// them).
fn same_tree(ours: roxmltree::Node<'_, '_>, theirs: &Document<'_>, node: NodeId) -> bool {
    let Some(element) = theirs.element(node) else {
        return false;
    };
    if ours.tag_name().namespace() != element.name.namespace_uri.as_deref()
        || ours.tag_name().name() != element.name.local_name
    {
        return false;
    }
    let mut our_attributes: Vec<(Option<&str>, &str, &str)> = ours
        .attributes()
        .map(|a| (a.namespace(), a.name(), a.value()))
        .collect();
    let mut their_attributes: Vec<(Option<&str>, &str, &str)> = element
        .attributes
        .iter()
        .map(|a| {
            (
                a.name.namespace_uri.as_deref(),
                a.name.local_name.as_ref(),
                a.value.as_ref(),
            )
        })
        .collect();
    our_attributes.sort_unstable();
    their_attributes.sort_unstable();
    if our_attributes != their_attributes {
        return false;
    }

    let mut our_content = Vec::new();
    for child in ours.children() {
        if child.is_element() {
            our_content.push(Content::Element(child));
        } else if let Some(text) = child.text().filter(|_| child.is_text()) {
            push_text(&mut our_content, text);
        }
    }
    let mut their_content = Vec::new();
    for child in theirs.children(node) {
        match theirs.node_kind(child) {
            Some(uppsala::NodeKind::Element(_)) => their_content.push(Content::Element(child)),
            Some(uppsala::NodeKind::Text(text) | uppsala::NodeKind::CData(text)) => {
                push_text(&mut their_content, text);
            }
            _ => {}
        }
    }
    let (our_content, their_content) = (without_blank(our_content), without_blank(their_content));
    our_content.len() == their_content.len()
        && our_content
            .iter()
            .zip(&their_content)
            .all(|pair| match pair {
                (Content::Element(a), Content::Element(b)) => same_tree(*a, theirs, *b),
                (Content::Text(a), Content::Text(b)) => a == b,
                _ => false,
            })
}

/// Whether `node` is the element `namespace`:`name`.
fn is(document: &Document<'_>, node: NodeId, namespace: &str, name: &str) -> bool {
    document.element(node).is_some_and(|element| {
        element.name.namespace_uri.as_deref() == Some(namespace) && element.name.local_name == name
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Our tree of `ours` against the verifier's tree of `theirs`.
    fn compare(ours: &str, theirs: &str) -> bool {
        let our_doc = xml::parse(ours, Profile::Message).unwrap();
        let their_doc = uppsala::parse(theirs).unwrap();
        let root = their_doc.document_element().unwrap();
        same_tree(our_doc.root_element(), &their_doc, root)
    }

    const DOC: &str = "<r:R xmlns:r=\"urn:r\" xmlns:s=\"urn:s\" A=\"1\" s:B=\"2\">\n  \
                       <s:N F=\"f\">ada &amp; co</s:N>\n  <s:E/></r:R>";

    #[test]
    fn a_message_is_the_same_tree_to_both_parsers() {
        assert!(compare(DOC, DOC));
        // Formatting white space between elements does not matter; prefixes do not either.
        let reformatted = DOC
            .replace("\n  ", "")
            .replace("<s:", "<t:")
            .replace("</s:", "</t:")
            .replace(" s:B", " t:B")
            .replace("xmlns:s=", "xmlns:t=");
        assert!(compare(DOC, &reformatted));
    }

    #[test]
    fn line_ends_and_character_references_read_alike() {
        for variant in [
            DOC.replace("ada &amp; co", "ada\r\n&amp; co"),
            DOC.replace("ada &amp; co", "ada&#13;&#10;co"),
            DOC.replace("ada &amp; co", "ada\rco"),
            DOC.replace("F=\"f\"", "F=\"f&#13;g\""),
            DOC.replace("F=\"f\"", "F=\"f g\""),
            DOC.replace("ada &amp; co", "&#x10000;&lt;&gt;&quot;&apos;"),
        ] {
            assert!(compare(&variant, &variant), "{variant:?}");
        }
        // Raw line breaks and tabs in attribute values (which attribute-value normalisation turns
        // into spaces) are not read alike by the two parsers (bergshamra 0.11.1's uppsala and
        // roxmltree): such a message is refused, the safe side, as SAML's attribute values are
        // ids, URIs and instants. A parser upgrade that reads them alike flips this.
        for raw in ["f\ng", "f\tg", "f\r\ng"] {
            let variant = DOC.replace("F=\"f\"", &format!("F=\"{raw}\""));
            assert!(!compare(&variant, &variant), "{raw:?}");
        }
    }

    #[test]
    fn any_difference_in_names_attributes_or_text_is_one() {
        for changed in [
            DOC.replace("ada &amp; co", "ada &amp; c0"),
            DOC.replace("ada &amp; co", "ada<s:X/> &amp; co"),
            DOC.replace("F=\"f\"", "F=\"g\""),
            DOC.replace("F=\"f\"", "F=\"f\" G=\"\""),
            DOC.replace("s:B", "B"),
            DOC.replace("xmlns:s=\"urn:s\"", "xmlns:s=\"urn:other\""),
            DOC.replace("<s:E/>", ""),
            DOC.replace("<s:E/>", "<s:E/><s:E/>"),
            DOC.replace("<s:E/>", "<s:E>x</s:E>"),
        ] {
            assert!(!compare(DOC, &changed), "{changed}");
            assert!(!compare(&changed, DOC), "{changed}");
        }
        // What the two parsers disagree on is refused even when the message is the same text.
        let prefixed_xmlns = DOC.replace("A=\"1\"", "A=\"1\" s:xmlns=\"urn:x\"");
        assert!(!compare(&prefixed_xmlns, &prefixed_xmlns));
    }
}
