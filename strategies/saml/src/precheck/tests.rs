//! The pre-checker on hand-written XML: a well-formed template, then one defect at a time.

use super::*;
use crate::xml::XmlError;

const RESPONSE_SIGNATURE: &str = "<!--response signature-->";
const ASSERTION_SIGNATURE: &str = "<!--assertion signature-->";

fn signature(id: &str) -> String {
    format!(
        r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Id="s-{id}"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#{id}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"><ec:InclusiveNamespaces xmlns:ec="http://www.w3.org/2001/10/xml-exc-c14n#" PrefixList="xs"/></ds:Transform></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue>AAAA</ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue>AAAA</ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>AAAA</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>"##
    )
}

/// A structurally valid response with placeholders where the signatures go.
const TEMPLATE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="r1" Version="2.0" IssueInstant="2030-01-01T00:00:00Z" Destination="https://sp.example/acs" InResponseTo="_req">
  <saml:Issuer>https://idp.example</saml:Issuer>
  <!--response signature-->
  <samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>
  <saml:Assertion ID="a1" Version="2.0" IssueInstant="2030-01-01T00:00:00Z">
    <saml:Issuer>https://idp.example</saml:Issuer>
    <!--assertion signature-->
    <saml:Subject>
      <saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">user-1</saml:NameID>
      <saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="2030-01-01T00:05:00Z" Recipient="https://sp.example/acs" InResponseTo="_req"/></saml:SubjectConfirmation>
    </saml:Subject>
    <saml:Conditions NotBefore="2030-01-01T00:00:00Z" NotOnOrAfter="2030-01-01T00:05:00Z"><saml:AudienceRestriction><saml:Audience>https://sp.example</saml:Audience></saml:AudienceRestriction><saml:OneTimeUse/></saml:Conditions>
    <saml:AuthnStatement AuthnInstant="2030-01-01T00:00:00Z"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:Password</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>
    <saml:AttributeStatement><saml:Attribute Name="email"><saml:AttributeValue>ada@example.com</saml:AttributeValue></saml:Attribute></saml:AttributeStatement>
  </saml:Assertion>
</samlp:Response>"#;

fn signed(response: bool, assertion: bool) -> String {
    TEMPLATE
        .replace(
            RESPONSE_SIGNATURE,
            &if response {
                signature("r1")
            } else {
                String::new()
            },
        )
        .replace(
            ASSERTION_SIGNATURE,
            &if assertion {
                signature("a1")
            } else {
                String::new()
            },
        )
}

/// Both signed, then `from` replaced by `to` (which must occur).
fn with(from: &str, to: &str) -> String {
    let xml = signed(true, true);
    assert!(xml.contains(from), "template lacks {from:?}");
    xml.replacen(from, to, 1)
}

#[test]
fn accepts_the_template_signed_either_way() {
    let both = precheck(&signed(true, true)).unwrap();
    assert_eq!(both.assertion_id, "a1");
    assert!(both.response_signed);
    assert_eq!(both.destination.as_deref(), Some("https://sp.example/acs"));
    assert_eq!(both.in_response_to.as_deref(), Some("_req"));
    assert_eq!(both.issuer.as_deref(), Some("https://idp.example"));
    assert_eq!(both.issue_instant, "2030-01-01T00:00:00Z");

    let response_only = precheck(&signed(true, false)).unwrap();
    assert!(response_only.response_signed);
    let assertion_only = precheck(&signed(false, true)).unwrap();
    assert!(!assertion_only.response_signed);
}

#[test]
fn refuses_unsigned() {
    assert_eq!(precheck(&signed(false, false)), Err(SamlError::Unsigned));
}

#[test]
fn refuses_other_roots() {
    let xml = r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="a1" Version="2.0" IssueInstant="2030-01-01T00:00:00Z"/>"#;
    assert!(matches!(precheck(xml), Err(SamlError::Structure(_))));
    // The right local name in the wrong namespace.
    let xml = with(
        "xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\"",
        "xmlns:samlp=\"urn:example:evil\"",
    );
    assert!(matches!(precheck(&xml), Err(SamlError::Structure(_))));
}

