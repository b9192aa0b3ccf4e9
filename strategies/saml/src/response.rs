//! Verifying a SAML Response posted to our ACS URL (HTTP-POST binding).
//!
//! [`verify_response`] is synchronous and CPU-bound (parsing and signature arithmetic): the server
//! runs it in `spawn_blocking`. Its order is the point:
//!
//! 1. **Before any verifier**: the base64 `SAMLResponse` is bounded ([`MAX_SAML_RESPONSE_BYTES`]),
//!    decoded strictly, must be UTF-8, and the XML must pass the pre-check (the private
//!    `precheck` module lists its rules). An unsolicited response is refused here already
//!    unless the authority allows them and it claims to answer no request.
//! 2. **Signatures**: every signature verifies (bergshamra, pure Rust) against the IdP
//!    metadata's keys only, and covers exactly the Response or its one Assertion (the private
//!    `signature` module), which is the Assertion the pre-check read (the private `assertion`
//!    module): one parser reads what is checked, what is verified and what is used.
//! 3. **On that assertion**: Issuer is the IdP entity id (and so is the Response's, if
//!    present); Conditions with at least one AudienceRestriction, *every one* naming our entity
//!    id; NotBefore/NotOnOrAfter of the Conditions and of every bearer SubjectConfirmationData
//!    within the skew (a bearer NotOnOrAfter is required); every bearer Recipient is our ACS URL;
//!    the Response Destination, if present (required when the Response is signed), is our ACS
//!    URL; no IssueInstant (Response or Assertion) later than now + skew or older than
//!    [`MAX_RESPONSE_AGE_SECS`] + skew; a non-empty NameID, in the configured format when one is
//!    configured (any format otherwise: a transient NameID then makes a new link at each login);
//!    InResponseTo equal to the pending request id on the Response (if present) and on every
//!    bearer confirmation, or absent everywhere for an allowed IdP-initiated login.
//!
//! Identity and attributes come only from the signed assertion: NameID →
//! `authority_user_id`; the configured attributes (matched by Name, else FriendlyName; first
//! non-empty value) → email and names.
//!
//! **Email verification.** SAML has no `email_verified`; the address is an attribute the IdP
//! signed, from whatever directory the IdP keeps. We take it from the configured
//! `email_attribute` (or an `emailAddress`-format NameID when no attribute is configured) when it
//! looks like an address, and report it as verified only when the authority's `trust_email` says
//! the administrator trusts this IdP to have checked its addresses. An unverified address links
//! nothing and never reaches a relying party as `email_verified: true`.
//!
//! **Replay** is the server's job, with its database: after success it must record
//! `(authority_id, assertion_id)` until [`VerifiedAssertion::replay_until`] and refuse a second
//! use. That bound is at most [`MAX_RESPONSE_AGE_SECS`] + skew after the IssueInstant, because an
//! older assertion is refused here anyway.

use authx_strategy_core::{UpstreamIdentity, UpstreamProfile};
use base64::Engine as _;

use crate::SamlError;
use crate::assertion::{Assertion, instant};
use crate::metadata::IdentityProvider;
use crate::precheck::{Prechecked, precheck};
use crate::sp::SpConfig;

/// The largest `SAMLResponse` form value accepted, in bytes of base64.
pub const MAX_SAML_RESPONSE_BYTES: usize = 256 * 1024;
/// How old (by IssueInstant) a response may be, before the clock skew is added. The browser
/// posts it right after the IdP issued it.
pub const MAX_RESPONSE_AGE_SECS: i64 = 300;

const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
const NAMEID_FORMAT_EMAIL: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";

/// A response that passed every check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedAssertion {
    /// Who logged in: `authority_user_id` is the NameID.
    pub identity: UpstreamIdentity,
    /// The Assertion's ID: the replay-cache key, together with the authority id.
    pub assertion_id: String,
    /// The IdP entity id that issued it.
    pub issuer: String,
    /// The request it answers (`None` for an IdP-initiated login).
    pub in_response_to: Option<String>,
    /// The earliest NotOnOrAfter of the Conditions and bearer confirmations, unix seconds.
    pub not_on_or_after: i64,
    /// Until when (unix seconds) the assertion would still be accepted here: keep its id in the
    /// replay cache at least that long.
    pub replay_until: i64,
}

