//! The `details` of a `saml` authority: validation, normalisation and typed access.
//!
//! Keys (the admin API's names, unchanged): exactly one of `idp_metadata_xml` (pasted metadata,
//! parsed here and refused if it yields no signing certificate) or `idp_metadata_url` (https, or
//! http on a loopback host for local test IdPs); `sp_entity_id` (required); optional
//! `name_id_format`, `email_attribute`, `given_name_attribute`, `family_name_attribute`;
//! `match_users_by_email`, `creates_users`, `allow_idp_initiated`, `trust_email` (booleans, default
//! false);
//! `role_ids` (slugs, default `[]`); `allowed_clock_skew_secs` (0..=600, default 120);
//! `sign_requests` (boolean, default false: sign AuthnRequests even when the IdP's metadata does
//! not ask for it). Unknown keys are errors naming `details.<key>`. Validation returns the
//! normalised object with the defaults filled in, so what is stored says what is in force.
//!
//! `sp_signing_key` is the SP's own signing key (see [`crate::sp_key`]). The server generates it
//! and keeps it sealed: it is [`SAML_SECRET_FIELDS`], removed by redaction, and the admin API
//! refuses it as input ([`SamlStrategy::refuse_submitted_key`]). Validation only checks that a
//! stored one is an RSA key.
//!
//! A transient `name_id_format` is refused: a transient NameID changes at every login, so it
//! cannot be the stable `authority_user_id` a credential is keyed on.

use authx_strategy_core::{DetailsRules, StrategyError, details};
use serde_json::{Map, Value};

use crate::metadata::{IdentityProvider, MAX_METADATA_BYTES, is_acceptable_url};
use crate::sp_key::SpKey;

/// Default allowed clock skew between us and the IdP, in seconds.
pub const DEFAULT_CLOCK_SKEW_SECS: u64 = 120;
/// Largest configurable clock skew, in seconds.
pub const MAX_CLOCK_SKEW_SECS: u64 = 600;
/// The transient NameID format, which cannot identify a returning user.
pub const NAMEID_FORMAT_TRANSIENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";

const KNOWN: &[&str] = &[
    "idp_metadata_xml",
    "idp_metadata_url",
    "sp_entity_id",
    "name_id_format",
    "email_attribute",
    "given_name_attribute",
    "family_name_attribute",
    "match_users_by_email",
    "creates_users",
    "role_ids",
    "allowed_clock_skew_secs",
    "allow_idp_initiated",
    "trust_email",
    "sign_requests",
    SP_SIGNING_KEY,
];

/// The member holding the SP signing key.
pub const SP_SIGNING_KEY: &str = "sp_signing_key";
/// The secret members of a `saml` authority's details, which the store seals.
pub const SAML_SECRET_FIELDS: &[&str] = &[SP_SIGNING_KEY];

/// Where the IdP metadata comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetadataSource {
    /// Metadata pasted by the administrator (already checked to yield a signing certificate).
    Xml(String),
    /// An URL the server fetches (and re-checks) the metadata from.
    Url(String),
}

/// The validated details of a `saml` authority.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SamlDetails {
    /// The IdP metadata, pasted or by URL.
    pub metadata: MetadataSource,
    /// Our SP entity id at this IdP (the Audience the IdP must name).
    pub sp_entity_id: String,
    /// The NameID format to request and require, if any.
    pub name_id_format: Option<String>,
    /// The attribute (Name, else FriendlyName) carrying the email address.
    pub email_attribute: Option<String>,
    /// The attribute carrying the given name.
    pub given_name_attribute: Option<String>,
    /// The attribute carrying the family name.
    pub family_name_attribute: Option<String>,
    /// Link to an existing user with the same (IdP-asserted) email address.
    pub match_users_by_email: bool,
    /// Create a user on first login.
    pub creates_users: bool,
    /// Roles given to users this authority creates.
    pub role_ids: Vec<String>,
    /// Allowed clock skew, seconds.
    pub allowed_clock_skew_secs: u64,
    /// Accept unsolicited (IdP-initiated) responses.
    pub allow_idp_initiated: bool,
    /// The IdP vouches for the email addresses it sends: only then is an address from it
    /// verified, so that it can link to an existing user or count as `email_verified`.
    pub trust_email: bool,
    /// Sign AuthnRequests even when the IdP's metadata does not ask for it.
    pub sign_requests: bool,
    /// The SP's signing key, once the server has generated it.
    pub sp_signing_key: Option<SpKey>,
}

