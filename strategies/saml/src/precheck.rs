//! The strict check of a SAML Response **before any verifier sees it**.
//!
//! An XML-signature verifier dereferences each Reference URI and runs its transforms *before* it
//! can check the signature: with a general-purpose verifier (xmlsec once, bergshamra now) an
//! unauthenticated POST could ask the server to fetch an attacker's URL, run attacker XSLT, or
//! read `file:///dev/zero` forever. So nothing reaches the verifier unless this module accepted
//! it, and the verifier then only has to handle the one shape we allow. The rules, each one
//! refusing the whole message:
//!
//! - the document passes the strict parser ([`crate::xml`], message profile: no DOCTYPE or
//!   entities, no PIs, no comments, no CDATA, UTF-8, bounded);
//! - the root is `samlp:Response`, Version 2.0, with a top-level StatusCode of Success;
//! - every attribute named `ID` (or `Id`, `id`, `AssertionID`) is un-namespaced, an NCName, and unique in the document (the
//!   verifier resolves `#id` references by these attributes; duplicates would make a Reference
//!   ambiguous);
//! - nothing encrypted (`EncryptedAssertion`, `EncryptedID`, `EncryptedAttribute`, any `xenc:`),
//!   no XInclude elements;
//! - exactly one `saml:Assertion` in the whole document, a direct child of the Response, and the
//!   Response and Assertion contain only the elements SAML defines for them, each as often as
//!   allowed (one Issuer, one Subject with exactly one NameID, at most one Conditions holding
//!   only audience, one-time-use and proxy restrictions, no Advice): one copy of each leaves nothing
//!   to disagree about between what is checked and what is read;
//! - `ds:Signature` appears only as a direct child of the Response or of the Assertion (at most
//!   one each), and each has exactly: one `SignedInfo` with exclusive C14N (without comments),
//!   RSA-SHA256 or ECDSA-SHA256, and exactly one `Reference` whose URI is `#` + the ID of the signature's parent,
//!   whose transforms are only enveloped-signature and exclusive C14N and whose digest is SHA-256;
//!   a `SignatureValue`; an optional `KeyInfo` holding only `X509Data`, `KeyName` or `KeyValue`
//!   (no `RetrievalMethod`, no URI anywhere); no `ds:Object`;
//! - at least one signature (Response or Assertion).
//!
//! What passes is handed to the verifier unchanged (the very same string), and the assertion is
//! read from the document checked here (the private `assertion` module), so the checked, the
//! verified and the read document are the same bytes.

use std::collections::HashSet;

use roxmltree::{Document, Node};

use crate::SamlError;
use crate::assertion::Assertion;
use crate::xml::{
    self, EXC_C14N, NS_ASSERTION, NS_DSIG, NS_PROTOCOL, NS_XENC, Profile, element_children, is,
};

/// The SignatureMethods accepted: RSA-SHA256, which every IdP offers, and ECDSA-SHA256 for IdPs
/// with EC keys.
pub(crate) const SIGNATURE_METHODS: [&str; 2] = [
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
];
/// The only DigestMethod accepted.
pub(crate) const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
/// The enveloped-signature transform.
pub(crate) const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
/// XInclude: never processed by the parsers involved, refused anyway as one less surprise.
const NS_XINCLUDE: &str = "http://www.w3.org/2001/XInclude";
/// Top-level status of a successful response.
pub(crate) const STATUS_SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";

/// What the pre-check learnt about an accepted message. Nothing here is verified yet: it is used
/// to refuse, and to check that the verified signatures cover the one Assertion seen here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Prechecked {
    /// The single Assertion's ID.
    pub assertion_id: String,
    /// The single Assertion, read from this same document.
    pub assertion: Assertion,
    /// Whether the Response carries a signature.
    pub response_signed: bool,
    /// Response `Destination`.
    pub destination: Option<String>,
    /// Response `InResponseTo`.
    pub in_response_to: Option<String>,
    /// Response `Issuer` text.
    pub issuer: Option<String>,
    /// Response `IssueInstant`.
    pub issue_instant: String,
}