/// Verifies a posted `SAMLResponse` (see the module documentation for every check and its
/// order). `expected_request_id` is the pending request id stored for this browser, `None` when
/// there is none (an IdP-initiated login, accepted only with `allow_idp_initiated`). `now_unix`
/// is the current time, `skew_secs` the
/// authority's allowed clock skew.
pub fn verify_response(
    sp: &SpConfig,
    idp: &IdentityProvider,
    saml_response_b64: &str,
    expected_request_id: Option<&str>,
    allow_idp_initiated: bool,
    now_unix: i64,
    skew_secs: u64,
) -> Result<VerifiedAssertion, SamlError> {
    let skew = i64::try_from(skew_secs).unwrap_or(i64::MAX).min(3600);

    // 1. Before any verifier.
    let xml = decode(saml_response_b64)?;
    let xml = xml.strip_prefix('\u{feff}').unwrap_or(&xml);
    let pre = precheck(xml)?;
    match (expected_request_id, &pre.in_response_to) {
        (None, _) if !allow_idp_initiated => return Err(SamlError::UnsolicitedNotAllowed),
        (None, Some(found)) => return Err(SamlError::UnsolicitedWithInResponseTo(found.clone())),
        (Some(expected), Some(found)) if found != expected => {
            return Err(SamlError::InResponseTo {
                expected: expected.to_owned(),
                found: Some(found.clone()),
            });
        }
        _ => {}
    }

    // 2. Signatures, in pure Rust, against the metadata certificates only.
    crate::signature::verify_signatures(xml, &pre, idp.signing_certificates())?;

    // 3. The checks on the assertion the signatures cover.
    check_assertion(sp, idp, &pre, expected_request_id, now_unix, skew)
}

/// The Response's `InResponseTo`, **not verified**: only the key under which the server finds the
/// pending request (and so the `expected_request_id`) before it calls [`verify_response`]. The
/// message goes through the same bound, strict decoding and pre-check first, so what the
/// pre-check refuses is refused here already, before any lookup. Nothing is trusted:
/// [`verify_response`] then checks the value against the signed assertion like everything else. A Response without
/// the attribute reads as unsolicited (`None`); if its signed confirmations still name a
/// request, [`verify_response`] refuses it.
pub fn unverified_in_response_to(saml_response_b64: &str) -> Result<Option<String>, SamlError> {
    let xml = decode(saml_response_b64)?;
    let xml = xml.strip_prefix('\u{feff}').unwrap_or(&xml);
    Ok(precheck(xml)?.in_response_to)
}

/// Strict base64 (line breaks and other ASCII white space, which some IdPs insert, are dropped
/// first) of a bounded input, then UTF-8.
fn decode(saml_response_b64: &str) -> Result<String, SamlError> {
    if saml_response_b64.len() > MAX_SAML_RESPONSE_BYTES {
        return Err(SamlError::TooLarge {
            max: MAX_SAML_RESPONSE_BYTES,
        });
    }
    let compact: Vec<u8> = saml_response_b64
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| SamlError::Base64)?;
    String::from_utf8(bytes).map_err(|_| SamlError::Utf8)
}

/// The checks on the signed assertion (step 3 of the module documentation).
fn check_assertion(
    sp: &SpConfig,
    idp: &IdentityProvider,
    pre: &Prechecked,
    expected_request_id: Option<&str>,
    now: i64,
    skew: i64,
) -> Result<VerifiedAssertion, SamlError> {
    let assertion = &pre.assertion;

    // Issuer of the Assertion (signed) and, if present, of the Response.
    let issuer = assertion.issuer.as_deref();
    if issuer != Some(idp.entity_id()) {
        return Err(SamlError::Issuer {
            expected: idp.entity_id().to_owned(),
            found: issuer.map(str::to_owned),
        });
    }
    if let Some(response_issuer) = &pre.issuer
        && response_issuer != idp.entity_id()
    {
        return Err(SamlError::Issuer {
            expected: idp.entity_id().to_owned(),
            found: Some(response_issuer.clone()),
        });
    }

    // Audience: required, and every restriction must name us.
    let conditions = assertion
        .conditions
        .as_ref()
        .ok_or(SamlError::AudienceMissing)?;
    if conditions.audience_restrictions.is_empty() {
        return Err(SamlError::AudienceMissing);
    }
    if let Some(failed) = conditions
        .audience_restrictions
        .iter()
        .find(|audiences| !audiences.contains(&sp.entity_id))
    {
        return Err(SamlError::Audience {
            expected: sp.entity_id.clone(),
            found: failed.clone(),
        });
    }

    // Times.
    let issue_instant = assertion.issue_instant;
    let response_issue_instant = instant(&pre.issue_instant)?;
    for instant in [issue_instant, response_issue_instant] {
        if instant > now.saturating_add(skew) {
            return Err(SamlError::IssuedInFuture {
                issue_instant: instant,
            });
        }
        if instant.saturating_add(MAX_RESPONSE_AGE_SECS + skew) <= now {
            return Err(SamlError::IssuedTooLongAgo {
                issue_instant: instant,
            });
        }
    }
    check_window(conditions.not_before, conditions.not_on_or_after, now, skew)?;

    // Bearer subject confirmations: all of them must hold.
    let bearers: Vec<_> = assertion
        .confirmations
        .iter()
        .filter(|c| c.method.as_deref() == Some(BEARER))
        .collect();
    if bearers.is_empty() {
        return Err(SamlError::SubjectConfirmation(
            "no bearer SubjectConfirmation".into(),
        ));
    }
    let mut not_on_or_after = conditions.not_on_or_after;
    for bearer in &bearers {
        let data = bearer.data.as_ref().ok_or_else(|| {
            SamlError::SubjectConfirmation("a bearer confirmation without data".into())
        })?;
        let expiry = data.not_on_or_after.ok_or_else(|| {
            SamlError::SubjectConfirmation("a bearer confirmation without NotOnOrAfter".into())
        })?;
        check_window(data.not_before, Some(expiry), now, skew)?;
        not_on_or_after = Some(not_on_or_after.map_or(expiry, |t| t.min(expiry)));
        if data.recipient.as_deref() != Some(sp.acs_url.as_str()) {
            return Err(SamlError::Recipient {
                expected: sp.acs_url.clone(),
                found: data.recipient.clone(),
            });
        }
        match (expected_request_id, &data.in_response_to) {
            (Some(expected), found) if found.as_deref() != Some(expected) => {
                return Err(SamlError::InResponseTo {
                    expected: expected.to_owned(),
                    found: found.clone(),
                });
            }
            (None, Some(found)) => {
                return Err(SamlError::UnsolicitedWithInResponseTo(found.clone()));
            }
            _ => {}
        }
    }
    // Guaranteed by the loop above (at least one bearer with a NotOnOrAfter).
    let not_on_or_after = not_on_or_after.unwrap_or(now);

    // Destination: present and ours on a signed Response (SAML core §3.4.5.2), ours if present.
    match &pre.destination {
        Some(destination) if destination == &sp.acs_url => {}
        None if !pre.response_signed => {}
        found => {
            return Err(SamlError::Destination {
                expected: sp.acs_url.clone(),
                found: found.clone(),
            });
        }
    }

    // The subject.
    let name_id = assertion.name_id.as_ref().ok_or(SamlError::NameIdMissing)?;
    let subject_id = name_id.value.as_str();
    if subject_id.is_empty() {
        return Err(SamlError::NameIdMissing);
    }
    let format = name_id.format.as_deref();
    if let Some(wanted) = &sp.name_id_format
        && format != Some(wanted.as_str())
    {
        return Err(SamlError::NameIdFormat {
            found: format.map(str::to_owned),
            why: format!("the authority requires {wanted}"),
        });
    }

    let identity = identity(sp, assertion, subject_id, format);
    let replay_until = not_on_or_after
        .saturating_add(skew)
        .min(issue_instant.saturating_add(MAX_RESPONSE_AGE_SECS + skew));
    Ok(VerifiedAssertion {
        identity,
        assertion_id: assertion.id.clone(),
        issuer: idp.entity_id().to_owned(),
        in_response_to: expected_request_id.map(str::to_owned),
        not_on_or_after,
        replay_until,
    })
}

