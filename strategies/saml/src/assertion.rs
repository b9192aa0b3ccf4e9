//! The parts of the one Assertion we act on, read from the very document the pre-check walked.
//!
//! One parser (the strict one of the private `xml` module) reads the message for the structural
//! rules, for the signature targets and for these values, so no second parser can see a
//! different NameID or audience than the one checked. The pre-check has already made sure that
//! each part below occurs at most as often as SAML allows; what is only read here (times,
//! recipients, attributes) is checked by `response` after the signatures verified.

use roxmltree::Node;

use crate::SamlError;
use crate::xml::{NS_ASSERTION, is};

/// The Assertion as read: nothing here is trusted before `signature` verified it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Assertion {
    /// `@ID`.
    pub id: String,
    /// `@IssueInstant`, unix seconds.
    pub issue_instant: i64,
    /// The `Issuer` text, trimmed.
    pub issuer: Option<String>,
    /// `Conditions`, if present.
    pub conditions: Option<Conditions>,
    /// `Subject/NameID`.
    pub name_id: Option<NameId>,
    /// `Subject/SubjectConfirmation`, in document order.
    pub confirmations: Vec<Confirmation>,
    /// Every `AttributeStatement/Attribute`, in document order.
    pub attributes: Vec<Attribute>,
}

/// `Conditions`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Conditions {
    /// `@NotBefore`, unix seconds.
    pub not_before: Option<i64>,
    /// `@NotOnOrAfter`, unix seconds.
    pub not_on_or_after: Option<i64>,
    /// One entry per `AudienceRestriction`: its `Audience` values, trimmed.
    pub audience_restrictions: Vec<Vec<String>>,
}

/// `Subject/NameID`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct NameId {
    /// The text, trimmed.
    pub value: String,
    /// `@Format`.
    pub format: Option<String>,
}

/// One `SubjectConfirmation`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Confirmation {
    /// `@Method`.
    pub method: Option<String>,
    /// `SubjectConfirmationData`, if present.
    pub data: Option<ConfirmationData>,
}

/// `SubjectConfirmationData`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ConfirmationData {
    /// `@NotBefore`, unix seconds.
    pub not_before: Option<i64>,
    /// `@NotOnOrAfter`, unix seconds.
    pub not_on_or_after: Option<i64>,
    /// `@Recipient`.
    pub recipient: Option<String>,
    /// `@InResponseTo`.
    pub in_response_to: Option<String>,
}

/// One `Attribute`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Attribute {
    /// `@Name`.
    pub name: Option<String>,
    /// `@FriendlyName`.
    pub friendly_name: Option<String>,
    /// The text of each `AttributeValue`.
    pub values: Vec<String>,
}

/// Reads a pre-checked `saml:Assertion` element.
pub(crate) fn read(assertion: Node<'_, '_>) -> Result<Assertion, SamlError> {
    let mut read = Assertion {
        id: assertion.attribute("ID").unwrap_or_default().to_owned(),
        issue_instant: instant(assertion.attribute("IssueInstant").unwrap_or_default())?,
        ..Assertion::default()
    };
    for child in assertion.children().filter(Node::is_element) {
        if is(child, NS_ASSERTION, "Issuer") {
            read.issuer = Some(text(child));
        } else if is(child, NS_ASSERTION, "Conditions") {
            read.conditions = Some(Conditions {
                not_before: optional_instant(child, "NotBefore")?,
                not_on_or_after: optional_instant(child, "NotOnOrAfter")?,
                audience_restrictions: children(child, "AudienceRestriction")
                    .map(|r| children(r, "Audience").map(text).collect())
                    .collect(),
            });
        } else if is(child, NS_ASSERTION, "Subject") {
            read.name_id = children(child, "NameID").next().map(|n| NameId {
                value: text(n),
                format: n.attribute("Format").map(str::to_owned),
            });
            for confirmation in children(child, "SubjectConfirmation") {
                let data = match children(confirmation, "SubjectConfirmationData").next() {
                    Some(data) => Some(ConfirmationData {
                        not_before: optional_instant(data, "NotBefore")?,
                        not_on_or_after: optional_instant(data, "NotOnOrAfter")?,
                        recipient: data.attribute("Recipient").map(str::to_owned),
                        in_response_to: data.attribute("InResponseTo").map(str::to_owned),
                    }),
                    None => None,
                };
                read.confirmations.push(Confirmation {
                    method: confirmation.attribute("Method").map(str::to_owned),
                    data,
                });
            }
        } else if is(child, NS_ASSERTION, "AttributeStatement") {
            read.attributes
                .extend(children(child, "Attribute").map(|attribute| {
                    Attribute {
                        name: attribute.attribute("Name").map(str::to_owned),
                        friendly_name: attribute.attribute("FriendlyName").map(str::to_owned),
                        values: children(attribute, "AttributeValue")
                            .map(|v| v.text().unwrap_or_default().to_owned())
                            .collect(),
                    }
                }));
        }
    }
    Ok(read)
}

/// The `saml:` element children of `node` named `name`.
fn children<'a, 'i>(node: Node<'a, 'i>, name: &'static str) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children().filter(move |c| is(*c, NS_ASSERTION, name))
}

/// An element's text, trimmed. The pre-check refuses markup inside NameID, Issuer and Audience;
/// an AttributeValue holding elements has no text value (never the part before the markup).
fn text(node: Node<'_, '_>) -> String {
    if node.children().any(|c| c.is_element()) {
        return String::new();
    }
    node.text().unwrap_or_default().trim().to_owned()
}

fn optional_instant(node: Node<'_, '_>, attribute: &str) -> Result<Option<i64>, SamlError> {
    node.attribute(attribute).map(instant).transpose()
}

/// An xs:dateTime (SAML requires UTC) as unix seconds.
pub(crate) fn instant(text: &str) -> Result<i64, SamlError> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.timestamp())
        .map_err(|_| SamlError::Timestamp(text.to_owned()))
}