/// Checks a decoded SAML Response (see the module documentation).
pub(crate) fn precheck(text: &str) -> Result<Prechecked, SamlError> {
    let document = xml::parse(text, Profile::Message)?;
    let response = document.root_element();
    if !is(response, NS_PROTOCOL, "Response") {
        return Err(structure("the root element is not samlp:Response"));
    }
    check_ids(&document)?;
    if document.descendants().any(|n| {
        n.tag_name().namespace() == Some(NS_XENC)
            || is(n, NS_ASSERTION, "EncryptedAssertion")
            || is(n, NS_ASSERTION, "EncryptedID")
            || is(n, NS_ASSERTION, "EncryptedAttribute")
    }) {
        return Err(SamlError::Encrypted);
    }
    if document
        .descendants()
        .any(|n| n.tag_name().namespace() == Some(NS_XINCLUDE))
    {
        return Err(structure("XInclude elements"));
    }
    // Values read as text must be text only: `<NameID>alice<x/>.evil</NameID>` must not read as
    // `alice` (nor as anything else). AttributeValue may hold XML (a NameID inside
    // eduPersonTargetedID, say); only its text is read, and an element there is simply not text.
    if let Some(node) = document.descendants().find(|n| {
        ["NameID", "Issuer", "Audience"]
            .iter()
            .any(|name| is(*n, NS_ASSERTION, name))
            && n.children().any(|c| c.is_element())
    }) {
        return Err(structure(format!(
            "markup inside {}",
            node.tag_name().name()
        )));
    }

    let response_id = required_id(response, "Response")?;
    check_version(response, "Response")?;
    let issue_instant = response
        .attribute("IssueInstant")
        .ok_or_else(|| structure("the Response has no IssueInstant"))?
        .to_owned();

    let children = element_children(response).ok_or_else(|| structure("text in the Response"))?;
    let mut counts = Counts::default();
    for child in &children {
        if is(*child, NS_ASSERTION, "Issuer") {
            counts.issuer += 1;
        } else if is(*child, NS_DSIG, "Signature") {
            counts.signature += 1;
        } else if is(*child, NS_PROTOCOL, "Extensions") {
            counts.extensions += 1;
        } else if is(*child, NS_PROTOCOL, "Status") {
            counts.status += 1;
        } else if !is(*child, NS_ASSERTION, "Assertion") {
            return Err(structure(format!(
                "unexpected element {} in the Response",
                child.tag_name().name()
            )));
        }
    }
    if counts.issuer > 1 || counts.signature > 1 || counts.extensions > 1 || counts.status != 1 {
        return Err(structure(
            "the Response needs one Status and at most one Issuer, Signature and Extensions",
        ));
    }
    // The status first: an IdP's error answer (cancelled, no passive login) has no assertion,
    // and "status not Success" is the useful reason then.
    check_status(&children)?;

    let assertions: Vec<Node<'_, '_>> = document
        .descendants()
        .filter(|n| is(*n, NS_ASSERTION, "Assertion"))
        .collect();
    let [assertion] = assertions.as_slice() else {
        return Err(structure(format!(
            "expected exactly one Assertion, found {}",
            assertions.len()
        )));
    };
    let assertion = *assertion;
    if assertion.parent_element() != Some(response) {
        return Err(structure(
            "the Assertion is not a direct child of the Response",
        ));
    }
    let assertion_id = required_id(assertion, "Assertion")?;
    check_version(assertion, "Assertion")?;
    if assertion.attribute("IssueInstant").is_none() {
        return Err(structure("the Assertion has no IssueInstant"));
    }
    check_assertion_children(assertion)?;

    // Signatures: only where we expect them, and only the shapes we accept.
    let mut response_signed = false;
    let mut assertion_signed = false;
    for signature in document
        .descendants()
        .filter(|n| is(*n, NS_DSIG, "Signature"))
    {
        let parent = signature.parent_element();
        if parent == Some(response) {
            check_signature(signature, &response_id)?;
            response_signed = true;
        } else if parent == Some(assertion) {
            check_signature(signature, &assertion_id)?;
            assertion_signed = true;
        } else {
            return Err(SamlError::SignatureStructure(
                "a Signature outside the Response and Assertion".into(),
            ));
        }
    }
    if !response_signed && !assertion_signed {
        return Err(SamlError::Unsigned);
    }

    let issuer = children
        .iter()
        .find(|c| is(**c, NS_ASSERTION, "Issuer"))
        .map(|c| c.text().unwrap_or_default().trim().to_owned());
    Ok(Prechecked {
        assertion: crate::assertion::read(assertion)?,
        assertion_id,
        response_signed,
        destination: response.attribute("Destination").map(str::to_owned),
        in_response_to: response.attribute("InResponseTo").map(str::to_owned),
        issuer,
        issue_instant,
    })
}

#[derive(Default)]
struct Counts {
    issuer: usize,
    signature: usize,
    extensions: usize,
    status: usize,
}

fn structure(message: impl Into<String>) -> SamlError {
    SamlError::Structure(message.into())
}