#[test]
fn refuses_xml_tricks() {
    let doctype = signed(true, true).replacen(
        "<samlp:Response",
        "<!DOCTYPE r [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><samlp:Response",
        1,
    );
    assert_eq!(precheck(&doctype), Err(SamlError::Xml(XmlError::Doctype)));
    let entity = with("user-1", "&e;");
    assert_eq!(precheck(&entity), Err(SamlError::Xml(XmlError::Entity)));
    let comment = with("user-1", "user-1<!---->.evil.example");
    assert_eq!(precheck(&comment), Err(SamlError::Xml(XmlError::Comment)));
    let pi = with(
        "<saml:Subject>",
        "<?xml-stylesheet href=\"x\"?><saml:Subject>",
    );
    assert_eq!(
        precheck(&pi),
        Err(SamlError::Xml(XmlError::ProcessingInstruction))
    );
    let cdata = with("user-1", "<![CDATA[user-1]]>");
    assert_eq!(precheck(&cdata), Err(SamlError::Xml(XmlError::CData)));
    let trailing = format!("{}<x/>", signed(true, true));
    assert!(matches!(
        precheck(&trailing),
        Err(SamlError::Xml(XmlError::Malformed(_)))
    ));
    let unclosed = signed(true, true).replace("</samlp:Response>", "");
    assert!(matches!(
        precheck(&unclosed),
        Err(SamlError::Xml(XmlError::Malformed(_)))
    ));
    let latin1 = with("encoding=\"UTF-8\"", "encoding=\"ISO-8859-1\"");
    assert_eq!(
        precheck(&latin1),
        Err(SamlError::Xml(XmlError::Declaration))
    );
    let xinclude = with(
        "ada@example.com",
        "<xi:include xmlns:xi=\"http://www.w3.org/2001/XInclude\" href=\"file:///etc/passwd\" parse=\"text\"/>",
    );
    assert!(matches!(precheck(&xinclude), Err(SamlError::Structure(_))));
    let xml_id = with("<saml:Subject>", "<saml:Subject xml:id=\"a1x\">");
    assert_eq!(precheck(&xml_id), Err(SamlError::Xml(XmlError::XmlId)));
}

#[test]
fn refuses_bad_ids() {
    let duplicate = with("ID=\"a1\"", "ID=\"r1\"");
    assert!(matches!(precheck(&duplicate), Err(SamlError::Ids(_))));
    let namespaced = with("<saml:Subject>", "<saml:Subject saml:ID=\"x1\">");
    assert!(matches!(precheck(&namespaced), Err(SamlError::Ids(_))));
    let not_ncname = signed(true, true).replace("a1", "xpointer(/)");
    assert!(matches!(precheck(&not_ncname), Err(SamlError::Ids(_))));
    let missing = with(" ID=\"a1\"", "");
    assert!(matches!(precheck(&missing), Err(SamlError::Ids(_))));
    // An extra, harmless-looking ID elsewhere must still be unique.
    let extra = with("<saml:Subject>", "<saml:Subject ID=\"a1\">");
    assert!(matches!(precheck(&extra), Err(SamlError::Ids(_))));
}

#[test]
fn refuses_status_other_than_success() {
    let failed = with(
        "urn:oasis:names:tc:SAML:2.0:status:Success",
        "urn:oasis:names:tc:SAML:2.0:status:Responder",
    );
    assert_eq!(
        precheck(&failed),
        Err(SamlError::Status(
            "urn:oasis:names:tc:SAML:2.0:status:Responder".into()
        ))
    );
}

