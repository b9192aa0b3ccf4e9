//! Strict XML parsing, shared by the response pre-checker and the metadata reader.
//!
//! Everything SAML hands us is parsed here first with `roxmltree`, never with a recovering parser.
//! `roxmltree` was chosen over `quick-xml` because it is a small, dependency-free, read-only DOM
//! parser that refuses malformed input outright, refuses DTDs by default, resolves namespaces
//! for us (the structural checks are all about "which element in which namespace sits where"),
//! keeps source positions, and bounds the number of nodes; `quick-xml` is a streaming reader that
//! would leave namespace scoping and well-formedness of the whole tree to us.
//!
//! Invariants of a successfully parsed document:
//! - no document type declaration at all (so no internal or external entities: only the five
//!   predefined entities and character references can appear), checked on the raw text *before*
//!   parsing, because `roxmltree` accepts an empty `<!DOCTYPE x>`;
//! - an XML declaration, if any, says version 1.0 and (if it names one) encoding UTF-8 — a parser
//!   used afterwards could otherwise re-decode the bytes in the declared encoding and see a
//!   different document than the one checked here;
//! - no processing instructions anywhere;
//! - for SAML messages ([`Profile::Message`]): no comments and no CDATA sections. Exclusive C14N
//!   drops comments before digesting, so a comment inside a signed value (`user@evil.com<!---->.x`)
//!   changes what a text reader sees without breaking the signature; CDATA is refused so the
//!   two parsers involved (this one and the verifier's uppsala) cannot disagree on
//!   text content. Metadata never reaches the verifier, so comments and CDATA are tolerated
//!   there (real metadata files often carry comments);
//! - no `xml:id` attributes (XML parsers may register them as IDs on their own, which would let
//!   a signature Reference resolve to an element the pre-checker did not consider);
//! - bounded size in nodes and nesting depth.

use roxmltree::{Document, Node, NodeType, ParsingOptions};

/// SAML 2.0 protocol namespace (`samlp:`).
pub(crate) const NS_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
/// SAML 2.0 assertion namespace (`saml:`).
pub(crate) const NS_ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
/// SAML 2.0 metadata namespace (`md:`).
pub(crate) const NS_METADATA: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
/// XML Signature namespace (`ds:`).
pub(crate) const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
/// XML Encryption namespace (`xenc:`).
pub(crate) const NS_XENC: &str = "http://www.w3.org/2001/04/xmlenc#";
/// Exclusive XML canonicalization without comments; also the namespace of `InclusiveNamespaces`.
pub(crate) const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
/// The namespace of the `xml:` prefix.
const NS_XML: &str = "http://www.w3.org/XML/1998/namespace";

/// Which kind of document is parsed: the rules differ only in comments and CDATA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Profile {
    /// A SAML protocol message that will be handed to the signature verifier.
    Message,
    /// IdP metadata, read only by us.
    Metadata,
}

impl Profile {
    fn max_nodes(self) -> u32 {
        match self {
            // A real Response has a few hundred nodes; 256 KiB could hold far more.
            Profile::Message => 20_000,
            Profile::Metadata => 200_000,
        }
    }

    fn max_depth(self) -> usize {
        match self {
            // Response/Assertion/AttributeStatement/Attribute/AttributeValue is depth 5.
            Profile::Message => 32,
            Profile::Metadata => 64,
        }
    }
}

/// Why a document was refused by the strict parser. The texts are for logs.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// A `<!DOCTYPE …>` (internal or external DTD, entity declarations).
    #[error("the XML has a document type declaration")]
    Doctype,
    /// A reference to an entity other than the five predefined ones.
    #[error("the XML references an undeclared entity")]
    Entity,
    /// A processing instruction (`<?target …?>`).
    #[error("the XML contains a processing instruction")]
    ProcessingInstruction,
    /// A comment in a SAML message.
    #[error("the XML contains a comment")]
    Comment,
    /// A CDATA section in a SAML message.
    #[error("the XML contains a CDATA section")]
    CData,
    /// The XML declaration is not version 1.0 in UTF-8.
    #[error("the XML declaration is not version 1.0 in UTF-8")]
    Declaration,
    /// An `xml:id` attribute.
    #[error("the XML uses xml:id attributes")]
    XmlId,
    /// Too many nodes or too deeply nested.
    #[error("the XML is too large or too deeply nested")]
    TooComplex,
    /// Not well-formed (the parser's message, with a position).
    #[error("the XML is not well-formed: {0}")]
    Malformed(String),
}