fn signature_structure(message: impl Into<String>) -> SamlError {
    SamlError::SignatureStructure(message.into())
}

/// The attribute names the verifier resolves `#id` references by.
const ID_ATTRIBUTES: [&str; 4] = ["ID", "Id", "id", "AssertionID"];

/// Every ID attribute (any of [`ID_ATTRIBUTES`]): no namespace, an NCName, unique across all of
/// them, so a reference can resolve to one element only.
fn check_ids(document: &Document<'_>) -> Result<(), SamlError> {
    let mut seen = HashSet::new();
    for element in document.descendants().filter(Node::is_element) {
        for attribute in element
            .attributes()
            .filter(|a| ID_ATTRIBUTES.contains(&a.name()))
        {
            if attribute.namespace().is_some() {
                // A lookup by local name ignores namespaces: `x:ID` could count as an ID.
                return Err(SamlError::Ids("a namespaced ID attribute".into()));
            }
            if !is_ncname(attribute.value()) {
                return Err(SamlError::Ids(format!(
                    "ID {:?} is not an NCName",
                    attribute.value()
                )));
            }
            if !seen.insert(attribute.value()) {
                return Err(SamlError::Ids(format!(
                    "ID {:?} appears twice",
                    attribute.value()
                )));
            }
        }
    }
    Ok(())
}