#[test]
fn refuses_encrypted_content() {
    let encrypted = with(
        "<samlp:Status>",
        "<saml:EncryptedAssertion><xenc:EncryptedData xmlns:xenc=\"http://www.w3.org/2001/04/xmlenc#\"/></saml:EncryptedAssertion><samlp:Status>",
    );
    assert_eq!(precheck(&encrypted), Err(SamlError::Encrypted));
    let encrypted_id = with(
        "<saml:NameID Format=\"urn:oasis:names:tc:SAML:2.0:nameid-format:persistent\">user-1</saml:NameID>",
        "<saml:EncryptedID/>",
    );
    assert_eq!(precheck(&encrypted_id), Err(SamlError::Encrypted));
}

#[test]
fn refuses_signature_wrapping_shapes() {
    let second_assertion = r#"<saml:Assertion ID="evil" Version="2.0" IssueInstant="2030-01-01T00:00:00Z"><saml:Issuer>https://idp.example</saml:Issuer><saml:Subject><saml:NameID>admin</saml:NameID></saml:Subject></saml:Assertion></samlp:Response>"#;
    let two = with("</samlp:Response>", second_assertion);
    assert!(matches!(precheck(&two), Err(SamlError::Structure(_))));

    // The signed assertion moved into Extensions, an evil one in its place: two assertions.
    let xml = signed(true, true);
    let start = xml.find("<saml:Assertion").unwrap();
    let end = xml.find("</saml:Assertion>").unwrap() + "</saml:Assertion>".len();
    let original = &xml[start..end];
    let evil = original
        .replace("user-1", "admin")
        .replace("ID=\"a1\"", "ID=\"a2\"");
    let wrapped = format!("{}{}{}", &xml[..start], evil, &xml[end..]).replace(
        "<samlp:Status>",
        &format!("<samlp:Extensions>{original}</samlp:Extensions><samlp:Status>"),
    );
    // (The copied signature's Id repeats, which alone refuses it too.)
    assert!(matches!(
        precheck(&wrapped),
        Err(SamlError::Structure(_) | SamlError::Ids(_))
    ));

    // Only the wrapped original left: one assertion, but not where it belongs.
    let moved = format!("{}{}", &xml[..start], &xml[end..]).replace(
        "<samlp:Status>",
        &format!("<samlp:Extensions>{original}</samlp:Extensions><samlp:Status>"),
    );
    assert!(matches!(precheck(&moved), Err(SamlError::Structure(_))));

    // An unknown element in the Response (e.g. a wrapper).
    let wrapper = with("<samlp:Status>", "<evil xmlns=\"urn:x\"/><samlp:Status>");
    assert!(matches!(precheck(&wrapper), Err(SamlError::Structure(_))));
}

#[test]
fn every_id_attribute_the_verifier_resolves_is_unique() {
    // `Id`, `id` and `AssertionID` resolve `#…` references too: one equal to the Assertion's ID
    // would make `#a1` ambiguous.
    for name in ["Id", "id", "AssertionID"] {
        let xml = with(
            "<saml:AuthnStatement ",
            &format!("<saml:AuthnStatement {name}=\"a1\" "),
        );
        assert!(
            matches!(precheck(&xml), Err(SamlError::Ids(_))),
            "{name}: {:?}",
            precheck(&xml)
        );
    }
}

#[test]
fn refuses_misplaced_or_doubled_signatures() {
    let in_subject = signed(true, false).replace(
        "<saml:Subject>",
        &format!("<saml:Subject>{}", signature("a1")),
    );
    assert!(matches!(
        precheck(&in_subject),
        Err(SamlError::Structure(_)) | Err(SamlError::SignatureStructure(_))
    ));
    let in_extensions = signed(false, true).replace(
        "<samlp:Status>",
        &format!(
            "<samlp:Extensions>{}</samlp:Extensions><samlp:Status>",
            signature("r1")
        ),
    );
    assert!(matches!(
        precheck(&in_extensions),
        Err(SamlError::SignatureStructure(_))
    ));
    let doubled = signed(true, true).replace(
        "<samlp:Status>",
        &format!("{}<samlp:Status>", signature("r1")),
    );
    assert!(matches!(
        precheck(&doubled),
        Err(SamlError::Structure(_) | SamlError::Ids(_))
    ));
    // With distinct Ids the count alone refuses it.
    let doubled = signed(true, true).replace(
        "<samlp:Status>",
        &format!(
            "{}<samlp:Status>",
            signature("r1").replace("Id=\"s-r1\"", "Id=\"s-r2\"")
        ),
    );
    assert!(matches!(precheck(&doubled), Err(SamlError::Structure(_))));
}

