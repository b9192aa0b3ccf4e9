//! From verified claims to the [`UpstreamIdentity`] the server resolves to a user.
//!
//! `sub` is the credential key (`authority_user_id`): OIDC Core §5.7 names `iss` + `sub` as the
//! only stable identifier, and the authority already stands for the issuer. The email address is
//! a linking hint that counts only when the provider says `email_verified: true` (reference §3 never
//! links on an unverified address); some providers send that flag as the string `"true"`, which is
//! honoured too. Profile claims (§5.1) are optional, untrusted display data: kept only when they
//! are short printable strings (and, for `picture`, an http(s) URL, so a page can't be handed a
//! `javascript:` link).
//!
//! With `hosted_domains` configured, Google's `hd` claim — the Workspace domain of the account,
//! absent for consumer accounts — must be one of them. The email domain is not a substitute:
//! consumer accounts can carry any address, `hd` can't be forged (it comes from Google).
//!
//! Providers that follow OIDC Core §5.4 to the letter put scope claims only in the userinfo
//! response when an access token is issued; then those claims come from there, after checking
//! that userinfo speaks about the same `sub` (§5.3.2). Claims of the (signed) id_token win.

use authx_strategy_core::{UpstreamIdentity, UpstreamProfile};
use serde_json::{Map, Value};

use crate::details::GoogleDetails;
use crate::error::OidcError;

const MAX_TEXT_CHARS: usize = 500;
const MAX_URL_BYTES: usize = 2000;
const MAX_EMAIL_BYTES: usize = 254;

/// The claims the identity is built from.
const PROFILE_CLAIMS: &[&str] = &["name", "given_name", "family_name", "picture"];

/// Whether the id_token lacks claims that userinfo may have: the email, every profile claim, or
/// (when the authority is restricted to hosted domains) `hd`.
pub(crate) fn needs_userinfo(details: &GoogleDetails, claims: &Map<String, Value>) -> bool {
    let missing_email = text(claims, "email").is_none();
    let missing_profile = PROFILE_CLAIMS.iter().all(|c| text(claims, c).is_none());
    let missing_hd = !details.hosted_domains.is_empty() && text(claims, "hd").is_none();
    missing_email || missing_profile || missing_hd
}

/// Checks that a userinfo response is about `sub` (OIDC Core §5.3.2) and returns it.
pub(crate) fn check_userinfo(sub: &str, userinfo: Value) -> Result<Map<String, Value>, OidcError> {
    let Value::Object(map) = userinfo else {
        return Err(OidcError::Userinfo(
            "the response is not a JSON object".to_owned(),
        ));
    };
    if map.get("sub").and_then(Value::as_str) != Some(sub) {
        return Err(OidcError::UserinfoSubjectMismatch);
    }
    Ok(map)
}

/// Builds the identity from the id_token's claims, filling gaps from `userinfo`, after the
/// hosted-domain restriction.
pub(crate) fn build_identity(
    authority_id: &str,
    details: &GoogleDetails,
    sub: String,
    claims: &Map<String, Value>,
    userinfo: Option<&Map<String, Value>>,
) -> Result<UpstreamIdentity, OidcError> {
    let lookup = |name: &str| text(claims, name).or_else(|| userinfo.and_then(|u| text(u, name)));
    if !details.hosted_domains.is_empty() {
        let hd = lookup("hd").map(|hd| hd.to_ascii_lowercase());
        if !hd
            .as_ref()
            .is_some_and(|hd| details.hosted_domains.contains(hd))
        {
            return Err(OidcError::HostedDomainNotAllowed { hd });
        }
    }
    let profile = UpstreamProfile {
        display_name: lookup("name"),
        given_name: lookup("given_name"),
        family_name: lookup("family_name"),
        picture: lookup("picture").filter(|p| is_web_url(p)),
    };
    let mut identity = UpstreamIdentity::new(authority_id, sub).with_profile(profile);
    // The address and its verification flag travel together: from the id_token if it has an
    // address, else from userinfo.
    let source = if text(claims, "email").is_some() {
        Some(claims)
    } else {
        userinfo
    };
    if let Some(source) = source
        && let Some(email) = text(source, "email").filter(|e| is_email(e))
    {
        identity = identity.with_email(&email, is_true(source.get("email_verified")));
    }
    Ok(identity)
}