impl SamlDetails {
    /// Validates `details` (see the module documentation). `null` counts as `{}`.
    pub fn from_details(details: &Value) -> Result<Self, StrategyError> {
        let map = details::object(details, KNOWN)?;

        let xml = optional_string(&map, "idp_metadata_xml", MAX_METADATA_BYTES)?;
        let url = optional_string(&map, "idp_metadata_url", 2000)?;
        let metadata = match (xml, url) {
            (Some(_), Some(_)) => {
                return Err(StrategyError::invalid_detail(
                    "idp_metadata_url",
                    "give either idp_metadata_xml or idp_metadata_url, not both",
                ));
            }
            (None, None) => {
                return Err(StrategyError::invalid_detail(
                    "idp_metadata_xml",
                    "one of idp_metadata_xml or idp_metadata_url is required",
                ));
            }
            (Some(xml), None) => {
                IdentityProvider::from_metadata_xml(&xml).map_err(|e| {
                    StrategyError::invalid_detail("idp_metadata_xml", e.to_string())
                })?;
                MetadataSource::Xml(xml)
            }
            (None, Some(url)) => {
                if !is_acceptable_url(&url) {
                    return Err(StrategyError::invalid_detail(
                        "idp_metadata_url",
                        "must be an absolute https URL (http only for 127.0.0.1, ::1 or localhost)",
                    ));
                }
                MetadataSource::Url(url)
            }
        };

        let sp_entity_id = optional_string(&map, "sp_entity_id", 1024)?
            .ok_or_else(|| StrategyError::invalid_detail("sp_entity_id", "is required"))?;
        if sp_entity_id.trim() != sp_entity_id {
            return Err(StrategyError::invalid_detail(
                "sp_entity_id",
                "must not start or end with white space",
            ));
        }

        let name_id_format = optional_string(&map, "name_id_format", 256)?;
        if let Some(format) = &name_id_format {
            if format.contains(char::is_whitespace) {
                return Err(StrategyError::invalid_detail(
                    "name_id_format",
                    "must be a URI without white space",
                ));
            }
            if format == NAMEID_FORMAT_TRANSIENT {
                return Err(StrategyError::invalid_detail(
                    "name_id_format",
                    "transient NameIDs change at every login and cannot identify a user",
                ));
            }
        }

        Ok(Self {
            metadata,
            sp_entity_id,
            name_id_format,
            email_attribute: optional_string(&map, "email_attribute", 256)?,
            given_name_attribute: optional_string(&map, "given_name_attribute", 256)?,
            family_name_attribute: optional_string(&map, "family_name_attribute", 256)?,
            match_users_by_email: boolean(&map, "match_users_by_email")?,
            creates_users: boolean(&map, "creates_users")?,
            role_ids: role_ids(&map)?,
            allowed_clock_skew_secs: details::integer_in(
                &map,
                "allowed_clock_skew_secs",
                0,
                MAX_CLOCK_SKEW_SECS,
                DEFAULT_CLOCK_SKEW_SECS,
            )?,
            allow_idp_initiated: boolean(&map, "allow_idp_initiated")?,
            trust_email: boolean(&map, "trust_email")?,
            sign_requests: boolean(&map, "sign_requests")?,
            sp_signing_key: match map.get(SP_SIGNING_KEY) {
                None => None,
                Some(Value::String(stored)) => Some(
                    SpKey::from_base64(stored)
                        .map_err(|e| StrategyError::invalid_detail(SP_SIGNING_KEY, e))?,
                ),
                Some(_) => {
                    return Err(StrategyError::invalid_detail(
                        SP_SIGNING_KEY,
                        "must be a string",
                    ));
                }
            },
        })
    }

    /// The normalised `details` object (defaults filled in, absent optional strings omitted).
    pub fn to_value(&self) -> Value {
        let mut out = Map::new();
        match &self.metadata {
            MetadataSource::Xml(xml) => out.insert("idp_metadata_xml".into(), xml.clone().into()),
            MetadataSource::Url(url) => out.insert("idp_metadata_url".into(), url.clone().into()),
        };
        out.insert("sp_entity_id".into(), self.sp_entity_id.clone().into());
        for (key, value) in [
            ("name_id_format", &self.name_id_format),
            ("email_attribute", &self.email_attribute),
            ("given_name_attribute", &self.given_name_attribute),
            ("family_name_attribute", &self.family_name_attribute),
        ] {
            if let Some(value) = value {
                out.insert(key.into(), value.clone().into());
            }
        }
        out.insert(
            "match_users_by_email".into(),
            self.match_users_by_email.into(),
        );
        out.insert("creates_users".into(), self.creates_users.into());
        out.insert("role_ids".into(), self.role_ids.clone().into());
        out.insert(
            "allowed_clock_skew_secs".into(),
            self.allowed_clock_skew_secs.into(),
        );
        out.insert(
            "allow_idp_initiated".into(),
            self.allow_idp_initiated.into(),
        );
        out.insert("trust_email".into(), self.trust_email.into());
        out.insert("sign_requests".into(), self.sign_requests.into());
        if let Some(key) = &self.sp_signing_key {
            out.insert(SP_SIGNING_KEY.into(), key.as_base64().into());
        }
        Value::Object(out)
    }
}