#[test]
fn refuses_references_other_than_the_parent() {
    for uri in [
        "",
        "#a1",
        "#xpointer(/)",
        "http://127.0.0.1:9/x",
        "file:///dev/zero",
        "#r1 ",
    ] {
        let xml = with("URI=\"#r1\"", &format!("URI=\"{uri}\""));
        assert!(
            matches!(precheck(&xml), Err(SamlError::ReferenceUri(_))),
            "{uri:?}"
        );
    }
    let missing = with("<ds:Reference URI=\"#r1\">", "<ds:Reference>");
    assert!(matches!(
        precheck(&missing),
        Err(SamlError::ReferenceUri(_))
    ));
    let two_references = {
        let xml = signed(true, false);
        let start = xml.find("<ds:Reference").unwrap();
        let end = xml.find("</ds:Reference>").unwrap() + "</ds:Reference>".len();
        let reference = xml[start..end].to_owned();
        xml.replacen(&reference, &format!("{reference}{reference}"), 1)
    };
    assert!(matches!(
        precheck(&two_references),
        Err(SamlError::SignatureStructure(_))
    ));
}

#[test]
fn refuses_transforms_other_than_enveloped_and_exclusive_c14n() {
    let xslt = with(
        "<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>",
        r#"<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xslt-19991116"><xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="1.0"><xsl:template match="/"><xsl:value-of select="document('http://127.0.0.1:9/x')"/></xsl:template></xsl:stylesheet></ds:Transform>"#,
    );
    assert!(matches!(precheck(&xslt), Err(SamlError::Transform(_))));
    let xpath = with(
        "<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>",
        r#"<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116"><ds:XPath>1</ds:XPath></ds:Transform>"#,
    );
    assert!(matches!(precheck(&xpath), Err(SamlError::Transform(_))));
    let repeated = with(
        "<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>",
        "<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/><ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>",
    );
    assert!(matches!(precheck(&repeated), Err(SamlError::Transform(_))));
    let odd_parameter = with(
        "<ec:InclusiveNamespaces",
        "<ds:XPath>1</ds:XPath><ec:InclusiveNamespaces",
    );
    assert!(matches!(
        precheck(&odd_parameter),
        Err(SamlError::Transform(_))
    ));
}

#[test]
fn refuses_other_algorithms() {
    let with_comments = with(
        "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>",
        "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#WithComments\"/>",
    );
    assert!(matches!(
        precheck(&with_comments),
        Err(SamlError::Canonicalization(_))
    ));
    let inclusive = with(
        "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>",
        "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/TR/2001/REC-xml-c14n-20010315\"/>",
    );
    assert!(matches!(
        precheck(&inclusive),
        Err(SamlError::Canonicalization(_))
    ));
    let sha1 = with(
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
    );
    assert!(matches!(
        precheck(&sha1),
        Err(SamlError::SignatureAlgorithm(_))
    ));
    let hmac = with(
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256\"/>",
        "http://www.w3.org/2000/09/xmldsig#hmac-sha1\"><ds:HMACOutputLength>8</ds:HMACOutputLength></ds:SignatureMethod>",
    );
    assert!(matches!(
        precheck(&hmac),
        Err(SamlError::SignatureAlgorithm(_))
    ));
    let digest_sha1 = with(
        "http://www.w3.org/2001/04/xmlenc#sha256",
        "http://www.w3.org/2000/09/xmldsig#sha1",
    );
    assert!(matches!(
        precheck(&digest_sha1),
        Err(SamlError::DigestAlgorithm(_))
    ));
}

