//! Why a SAML response was refused.
//!
//! [`SamlError`] is detailed on purpose: its `Display` names the failed check and may contain
//! ids, URLs, timestamps and the verifier's own error text, which belong in logs, not in front of the
//! person logging in. The server shows one generic page ([`SamlError::USER_MESSAGE`], or
//! the [`StrategyError`] this converts into) and records [`SamlError::reason`], a short stable
//! code, in the audit log.

use authx_strategy_core::StrategyError;

use crate::xml::XmlError;

/// A refused or failed SAML response. See the module documentation for who sees what.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SamlError {
    /// The base64 `SAMLResponse` is longer than the bound.
    #[error("SAMLResponse is larger than {max} bytes")]
    TooLarge {
        /// The bound, in bytes of base64 text.
        max: usize,
    },
    /// The `SAMLResponse` is not canonical standard base64.
    #[error("SAMLResponse is not valid base64")]
    Base64,
    /// The decoded message is not UTF-8.
    #[error("SAMLResponse is not UTF-8")]
    Utf8,
    /// The strict XML parser refused the message (DOCTYPE, entity, PI, comment, …).
    #[error("SAMLResponse XML refused: {0}")]
    Xml(#[from] XmlError),
    /// The message does not have the expected shape (root, one Assertion, known children, …).
    #[error("SAMLResponse structure refused: {0}")]
    Structure(String),
    /// An `EncryptedAssertion` (or other encrypted content): not supported.
    #[error("encrypted assertions and identifiers are not supported")]
    Encrypted,
    /// `ID` attributes that are missing, duplicated, namespaced or not NCNames.
    #[error("ID attributes refused: {0}")]
    Ids(String),
    /// A `ds:Signature` in a place or with a shape we do not accept.
    #[error("signature structure refused: {0}")]
    SignatureStructure(String),
    /// A signature `Reference` whose URI is not `#` + the ID of the signature's parent.
    #[error("signature reference refused: {0}")]
    ReferenceUri(String),
    /// A `Transform` other than enveloped-signature and exclusive C14N (e.g. XSLT, XPath).
    #[error("signature transform refused: {0}")]
    Transform(String),
    /// A `CanonicalizationMethod` other than exclusive C14N without comments.
    #[error("canonicalization method refused: {0}")]
    Canonicalization(String),
    /// A `SignatureMethod` other than RSA-SHA256 or ECDSA-SHA256.
    #[error("signature algorithm refused: {0}")]
    SignatureAlgorithm(String),
    /// A `DigestMethod` other than SHA-256.
    #[error("digest algorithm refused: {0}")]
    DigestAlgorithm(String),
    /// Neither the Response nor the Assertion carries a signature.
    #[error("neither the response nor the assertion is signed")]
    Unsigned,
    /// A signature did not verify against the IdP's certificates, or covers the wrong element.
    #[error("signature verification failed: {0}")]
    SignatureInvalid(String),
    /// The top-level StatusCode is not Success (e.g. the person cancelled at the IdP).
    #[error("SAML status is not Success: {0}")]
    Status(String),
    /// The Issuer of the Response or Assertion is not the IdP's entity id.
    #[error("issuer {found:?} is not the identity provider {expected}")]
    Issuer {
        /// The IdP entity id from the metadata.
        expected: String,
        /// What the message said.
        found: Option<String>,
    },
    /// No Conditions, or Conditions without an AudienceRestriction.
    #[error("the assertion has no audience restriction")]
    AudienceMissing,
    /// An AudienceRestriction that does not name our entity id.
    #[error("audience restriction {found:?} does not name {expected}")]
    Audience {
        /// Our SP entity id.
        expected: String,
        /// The audiences of the first restriction that failed.
        found: Vec<String>,
    },
    /// A bearer SubjectConfirmationData Recipient that is not our ACS URL.
    #[error("recipient {found:?} is not our ACS URL {expected}")]
    Recipient {
        /// Our ACS URL.
        expected: String,
        /// The Recipient in the assertion.
        found: Option<String>,
    },
    /// The Response Destination is not our ACS URL (or is missing on a signed Response).
    #[error("destination {found:?} is not our ACS URL {expected}")]
    Destination {
        /// Our ACS URL.
        expected: String,
        /// The Destination in the response.
        found: Option<String>,
    },
    /// Past a NotOnOrAfter (Conditions or bearer confirmation) plus the clock skew.
    #[error("the assertion expired at {not_on_or_after} (unix, before skew)")]
    Expired {
        /// The NotOnOrAfter that passed, unix seconds.
        not_on_or_after: i64,
    },
    /// Before a NotBefore minus the clock skew.
    #[error("the assertion is not valid before {not_before} (unix, before skew)")]
    NotYetValid {
        /// The NotBefore, unix seconds.
        not_before: i64,
    },
    /// An IssueInstant later than now plus the clock skew.
    #[error("IssueInstant {issue_instant} (unix) is in the future")]
    IssuedInFuture {
        /// The IssueInstant, unix seconds.
        issue_instant: i64,
    },
    /// An IssueInstant older than the accepted response age plus the clock skew.
    #[error("IssueInstant {issue_instant} (unix) is too old")]
    IssuedTooLongAgo {
        /// The IssueInstant, unix seconds.
        issue_instant: i64,
    },
    /// A timestamp that does not parse as an xs:dateTime.
    #[error("timestamp {0:?} is not a valid xs:dateTime")]
    Timestamp(String),
    /// No usable bearer SubjectConfirmation (missing, or without SubjectConfirmationData or
    /// NotOnOrAfter).
    #[error("subject confirmation refused: {0}")]
    SubjectConfirmation(String),
    /// The Subject has no NameID, or an empty one.
    #[error("the assertion has no NameID")]
    NameIdMissing,
    /// The NameID is transient, or not in the configured format.
    #[error("NameID format {found:?} refused: {why}")]
    NameIdFormat {
        /// The NameID's Format attribute.
        found: Option<String>,
        /// What was expected.
        why: String,
    },
    /// An InResponseTo that is not the request we sent (or missing when we sent one).
    #[error("InResponseTo {found:?} does not match the pending request {expected:?}")]
    InResponseTo {
        /// The request id we issued and stored.
        expected: String,
        /// What the response said.
        found: Option<String>,
    },
    /// An unsolicited (IdP-initiated) response while the authority does not allow them.
    #[error("unsolicited responses are not allowed for this authority")]
    UnsolicitedNotAllowed,
    /// A response without a pending request that nevertheless claims to answer one.
    #[error("an unsolicited response carries InResponseTo {0:?}, which we did not issue")]
    UnsolicitedWithInResponseTo(String),
    /// A local failure (building a request, a bad configuration).
    #[error("internal SAML error: {0}")]
    Internal(String),
}