/// A claim as a trimmed, non-empty, bounded string without control characters.
fn text(claims: &Map<String, Value>, name: &str) -> Option<String> {
    let value = claims.get(name)?.as_str()?.trim();
    let max = if name == "picture" {
        MAX_URL_BYTES
    } else {
        MAX_TEXT_CHARS
    };
    (!value.is_empty() && value.chars().count() <= max && !value.chars().any(char::is_control))
        .then(|| value.to_owned())
}

/// `true`, or the string `"true"` (some providers send booleans as strings).
fn is_true(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

fn is_email(s: &str) -> bool {
    s.len() <= MAX_EMAIL_BYTES
        && !s.contains(char::is_whitespace)
        && s.split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
}

fn is_web_url(s: &str) -> bool {
    s.len() <= MAX_URL_BYTES
        && (s.starts_with("https://") || s.starts_with("http://"))
        && s.is_ascii()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn details(hosted: &[&str]) -> GoogleDetails {
        GoogleDetails::from_details(&json!({
            "client_id": "c", "client_secret": "s", "hosted_domains": hosted,
        }))
        .unwrap()
    }

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn claims_fill_the_identity() {
        let claims = map(json!({
            "sub": "1", "email": "Ada@Example.com", "email_verified": true, "name": "Ada L",
            "given_name": "Ada", "family_name": "L", "picture": "https://img.example/a.png",
        }));
        let id = build_identity("g", &details(&[]), "1".into(), &claims, None).unwrap();
        assert_eq!(id.authority_id, "g");
        assert_eq!(id.authority_user_id, "1");
        assert_eq!(id.email.as_deref(), Some("ada@example.com"));
        assert!(id.email_verified);
        assert_eq!(id.profile.display_name.as_deref(), Some("Ada L"));
        assert_eq!(
            id.profile.picture.as_deref(),
            Some("https://img.example/a.png")
        );
        assert!(!needs_userinfo(&details(&[]), &claims));
    }

    #[test]
    fn email_verification_is_honoured() {
        for (flag, verified) in [
            (json!(false), false),
            (json!("true"), true),
            (json!("false"), false),
            (json!(null), false),
            (json!(1), false),
        ] {
            let claims = map(json!({"email": "a@b.example", "email_verified": flag}));
            let id = build_identity("g", &details(&[]), "1".into(), &claims, None).unwrap();
            assert_eq!(id.email.as_deref(), Some("a@b.example"));
            assert_eq!(id.email_verified, verified, "{flag}");
        }
        let claims = map(json!({"email": "not an email", "email_verified": true}));
        let id = build_identity("g", &details(&[]), "1".into(), &claims, None).unwrap();
        assert_eq!(id.email, None);
        assert!(!id.email_verified);
    }

    #[test]
    fn hosted_domains_restrict() {
        let d = details(&["example.com"]);
        let ok = map(json!({"hd": "Example.com"}));
        assert!(build_identity("g", &d, "1".into(), &ok, None).is_ok());
        for bad in [json!({"hd": "other.com"}), json!({})] {
            assert!(matches!(
                build_identity("g", &d, "1".into(), &map(bad), None),
                Err(OidcError::HostedDomainNotAllowed { .. })
            ));
        }
        assert!(needs_userinfo(
            &d,
            &map(json!({"email": "a@b.c", "name": "A"}))
        ));
    }

    #[test]
    fn userinfo_fills_gaps_but_id_token_wins() {
        let claims = map(json!({"sub": "1", "name": "From Token"}));
        let userinfo = check_userinfo(
            "1",
            json!({"sub": "1", "name": "From Userinfo", "email": "u@x.example",
                   "email_verified": true, "picture": "javascript:alert(1)"}),
        )
        .unwrap();
        let id = build_identity("g", &details(&[]), "1".into(), &claims, Some(&userinfo)).unwrap();
        assert_eq!(id.profile.display_name.as_deref(), Some("From Token"));
        assert_eq!(id.email.as_deref(), Some("u@x.example"));
        assert!(id.email_verified);
        assert_eq!(id.profile.picture, None);
        assert!(matches!(
            check_userinfo("1", json!({"sub": "2"})),
            Err(OidcError::UserinfoSubjectMismatch)
        ));
        assert!(check_userinfo("1", json!([])).is_err());
    }
}