/// Parses `text` under the strict rules of the module documentation.
pub(crate) fn parse(text: &str, profile: Profile) -> Result<Document<'_>, XmlError> {
    // Raw scans first: the DTD must never reach a parser, and an XML declaration naming another
    // encoding would make libxml2 see different characters.
    if text.contains("<!DOCTYPE") {
        return Err(XmlError::Doctype);
    }
    check_declaration(text)?;
    if profile == Profile::Message && text.contains("<![CDATA[") {
        // Once the parse below succeeds, "<![CDATA[" can only be a CDATA section (a literal `<`
        // is not allowed in text or attribute values, and comments and PIs are refused too).
        return Err(XmlError::CData);
    }

    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: profile.max_nodes(),
        ..ParsingOptions::default()
    };
    let document = Document::parse_with_options(text, options).map_err(|e| match e {
        roxmltree::Error::DtdDetected => XmlError::Doctype,
        roxmltree::Error::UnknownEntityReference(..)
        | roxmltree::Error::EntityReferenceLoop(..) => XmlError::Entity,
        roxmltree::Error::NodesLimitReached
        | roxmltree::Error::AttributesLimitReached
        | roxmltree::Error::NamespacesLimitReached => XmlError::TooComplex,
        other => XmlError::Malformed(other.to_string()),
    })?;

    // Walk with an explicit stack: no recursion on attacker-controlled depth.
    let mut stack: Vec<(Node<'_, '_>, usize)> = vec![(document.root(), 0)];
    while let Some((node, depth)) = stack.pop() {
        if depth > profile.max_depth() {
            return Err(XmlError::TooComplex);
        }
        match node.node_type() {
            NodeType::PI => return Err(XmlError::ProcessingInstruction),
            NodeType::Comment if profile == Profile::Message => return Err(XmlError::Comment),
            NodeType::Element
                if node
                    .attributes()
                    .any(|a| a.namespace() == Some(NS_XML) && a.name() == "id") =>
            {
                return Err(XmlError::XmlId);
            }
            _ => {}
        }
        for child in node.children() {
            stack.push((child, depth + 1));
        }
    }
    Ok(document)
}

/// Checks the XML declaration, if the text starts with one: version 1.0, encoding absent or UTF-8.
fn check_declaration(text: &str) -> Result<(), XmlError> {
    let Some(rest) = text.strip_prefix("<?xml") else {
        return Ok(());
    };
    if !rest.starts_with([' ', '\t', '\r', '\n']) {
        // `<?xml-stylesheet …?>` and friends: a processing instruction, refused later anyway.
        return Ok(());
    }
    let Some(end) = rest.find("?>") else {
        return Err(XmlError::Declaration);
    };
    let declaration = &rest[..end];
    match pseudo_attribute(declaration, "version") {
        Some("1.0") => {}
        _ => return Err(XmlError::Declaration),
    }
    match pseudo_attribute(declaration, "encoding") {
        None => Ok(()),
        Some(encoding) if encoding.eq_ignore_ascii_case("utf-8") => Ok(()),
        Some(_) => Err(XmlError::Declaration),
    }
}

/// The value of `name="…"` (or `'…'`) inside an XML declaration.
fn pseudo_attribute<'a>(declaration: &'a str, name: &str) -> Option<&'a str> {
    let start = declaration.find(name)? + name.len();
    let rest = declaration[start..]
        .trim_start()
        .strip_prefix('=')?
        .trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = &rest[1..];
    value.find(quote).map(|end| &value[..end])
}

/// Whether `node` is the element `{namespace}local`.
pub(crate) fn is(node: Node<'_, '_>, namespace: &str, local: &str) -> bool {
    node.is_element()
        && node.tag_name().name() == local
        && node.tag_name().namespace() == Some(namespace)
}

/// The element children of `node`; any non-whitespace text among them is an error (`None`).
///
/// SAML structure elements (Response, Assertion, Signature, …) hold only elements, so text
/// there is something a different parser might read differently: refuse it.
pub(crate) fn element_children<'a, 'i>(node: Node<'a, 'i>) -> Option<Vec<Node<'a, 'i>>> {
    let mut out = Vec::new();
    for child in node.children() {
        match child.node_type() {
            NodeType::Element => out.push(child),
            NodeType::Text if !child.text().unwrap_or_default().trim().is_empty() => return None,
            _ => {}
        }
    }
    Some(out)
}