/// An ASCII NCName (`[A-Za-z_][A-Za-z0-9._-]*`, at most 256 bytes). Real SAML IDs are ASCII;
/// refusing the rest keeps `#id` references free of anything XPointer-like.
fn is_ncname(value: &str) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 256
        && (bytes[0].is_ascii_alphabetic() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

fn required_id(node: Node<'_, '_>, what: &str) -> Result<String, SamlError> {
    node.attribute("ID")
        .map(str::to_owned)
        .ok_or_else(|| SamlError::Ids(format!("the {what} has no ID")))
}

fn check_version(node: Node<'_, '_>, what: &str) -> Result<(), SamlError> {
    if node.attribute("Version") == Some("2.0") {
        Ok(())
    } else {
        Err(structure(format!("the {what} is not SAML version 2.0")))
    }
}

/// The top-level StatusCode must be Success.
fn check_status(response_children: &[Node<'_, '_>]) -> Result<(), SamlError> {
    let status = response_children
        .iter()
        .find(|c| is(**c, NS_PROTOCOL, "Status"))
        .ok_or_else(|| structure("the Response has no Status"))?;
    let code = status
        .children()
        .find(|c| is(*c, NS_PROTOCOL, "StatusCode"))
        .and_then(|c| c.attribute("Value"))
        .ok_or_else(|| structure("the Status has no StatusCode"))?;
    if code == STATUS_SUCCESS {
        Ok(())
    } else {
        Err(SamlError::Status(code.to_owned()))
    }
}

/// The Assertion holds only what SAML defines, each part as often as we allow.
fn check_assertion_children(assertion: Node<'_, '_>) -> Result<(), SamlError> {
    let children = element_children(assertion).ok_or_else(|| structure("text in the Assertion"))?;
    let (mut issuer, mut signature, mut subject, mut conditions) = (0, 0, 0, 0);
    for child in &children {
        let name = child.tag_name().name();
        if is(*child, NS_DSIG, "Signature") {
            signature += 1;
            continue;
        }
        if child.tag_name().namespace() != Some(NS_ASSERTION) {
            return Err(structure(format!(
                "unexpected element {name} in the Assertion"
            )));
        }
        match name {
            "Issuer" => issuer += 1,
            "Subject" => {
                subject += 1;
                check_subject(*child)?;
            }
            "Conditions" => {
                conditions += 1;
                check_conditions(*child)?;
            }
            "AuthnStatement" | "AttributeStatement" | "AuthzDecisionStatement" => {}
            // Advice (nested assertions) and generic xsi:typed Statements are not supported.
            _ => {
                return Err(structure(format!(
                    "unsupported element {name} in the Assertion"
                )));
            }
        }
    }
    if issuer != 1 || signature > 1 || subject > 1 || conditions > 1 {
        return Err(structure(
            "the Assertion needs one Issuer and at most one Signature, Subject and Conditions",
        ));
    }
    if subject == 0 {
        return Err(SamlError::NameIdMissing);
    }
    Ok(())
}

fn check_subject(subject: Node<'_, '_>) -> Result<(), SamlError> {
    let children = element_children(subject).ok_or_else(|| structure("text in the Subject"))?;
    let mut name_ids = 0;
    for child in &children {
        if is(*child, NS_ASSERTION, "NameID") {
            name_ids += 1;
        } else if !is(*child, NS_ASSERTION, "SubjectConfirmation") {
            return Err(structure(format!(
                "unsupported element {} in the Subject",
                child.tag_name().name()
            )));
        }
    }
    match name_ids {
        0 => Err(SamlError::NameIdMissing),
        1 => Ok(()),
        _ => Err(structure("more than one NameID")),
    }
}

fn check_conditions(conditions: Node<'_, '_>) -> Result<(), SamlError> {
    let children =
        element_children(conditions).ok_or_else(|| structure("text in the Conditions"))?;
    for child in &children {
        // SAML core §2.5.1.5: an assertion with a condition we do not understand is not valid.
        if !(is(*child, NS_ASSERTION, "AudienceRestriction")
            || is(*child, NS_ASSERTION, "OneTimeUse")
            || is(*child, NS_ASSERTION, "ProxyRestriction"))
        {
            return Err(structure(format!(
                "unsupported condition {}",
                child.tag_name().name()
            )));
        }
    }
    Ok(())
}

/// One `ds:Signature` over the element with ID `target_id` (its parent).
fn check_signature(signature: Node<'_, '_>, target_id: &str) -> Result<(), SamlError> {
    only_attributes(signature, &["Id"])?;
    let children =
        element_children(signature).ok_or_else(|| signature_structure("text in Signature"))?;
    let names: Vec<&str> = children.iter().map(|c| dsig_name(*c)).collect();
    match names.as_slice() {
        ["SignedInfo", "SignatureValue"] | ["SignedInfo", "SignatureValue", "KeyInfo"] => {}
        _ => {
            return Err(signature_structure(format!(
                "Signature must hold SignedInfo, SignatureValue and optionally KeyInfo, not {names:?}"
            )));
        }
    }
    check_signed_info(children[0], target_id)?;
    no_element_children(children[1], "SignatureValue")?;
    only_attributes(children[1], &["Id"])?;
    if let Some(key_info) = children.get(2) {
        check_key_info(*key_info)?;
    }
    Ok(())
}

/// The local name of a `ds:` element, or `""` for anything else (which then matches nothing).
fn dsig_name<'a>(node: Node<'a, '_>) -> &'a str {
    if node.tag_name().namespace() == Some(NS_DSIG) {
        node.tag_name().name()
    } else {
        ""
    }
}

fn check_signed_info(signed_info: Node<'_, '_>, target_id: &str) -> Result<(), SamlError> {
    only_attributes(signed_info, &["Id"])?;
    let children =
        element_children(signed_info).ok_or_else(|| signature_structure("text in SignedInfo"))?;
    let names: Vec<&str> = children.iter().map(|c| dsig_name(*c)).collect();
    if names != ["CanonicalizationMethod", "SignatureMethod", "Reference"] {
        return Err(signature_structure(format!(
            "SignedInfo must hold CanonicalizationMethod, SignatureMethod and exactly one \
             Reference, not {names:?}"
        )));
    }

    let c14n = children[0];
    only_attributes(c14n, &["Algorithm"])?;
    let algorithm = c14n.attribute("Algorithm").unwrap_or_default();
    if algorithm != EXC_C14N {
        return Err(SamlError::Canonicalization(algorithm.to_owned()));
    }
    check_c14n_parameters(c14n)?;

    let method = children[1];
    only_attributes(method, &["Algorithm"])?;
    let algorithm = method.attribute("Algorithm").unwrap_or_default();
    if !SIGNATURE_METHODS.contains(&algorithm) {
        return Err(SamlError::SignatureAlgorithm(algorithm.to_owned()));
    }
    no_element_children(method, "SignatureMethod")?;

    check_reference(children[2], target_id)
}

fn check_reference(reference: Node<'_, '_>, target_id: &str) -> Result<(), SamlError> {
    only_attributes(reference, &["URI", "Id", "Type"])?;
    let uri = reference.attribute("URI").unwrap_or_default();
    if uri.strip_prefix('#') != Some(target_id) {
        return Err(SamlError::ReferenceUri(format!(
            "URI {uri:?} is not \"#{target_id}\""
        )));
    }
    let children =
        element_children(reference).ok_or_else(|| signature_structure("text in Reference"))?;
    let names: Vec<&str> = children.iter().map(|c| dsig_name(*c)).collect();
    let (digest_method, digest_value) = match names.as_slice() {
        ["Transforms", "DigestMethod", "DigestValue"] => {
            check_transforms(children[0])?;
            (children[1], children[2])
        }
        ["DigestMethod", "DigestValue"] => (children[0], children[1]),
        _ => {
            return Err(signature_structure(format!(
                "Reference must hold optional Transforms, DigestMethod and DigestValue, not \
                 {names:?}"
            )));
        }
    };
    only_attributes(digest_method, &["Algorithm"])?;
    let algorithm = digest_method.attribute("Algorithm").unwrap_or_default();
    if algorithm != SHA256 {
        return Err(SamlError::DigestAlgorithm(algorithm.to_owned()));
    }
    no_element_children(digest_method, "DigestMethod")?;
    no_element_children(digest_value, "DigestValue")?;
    only_attributes(digest_value, &[])
}

/// Only enveloped-signature and exclusive C14N, each at most once. Checked before the verifier, so an
/// XSLT, XPath or base64 transform is never run.
fn check_transforms(transforms: Node<'_, '_>) -> Result<(), SamlError> {
    only_attributes(transforms, &[])?;
    let children =
        element_children(transforms).ok_or_else(|| signature_structure("text in Transforms"))?;
    if children.is_empty() || children.len() > 2 {
        return Err(SamlError::Transform(format!(
            "{} transforms (1 or 2 expected)",
            children.len()
        )));
    }
    let mut seen = HashSet::new();
    for transform in children {
        if dsig_name(transform) != "Transform" {
            return Err(signature_structure("Transforms may hold only Transform"));
        }
        only_attributes(transform, &["Algorithm"])?;
        let algorithm = transform.attribute("Algorithm").unwrap_or_default();
        match algorithm {
            ENVELOPED => no_element_children(transform, "the enveloped-signature Transform")?,
            EXC_C14N => check_c14n_parameters(transform)?,
            other => return Err(SamlError::Transform(other.to_owned())),
        }
        if !seen.insert(algorithm) {
            return Err(SamlError::Transform(format!("{algorithm} repeated")));
        }
    }
    Ok(())
}

/// Exclusive C14N may carry one `ec:InclusiveNamespaces PrefixList="…"`, nothing else.
fn check_c14n_parameters(node: Node<'_, '_>) -> Result<(), SamlError> {
    let children =
        element_children(node).ok_or_else(|| signature_structure("text in a C14N method"))?;
    match children.as_slice() {
        [] => Ok(()),
        [inclusive] if is(*inclusive, EXC_C14N, "InclusiveNamespaces") => {
            only_attributes(*inclusive, &["PrefixList"])?;
            no_element_children(*inclusive, "InclusiveNamespaces")
        }
        _ => Err(SamlError::Transform(
            "unexpected content in an exclusive C14N method".into(),
        )),
    }
}

/// KeyInfo never supplies a key (only the metadata's keys are loaded), but a verifier could still
/// follow a RetrievalMethod: allow only inline key material.
fn check_key_info(key_info: Node<'_, '_>) -> Result<(), SamlError> {
    only_attributes(key_info, &["Id"])?;
    let children =
        element_children(key_info).ok_or_else(|| signature_structure("text in KeyInfo"))?;
    for child in children {
        if !matches!(dsig_name(child), "X509Data" | "KeyName" | "KeyValue") {
            return Err(signature_structure(format!(
                "KeyInfo may hold only X509Data, KeyName or KeyValue, not {}",
                child.tag_name().name()
            )));
        }
    }
    for node in key_info.descendants().filter(Node::is_element) {
        if node.tag_name().namespace() != Some(NS_DSIG)
            || node.tag_name().name() == "RetrievalMethod"
        {
            return Err(signature_structure(
                "KeyInfo may hold only inline ds: key material",
            ));
        }
        if node.attributes().any(|a| a.name() == "URI") {
            return Err(signature_structure("a URI inside KeyInfo"));
        }
    }
    Ok(())
}

/// Refuses attributes outside `allowed` (namespace declarations are not attributes here).
fn only_attributes(node: Node<'_, '_>, allowed: &[&str]) -> Result<(), SamlError> {
    match node
        .attributes()
        .find(|a| a.namespace().is_some() || !allowed.contains(&a.name()))
    {
        None => Ok(()),
        Some(attribute) => Err(signature_structure(format!(
            "unexpected attribute {} on {}",
            attribute.name(),
            node.tag_name().name()
        ))),
    }
}

fn no_element_children(node: Node<'_, '_>, what: &str) -> Result<(), SamlError> {
    if node.children().any(|c| c.is_element()) {
        Err(signature_structure(format!(
            "{what} must not hold elements"
        )))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