/// `NotBefore - skew <= now < NotOnOrAfter + skew`.
fn check_window(
    not_before: Option<i64>,
    not_on_or_after: Option<i64>,
    now: i64,
    skew: i64,
) -> Result<(), SamlError> {
    if let Some(not_before) = not_before
        && now < not_before.saturating_sub(skew)
    {
        return Err(SamlError::NotYetValid { not_before });
    }
    if let Some(not_on_or_after) = not_on_or_after
        && now >= not_on_or_after.saturating_add(skew)
    {
        return Err(SamlError::Expired { not_on_or_after });
    }
    Ok(())
}

/// The identity from the verified assertion: NameID and the configured attributes.
fn identity(
    sp: &SpConfig,
    assertion: &Assertion,
    subject_id: &str,
    name_id_format: Option<&str>,
) -> UpstreamIdentity {
    let given_name = sp
        .given_name_attribute
        .as_deref()
        .and_then(|name| attribute(assertion, name));
    let family_name = sp
        .family_name_attribute
        .as_deref()
        .and_then(|name| attribute(assertion, name));
    let display_name = match (&given_name, &family_name) {
        (None, None) => None,
        (given, family) => Some(
            [given.as_deref(), family.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" "),
        ),
    };
    let email = match &sp.email_attribute {
        Some(name) => attribute(assertion, name),
        None if name_id_format == Some(NAMEID_FORMAT_EMAIL) => Some(subject_id.to_owned()),
        None => None,
    }
    .filter(|email| looks_like_email(email));

    let identity =
        UpstreamIdentity::new(sp.authority_id.clone(), subject_id).with_profile(UpstreamProfile {
            display_name,
            given_name,
            family_name,
            picture: None,
        });
    match email {
        // Verified only when the authority trusts the IdP's addresses (see the module
        // documentation).
        Some(email) => identity.with_email(&email, sp.trust_email),
        None => identity,
    }
}

/// The first non-empty value of the attribute whose Name (else FriendlyName) is `name`.
fn attribute(assertion: &Assertion, name: &str) -> Option<String> {
    let attributes = &assertion.attributes;
    let by_name = attributes
        .iter()
        .find(|a| a.name.as_deref() == Some(name))
        .or_else(|| {
            attributes
                .iter()
                .find(|a| a.friendly_name.as_deref() == Some(name))
        })?;
    by_name
        .values
        .iter()
        .map(|v| v.trim())
        .find(|v| !v.is_empty())
        .map(str::to_owned)
}

/// A plausible single address: `local@domain`, no white space, at most 254 bytes.
fn looks_like_email(email: &str) -> bool {
    email.len() <= 254
        && !email.contains(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.contains('@')
        })
}