/// An optional non-empty string of at most `max` bytes.
fn optional_string(
    map: &Map<String, Value>,
    key: &str,
    max: usize,
) -> Result<Option<String>, StrategyError> {
    match map.get(key) {
        None => Ok(None),
        Some(Value::String(s))
            if !s.trim().is_empty() && s.len() <= max && !s.contains(char::is_control) =>
        {
            Ok(Some(s.clone()))
        }
        // Metadata XML legitimately spans lines.
        Some(Value::String(s))
            if key == "idp_metadata_xml" && !s.trim().is_empty() && s.len() <= max =>
        {
            Ok(Some(s.clone()))
        }
        Some(_) => Err(StrategyError::invalid_detail(
            key,
            format!("must be a non-empty string of at most {max} bytes without control characters"),
        )),
    }
}

fn boolean(map: &Map<String, Value>, key: &str) -> Result<bool, StrategyError> {
    match map.get(key) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(StrategyError::invalid_detail(key, "must be true or false")),
    }
}

/// `[a-z0-9][a-z0-9_-]{0,62}`, the id syntax of authx objects.
fn is_slug(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-')
}

fn role_ids(map: &Map<String, Value>) -> Result<Vec<String>, StrategyError> {
    let Some(value) = map.get("role_ids") else {
        return Ok(Vec::new());
    };
    let Some(items) = value.as_array() else {
        return Err(StrategyError::invalid_detail(
            "role_ids",
            "must be an array of role ids",
        ));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item.as_str() {
            Some(s) if is_slug(s) => Ok(s.to_owned()),
            _ => Err(StrategyError::InvalidDetails {
                field: format!("details.role_ids/{i}"),
                message: "must be a role id ([a-z0-9][a-z0-9_-]{0,62})".into(),
            }),
        })
        .collect()
}

/// The SAML strategy's implementation of [`DetailsRules`]: details validation and redaction.
///
/// The login round trip is this crate's own API: [`crate::authn_request`] and
/// [`crate::verify_response`].
#[derive(Clone, Copy, Debug, Default)]
pub struct SamlStrategy;

impl SamlStrategy {
    /// The strategy name stored in `authorities.strategy`.
    pub const NAME: &'static str = "saml";

    /// Refuses `details` an administrator submitted (a whole object, or a merge patch) that set
    /// the SP signing key: it is generated here and never known outside the server, so nobody
    /// can sign requests as our SP. `null` (a patch removing it, to have a new one generated) is
    /// allowed.
    pub fn refuse_submitted_key(submitted: &Value) -> Result<(), StrategyError> {
        match submitted.get(SP_SIGNING_KEY) {
            None | Some(Value::Null) => Ok(()),
            Some(_) => Err(StrategyError::invalid_detail(
                SP_SIGNING_KEY,
                "is generated by authx and cannot be set; send null to replace it with a new one",
            )),
        }
    }

    /// `details` (validated, normal form) with an SP signing key: the stored one, or a new one
    /// when there is none yet.
    pub fn with_signing_key(details: Value) -> Result<Value, StrategyError> {
        let Value::Object(mut map) = details else {
            return Ok(details);
        };
        if !map.contains_key(SP_SIGNING_KEY) {
            let key = SpKey::generate().map_err(|e| StrategyError::Internal(e.to_string()))?;
            map.insert(SP_SIGNING_KEY.into(), key.as_base64().into());
        }
        Ok(Value::Object(map))
    }
}