#[test]
fn refuses_odd_signature_content() {
    let object = with(
        "</ds:KeyInfo>",
        "</ds:KeyInfo><ds:Object><ds:Manifest/></ds:Object>",
    );
    assert!(matches!(
        precheck(&object),
        Err(SamlError::SignatureStructure(_))
    ));
    let retrieval = with(
        "<ds:X509Data>",
        "<ds:RetrievalMethod URI=\"http://127.0.0.1:9/key\"/><ds:X509Data>",
    );
    assert!(matches!(
        precheck(&retrieval),
        Err(SamlError::SignatureStructure(_))
    ));
    let foreign = with(
        "<ds:X509Certificate>AAAA</ds:X509Certificate>",
        "<ds:X509Certificate>AAAA</ds:X509Certificate><x:y xmlns:x=\"urn:x\"/>",
    );
    assert!(matches!(
        precheck(&foreign),
        Err(SamlError::SignatureStructure(_))
    ));
    let text = with("<ds:SignedInfo>", "text<ds:SignedInfo>");
    assert!(matches!(
        precheck(&text),
        Err(SamlError::SignatureStructure(_))
    ));
    let attribute = with("<ds:Reference URI", "<ds:Reference Evil=\"1\" URI");
    assert!(matches!(
        precheck(&attribute),
        Err(SamlError::SignatureStructure(_))
    ));
}

#[test]
fn refuses_odd_assertion_content() {
    let no_name_id = with(
        "<saml:NameID Format=\"urn:oasis:names:tc:SAML:2.0:nameid-format:persistent\">user-1</saml:NameID>",
        "",
    );
    assert_eq!(precheck(&no_name_id), Err(SamlError::NameIdMissing));
    let two_name_ids = with(
        "</saml:NameID>",
        "</saml:NameID><saml:NameID>admin</saml:NameID>",
    );
    assert!(matches!(
        precheck(&two_name_ids),
        Err(SamlError::Structure(_))
    ));
    let advice = with("<saml:Conditions", "<saml:Advice/><saml:Conditions");
    assert!(matches!(precheck(&advice), Err(SamlError::Structure(_))));
    let unknown_condition = with("<saml:OneTimeUse/>", "<saml:Condition/>");
    assert!(matches!(
        precheck(&unknown_condition),
        Err(SamlError::Structure(_))
    ));
    let two_issuers = with(
        "<saml:Subject>",
        "<saml:Issuer>https://evil.example</saml:Issuer><saml:Subject>",
    );
    assert!(matches!(
        precheck(&two_issuers),
        Err(SamlError::Structure(_))
    ));
    let text = with("<saml:Subject>", "x<saml:Subject>");
    assert!(matches!(precheck(&text), Err(SamlError::Structure(_))));
    let old_version = with("ID=\"a1\" Version=\"2.0\"", "ID=\"a1\" Version=\"1.1\"");
    assert!(matches!(
        precheck(&old_version),
        Err(SamlError::Structure(_))
    ));
}

#[test]
fn values_read_as_text_hold_no_markup() {
    for (from, to) in [
        (
            ">user-1</saml:NameID>",
            ">user-1<saml:X/>.evil</saml:NameID>",
        ),
        (
            "<saml:Issuer>https://idp.example</saml:Issuer>",
            "<saml:Issuer>https://idp.example<saml:X/></saml:Issuer>",
        ),
        (
            ">https://sp.example</saml:Audience>",
            ">https://sp.example<saml:X/></saml:Audience>",
        ),
    ] {
        let xml = with(from, to);
        assert!(
            matches!(precheck(&xml), Err(SamlError::Structure(ref m)) if m.starts_with("markup inside")),
            "{to}: {:?}",
            precheck(&xml)
        );
    }
}