impl SamlError {
    /// The one text to show the person logging in, whatever went wrong.
    pub const USER_MESSAGE: &'static str =
        "the sign-in response from the identity provider could not be accepted";

    /// A short, stable code for audit logs and metrics, e.g. `signature_invalid`.
    pub fn reason(&self) -> &'static str {
        match self {
            SamlError::TooLarge { .. } => "too_large",
            SamlError::Base64 => "bad_base64",
            SamlError::Utf8 => "bad_utf8",
            SamlError::Xml(XmlError::Doctype) => "xml_doctype",
            SamlError::Xml(XmlError::Entity) => "xml_entity",
            SamlError::Xml(XmlError::ProcessingInstruction) => "xml_processing_instruction",
            SamlError::Xml(XmlError::Comment) => "xml_comment",
            SamlError::Xml(XmlError::CData) => "xml_cdata",
            SamlError::Xml(XmlError::Declaration) => "xml_declaration",
            SamlError::Xml(XmlError::XmlId) => "xml_id",
            SamlError::Xml(XmlError::TooComplex) => "xml_too_complex",
            SamlError::Xml(XmlError::Malformed(_)) => "xml_malformed",
            SamlError::Structure(_) => "structure",
            SamlError::Encrypted => "encrypted_unsupported",
            SamlError::Ids(_) => "bad_ids",
            SamlError::SignatureStructure(_) => "signature_structure",
            SamlError::ReferenceUri(_) => "signature_reference",
            SamlError::Transform(_) => "signature_transform",
            SamlError::Canonicalization(_) => "signature_canonicalization",
            SamlError::SignatureAlgorithm(_) => "signature_algorithm",
            SamlError::DigestAlgorithm(_) => "digest_algorithm",
            SamlError::Unsigned => "unsigned",
            SamlError::SignatureInvalid(_) => "signature_invalid",
            SamlError::Status(_) => "status_not_success",
            SamlError::Issuer { .. } => "issuer_mismatch",
            SamlError::AudienceMissing => "audience_missing",
            SamlError::Audience { .. } => "audience_mismatch",
            SamlError::Recipient { .. } => "recipient_mismatch",
            SamlError::Destination { .. } => "destination_mismatch",
            SamlError::Expired { .. } => "expired",
            SamlError::NotYetValid { .. } => "not_yet_valid",
            SamlError::IssuedInFuture { .. } => "issued_in_future",
            SamlError::IssuedTooLongAgo { .. } => "issued_too_long_ago",
            SamlError::Timestamp(_) => "bad_timestamp",
            SamlError::SubjectConfirmation(_) => "subject_confirmation",
            SamlError::NameIdMissing => "name_id_missing",
            SamlError::NameIdFormat { .. } => "name_id_format",
            SamlError::InResponseTo { .. } => "in_response_to_mismatch",
            SamlError::UnsolicitedNotAllowed => "unsolicited_not_allowed",
            SamlError::UnsolicitedWithInResponseTo(_) => "unsolicited_with_in_response_to",
            SamlError::Internal(_) => "internal",
        }
    }
}

impl From<SamlError> for StrategyError {
    /// The user-safe form: one message for every refusal, the detail stays in the log.
    fn from(error: SamlError) -> Self {
        match error {
            SamlError::Internal(detail) => StrategyError::Internal(detail),
            _ => StrategyError::Upstream(SamlError::USER_MESSAGE.to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_facing_text_hides_detail() {
        let error = SamlError::SignatureInvalid("id-123 at https://idp.example/x".into());
        let shown = StrategyError::from(error.clone()).to_string();
        assert!(!shown.contains("id-123"), "{shown}");
        assert!(!shown.contains("https://"), "{shown}");
        assert_eq!(error.reason(), "signature_invalid");
        assert!(error.to_string().contains("id-123"));
    }
}