/// `text` escaped for an XML attribute value or text content (the five predefined entities), so
/// the documents we write (requests, our metadata) carry configured values as data only.
pub(crate) fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(text: &str) -> Result<(), XmlError> {
        parse(text, Profile::Message).map(|_| ())
    }

    #[test]
    fn accepts_plain_documents() {
        assert_eq!(message("<a><b x='1'>t &amp; &#x41;</b></a>"), Ok(()));
        assert_eq!(
            message("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<a/>"),
            Ok(())
        );
        assert_eq!(message("<?xml version='1.0'?><a/>"), Ok(()));
    }

    #[test]
    fn refuses_doctype_even_empty() {
        assert_eq!(message("<!DOCTYPE a><a/>"), Err(XmlError::Doctype));
        assert_eq!(
            message("<!DOCTYPE a [<!ENTITY e 'x'>]><a>&e;</a>"),
            Err(XmlError::Doctype)
        );
        assert_eq!(
            message("<!DOCTYPE a SYSTEM \"file:///etc/passwd\"><a/>"),
            Err(XmlError::Doctype)
        );
        assert_eq!(
            parse("<!DOCTYPE a><a/>", Profile::Metadata).map(|_| ()),
            Err(XmlError::Doctype)
        );
    }

    #[test]
    fn refuses_unknown_entities() {
        assert_eq!(message("<a>&lol;</a>"), Err(XmlError::Entity));
    }

    #[test]
    fn refuses_processing_instructions_comments_cdata() {
        assert_eq!(
            message("<a><?php echo 1; ?></a>"),
            Err(XmlError::ProcessingInstruction)
        );
        assert_eq!(
            message("<?xml-stylesheet href='x'?><a/>"),
            Err(XmlError::ProcessingInstruction)
        );
        assert_eq!(message("<a>x<!---->y</a>"), Err(XmlError::Comment));
        assert_eq!(message("<a><![CDATA[x]]></a>"), Err(XmlError::CData));
        // Metadata may carry comments.
        assert!(parse("<a><!-- note --></a>", Profile::Metadata).is_ok());
        assert_eq!(
            parse("<a><?pi x?></a>", Profile::Metadata).map(|_| ()),
            Err(XmlError::ProcessingInstruction)
        );
    }

    #[test]
    fn refuses_other_encodings_and_versions() {
        assert_eq!(
            message("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a/>"),
            Err(XmlError::Declaration)
        );
        assert_eq!(
            message("<?xml version=\"1.1\"?><a/>"),
            Err(XmlError::Declaration)
        );
    }

    #[test]
    fn refuses_malformed_and_trailing_content() {
        assert!(matches!(message("<a><b></a>"), Err(XmlError::Malformed(_))));
        assert!(matches!(
            message("<a/>trailing"),
            Err(XmlError::Malformed(_))
        ));
        assert!(matches!(message("<a/><b/>"), Err(XmlError::Malformed(_))));
        assert!(matches!(message(""), Err(XmlError::Malformed(_))));
        assert!(matches!(message("<a x='<'/>"), Err(XmlError::Malformed(_))));
    }

    #[test]
    fn refuses_xml_id_and_deep_nesting() {
        assert_eq!(message("<a xml:id='x'/>"), Err(XmlError::XmlId));
        let deep = format!("{}{}", "<a>".repeat(40), "</a>".repeat(40));
        assert_eq!(message(&deep), Err(XmlError::TooComplex));
        assert!(parse(&deep, Profile::Metadata).is_ok());
    }

    #[test]
    fn element_children_refuse_text() {
        let doc = parse("<a> <b/>\n<c/> </a>", Profile::Message).unwrap();
        assert_eq!(element_children(doc.root_element()).unwrap().len(), 2);
        let doc = parse("<a><b/>x</a>", Profile::Message).unwrap();
        assert!(element_children(doc.root_element()).is_none());
    }

    #[test]
    fn escape_keeps_values_as_data() {
        let value = r#"a"b'<c>&d"#;
        let document = format!("<x v=\"{}\">{}</x>", escape(value), escape(value));
        let doc = parse(&document, Profile::Message).unwrap();
        assert_eq!(doc.root_element().attribute("v"), Some(value));
        assert_eq!(doc.root_element().text(), Some(value));
    }
}