impl DetailsRules for SamlStrategy {
    fn strategy(&self) -> &'static str {
        Self::NAME
    }

    fn validate_details(&self, details: &Value) -> Result<Value, StrategyError> {
        SamlDetails::from_details(details).map(|d| d.to_value())
    }

    fn redact_details(&self, details: &Value) -> Value {
        // Only the SP key is secret (its certificate is in our SP metadata); IdP metadata and
        // entity ids are public documents.
        let mut shown = details.clone();
        if let Some(map) = shown.as_object_mut() {
            map.remove(SP_SIGNING_KEY);
        }
        shown
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::test_support::{metadata, valid_metadata};

    fn field_of(details: Value) -> String {
        match SamlStrategy.validate_details(&details) {
            Err(StrategyError::InvalidDetails { field, .. }) => field,
            other => panic!("expected a details error, got {other:?}"),
        }
    }

    #[test]
    fn normalises_with_defaults_and_is_idempotent() {
        let xml = valid_metadata();
        let normalised = SamlStrategy
            .validate_details(&json!({"idp_metadata_xml": xml, "sp_entity_id": "https://sp"}))
            .unwrap();
        assert_eq!(
            normalised,
            json!({
                "idp_metadata_xml": xml,
                "sp_entity_id": "https://sp",
                "match_users_by_email": false,
                "creates_users": false,
                "role_ids": [],
                "allowed_clock_skew_secs": 120,
                "allow_idp_initiated": false,
                "trust_email": false,
                "sign_requests": false,
            })
        );
        assert_eq!(
            SamlStrategy.validate_details(&normalised).unwrap(),
            normalised
        );
        assert_eq!(SamlStrategy.strategy(), "saml");
        assert_eq!(SamlStrategy.redact_details(&normalised), normalised);
    }

    #[test]
    fn the_sp_key_is_generated_kept_checked_and_never_shown() {
        let base = json!({"idp_metadata_xml": valid_metadata(), "sp_entity_id": "https://sp"});
        let with_key =
            SamlStrategy::with_signing_key(SamlStrategy.validate_details(&base).unwrap()).unwrap();
        let key = with_key[SP_SIGNING_KEY].as_str().unwrap().to_owned();
        assert!(SpKey::from_base64(&key).is_ok());
        // Kept: validating again and adding a key again change nothing.
        let again = SamlStrategy.validate_details(&with_key).unwrap();
        assert_eq!(again, with_key);
        assert_eq!(
            SamlStrategy::with_signing_key(again.clone()).unwrap(),
            again
        );
        let parsed = SamlDetails::from_details(&with_key).unwrap();
        assert_eq!(parsed.sp_signing_key.unwrap().as_base64(), key);
        // Never shown, and not in the Debug form either.
        let shown = SamlStrategy.redact_details(&with_key);
        assert!(shown.get(SP_SIGNING_KEY).is_none());
        assert!(!format!("{:?}", SamlDetails::from_details(&with_key).unwrap()).contains(&key));
        // A stored value that is not an RSA PKCS#8 key is refused.
        let mut broken = with_key.clone();
        broken[SP_SIGNING_KEY] = json!("AAAA");
        assert_eq!(field_of(broken), "details.sp_signing_key");
        // Submitted by an administrator: refused, except null (which asks for a new one).
        assert!(SamlStrategy::refuse_submitted_key(&base).is_ok());
        assert!(SamlStrategy::refuse_submitted_key(&json!({SP_SIGNING_KEY: null})).is_ok());
        for submitted in [json!(key), json!(""), json!(1)] {
            let e = SamlStrategy::refuse_submitted_key(&json!({SP_SIGNING_KEY: submitted}));
            assert!(
                matches!(&e, Err(StrategyError::InvalidDetails { field, .. }) if field == "details.sp_signing_key"),
                "{e:?}"
            );
        }
    }

    #[test]
    fn reads_every_key() {
        let details = SamlDetails::from_details(&json!({
            "idp_metadata_url": "https://idp.example/metadata",
            "sp_entity_id": "https://sp",
            "name_id_format": "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
            "email_attribute": "User.email",
            "given_name_attribute": "User.FirstName",
            "family_name_attribute": "User.LastName",
            "match_users_by_email": true,
            "creates_users": true,
            "role_ids": ["staff", "r-2"],
            "allowed_clock_skew_secs": 0,
            "allow_idp_initiated": true,
            "trust_email": true,
        }))
        .unwrap();
        assert_eq!(
            details.metadata,
            MetadataSource::Url("https://idp.example/metadata".into())
        );
        assert_eq!(details.email_attribute.as_deref(), Some("User.email"));
        assert!(details.match_users_by_email && details.creates_users);
        assert!(details.allow_idp_initiated && details.trust_email);
        assert_eq!(details.role_ids, ["staff", "r-2"]);
        assert_eq!(details.allowed_clock_skew_secs, 0);
        assert_eq!(
            SamlDetails::from_details(&details.to_value()).unwrap(),
            details
        );
    }

    #[test]
    fn exactly_one_metadata_source() {
        let xml = valid_metadata();
        assert_eq!(
            field_of(json!({
                "idp_metadata_xml": xml,
                "idp_metadata_url": "https://idp.example/m",
                "sp_entity_id": "s",
            })),
            "details.idp_metadata_url"
        );
        assert_eq!(
            field_of(json!({"sp_entity_id": "s"})),
            "details.idp_metadata_xml"
        );
        assert_eq!(field_of(json!(null)), "details.idp_metadata_xml");
        assert_eq!(field_of(json!([])), "details");
    }

    #[test]
    fn metadata_xml_must_yield_a_signing_certificate() {
        let without = metadata("", "https://idp.example/sso");
        assert_eq!(
            field_of(json!({"idp_metadata_xml": without, "sp_entity_id": "s"})),
            "details.idp_metadata_xml"
        );
        assert_eq!(
            field_of(json!({"idp_metadata_xml": "<nope", "sp_entity_id": "s"})),
            "details.idp_metadata_xml"
        );
    }

    #[test]
    fn metadata_url_is_https_or_loopback_http() {
        for url in [
            "http://127.0.0.1:9000/m",
            "http://localhost/m",
            "https://idp/m",
        ] {
            assert!(
                SamlDetails::from_details(&json!({"idp_metadata_url": url, "sp_entity_id": "s"}))
                    .is_ok(),
                "{url}"
            );
        }
        for url in ["http://idp.example/m", "ftp://idp/m", "idp.example", ""] {
            assert_eq!(
                field_of(json!({"idp_metadata_url": url, "sp_entity_id": "s"})),
                "details.idp_metadata_url",
                "{url}"
            );
        }
    }

    #[test]
    fn field_errors_name_the_field() {
        let base = |extra: Value| {
            let mut details = json!({"idp_metadata_url": "https://idp/m", "sp_entity_id": "s"});
            for (key, value) in extra.as_object().unwrap() {
                details[key] = value.clone();
            }
            details
        };
        assert_eq!(
            field_of(base(json!({"client_secret": "x"}))),
            "details.client_secret"
        );
        assert_eq!(
            field_of(json!({"idp_metadata_url": "https://idp/m"})),
            "details.sp_entity_id"
        );
        assert_eq!(
            field_of(base(json!({"sp_entity_id": " s"}))),
            "details.sp_entity_id"
        );
        assert_eq!(
            field_of(base(json!({"sp_entity_id": ""}))),
            "details.sp_entity_id"
        );
        assert_eq!(
            field_of(base(json!({"name_id_format": NAMEID_FORMAT_TRANSIENT}))),
            "details.name_id_format"
        );
        assert_eq!(
            field_of(base(json!({"name_id_format": "a b"}))),
            "details.name_id_format"
        );
        assert_eq!(
            field_of(base(json!({"email_attribute": 3}))),
            "details.email_attribute"
        );
        assert_eq!(
            field_of(base(json!({"given_name_attribute": "a\nb"}))),
            "details.given_name_attribute"
        );
        assert_eq!(
            field_of(base(json!({"creates_users": "yes"}))),
            "details.creates_users"
        );
        assert_eq!(
            field_of(base(json!({"allow_idp_initiated": 1}))),
            "details.allow_idp_initiated"
        );
        assert_eq!(
            field_of(base(json!({"role_ids": "staff"}))),
            "details.role_ids"
        );
        assert_eq!(
            field_of(base(json!({"role_ids": ["ok", "Not-A-Slug"]}))),
            "details.role_ids/1"
        );
        assert_eq!(
            field_of(base(json!({"allowed_clock_skew_secs": 601}))),
            "details.allowed_clock_skew_secs"
        );
        assert_eq!(
            field_of(base(json!({"allowed_clock_skew_secs": -1}))),
            "details.allowed_clock_skew_secs"
        );
    }

    #[test]
    fn slugs() {
        for ok in ["a", "0", "staff_2", "a-b", &"a".repeat(63)] {
            assert!(is_slug(ok), "{ok}");
        }
        for bad in ["", "-a", "_a", "A", "a b", "é", &"a".repeat(64)] {
            assert!(!is_slug(bad), "{bad}");
        }
    }
}
