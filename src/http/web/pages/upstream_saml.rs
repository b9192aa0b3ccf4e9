//! The `saml` strategy's pages (reference §3 saml, §6): sign-in through a SAML 2.0 identity provider
//! (OneLogin or any other), with the `authx-strategy-saml` crate doing the protocol,
//! `crate::engine::saml_metadata` holding the IdP's metadata, and [`super::upstream`] the browser and the
//! server side.
//!
//! - `GET /login/:id/metadata` ([`metadata`]): our SP metadata, for the IdP's administrator: the
//!   entity id (`details.sp_entity_id`), the ACS URL [`acs_url`] with the HTTP-POST binding,
//!   signed assertions wanted, and the certificate of the authority's own request-signing key.
//!   Served for disabled authorities too: the IdP is usually set up before the authority is
//!   switched on.
//! - `GET /login/:id` (`upstream::start_login`, then [`start`]): an AuthnRequest with a fresh
//!   128-bit id, sent with the HTTP-Redirect binding (signed when the IdP's metadata wants it or
//!   the authority has `sign_requests`). The pending row (bound to the browser by
//!   the upstream cookie) keeps the id — hashed as `request_hash`, to find the row by — and a
//!   random RelayState. RelayState is opaque and never a redirect target: where to go afterwards
//!   stays in the row.
//! - `POST /login/:id/acs` ([`acs`]), the HTTP-POST binding, in this order: the body is bounded
//!   ([`MAX_ACS_BODY_BYTES`]); the response's `InResponseTo` is read — after the crate's strict
//!   pre-check, and only as a lookup key — to take the pending row back with
//!   `upstream::take_pending_by_request` (deleting it: the cross-site POST carries no SameSite=Lax
//!   cookie, and when the cookie does come it must name that row); a posted RelayState must be
//!   the row's; `verify_response` runs in `spawn_blocking` (parsing and signature checks are CPU-bound)
//!   against that request id, the IdP's metadata and the authority's clock skew; the assertion id
//!   is recorded until it could no longer be accepted (`record_saml_assertion`, which refuses a
//!   second delivery); and the verified identity is kept for a moment under the attempt's own
//!   cookie (`upstream::continue_in_browser`) with a 303 carrying a one-time token.
//! - `GET /login/:id/acs/continue?continuation=…` ([`acs_continue`]): a same-site top-level GET,
//!   so it carries the SameSite=Lax pending cookie and the session's. It takes the verified
//!   identity back by the token (spending it) and only with that cookie (`upstream::resume`),
//!   and `upstream::complete`
//!   resolves it and starts the session (or checks the link). The login thus finishes only when
//!   the browser that started the attempt is the one the IdP posted through: a response for
//!   someone's attempt posted into another browser (login CSRF) lacks the cookie there, and an
//!   AuthnRequest handed to someone else to sign in with (linking their identity to the
//!   starter's account) leaves the starter without the token. Nothing is created or linked.
//!
//! A response without `InResponseTo` is an IdP-initiated login, accepted only when the authority
//! has `allow_idp_initiated`. A response naming a request we hold no attempt for (never issued,
//! expired, already answered, or another authority's) is refused — with IdP-initiated logins on,
//! as an unsolicited response claiming to answer a request, which is never accepted.
//!
//! **Nothing is created on a failure path.** Every check, the signature verification and the
//! replay record come before `complete`, the first step that may create a user, a credential or
//! a session. The replay record and the session are not one database transaction, but what one
//! would guarantee holds: the record is a single insert on the `(authority, assertion id)`
//! primary key, which exactly one of concurrent deliveries wins; the others are refused before
//! anything is created. (A delivery that wins and then fails — an identity that is not linked —
//! has spent its assertion, which is single use anyway.)
//!
//! Every refusal is the upstream failure page with one generic message (`SamlError::USER_MESSAGE`;
//! the framework's own for an attempt that cannot be found; a "not available" page, status 503,
//! when the IdP's metadata cannot be used) and a `login.failure` audit event with a reason code
//! (`SamlError::reason()`, `no_pending_login`, `assertion_replay`, `relay_state_mismatch`,
//! `idp_metadata_*`, …). The verifier's own text goes to the log only.

use std::sync::Arc;

use authx_strategy_saml::{
    IdentityProvider, SamlDetails, SamlError, SpConfig, VerifiedAssertion, authn_request,
    sp_metadata_xml, unverified_in_response_to, verify_response,
};
use poem::http::StatusCode;
use poem::http::header;
use poem::web::{Data, Path};
use poem::{Body, Request, Response, handler};
use serde_json::{Value, json};

use crate::domain::authority::{Authority, Strategy};
use crate::domain::id::is_valid_slug;
use crate::domain::now;
use crate::engine::Engine;
use crate::engine::oauth2::params::Params;
use crate::engine::saml_metadata::MetadataFailure;
use crate::http::intake::{self, Unread};
use crate::http::web::pages::errors::PageError;
use crate::http::web::pages::upstream::{
    Back, Pending, Refusal, Started, complete, continue_in_browser, fail, removal_cookie, resume,
    take_pending_by_request,
};
use crate::secret;

/// The largest ACS body read: the crate's bound on `SAMLResponse` (256 KiB of base64) plus what
/// form encoding adds to it and a RelayState.
pub const MAX_ACS_BODY_BYTES: usize = 300 * 1024;
/// Prefix of our RelayState values (random, opaque).
const RELAY_STATE_PREFIX: &str = "axrs_";
/// The media type of SAML metadata (SAML metadata §4.1.1).
const METADATA_MEDIA_TYPE: &str = "application/samlmetadata+xml";
/// What the person reads when the IdP's metadata cannot be used.
const UNAVAILABLE: &str = "This way of signing in is not available right now. Try again later.";

/// The Assertion Consumer Service URL of authority `authority_id`: `{issuer}/login/{id}/acs`.
pub fn acs_url(issuer: &str, authority_id: &str) -> String {
    format!("{}/login/{authority_id}/acs", issuer.trim_end_matches('/'))
}

/// Where authority `authority_id`'s SP metadata is served: `{issuer}/login/{id}/metadata`.
pub fn metadata_url(issuer: &str, authority_id: &str) -> String {
    format!(
        "{}/login/{authority_id}/metadata",
        issuer.trim_end_matches('/')
    )
}

/// Starts a login at `authority`'s IdP: the AuthnRequest's redirect URL, and its id and
/// RelayState to keep in the pending row.
pub async fn start(state: &Engine, authority: &Authority) -> Result<Started, Refusal> {
    let details = details(authority)?;
    let idp = identity_provider(state, authority, &details).await?;
    let sp = sp_config(state, &authority.id, &details);
    let relay_state = secret::generate(RELAY_STATE_PREFIX);
    let redirect = authn_request(&sp, &idp, &relay_state).map_err(|e| refusal(&e))?;
    Ok(Started {
        url: redirect.url,
        data: json!({ "request_id": redirect.request_id, "relay_state": relay_state }),
        request_id: Some(redirect.request_id),
    })
}

/// `GET /login/:authority_id/metadata`: our SP metadata for this authority.
#[handler]
pub async fn metadata(
    state: Data<&Engine>,
    Path(authority_id): Path<String>,
) -> Result<Response, PageError> {
    let authority = saml_authority(&state, &authority_id).await?;
    let details =
        SamlDetails::from_details(&authority.details).map_err(|e| PageError::internal(&e))?;
    let sp = sp_config(&state, &authority.id, &details);
    let xml = sp_metadata_xml(&sp).map_err(|e| PageError::internal(&e))?;
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, METADATA_MEDIA_TYPE)
        .body(xml))
}

/// `POST /login/:authority_id/acs`: where the IdP's page posts the `SAMLResponse`.
#[handler]
pub async fn acs(
    req: &Request,
    state: Data<&Engine>,
    Path(authority_id): Path<String>,
    body: Body,
) -> Result<Response, PageError> {
    let authority = saml_authority(&state, &authority_id).await?;
    Ok(handle_acs(&state, req, &authority, body).await)
}

/// `GET /login/:authority_id/acs/continue`: the same-site step after a verified response to an
/// attempt. The token in the query finds the verified identity, and this browser's pending
/// cookie must name its attempt (`upstream::resume`); then the login finishes here.
#[handler]
pub async fn acs_continue(
    req: &Request,
    state: Data<&Engine>,
    Path(authority_id): Path<String>,
) -> Result<Response, PageError> {
    let authority = saml_authority(&state, &authority_id).await?;
    let cookies = vec![removal_cookie(&state)];
    Ok(match resume(&state, req, &authority.id).await {
        Ok((pending, identity)) => {
            complete(&state, req, &authority, Some(&pending), identity, cookies).await
        }
        Err(refusal) => {
            fail(
                &state,
                req,
                &authority.id,
                None,
                &Back::login(),
                refusal,
                cookies,
            )
            .await
        }
    })
}

/// Where a verified response to an attempt of `authority_id` continues: [`acs_continue`].
fn continue_path(authority_id: &str) -> String {
    format!("/login/{authority_id}/acs/continue")
}

/// The authority `authority_id` if it is a `saml` one; anything else is not found (and is kept
/// out of the audit trail).
async fn saml_authority(state: &Engine, authority_id: &str) -> Result<Authority, PageError> {
    if !is_valid_slug(authority_id) {
        return Err(PageError::not_found());
    }
    match crate::engine::upstream_login::authority(state, authority_id).await? {
        Some(authority) if authority.strategy == Strategy::Saml => Ok(authority),
        _ => Err(PageError::not_found()),
    }
}

/// What the browser posted.
struct Posted {
    saml_response: Arc<str>,
    relay_state: Option<String>,
}

/// The attempt a response answers, found before anything is verified.
struct Found {
    details: SamlDetails,
    posted: Posted,
    /// The pending login and its request id; `None` for an IdP-initiated login.
    pending: Option<(Pending, String)>,
}

/// The ACS of a `saml` authority: the attempt found, the response verified, the login finished.
async fn handle_acs(state: &Engine, req: &Request, authority: &Authority, body: Body) -> Response {
    // Whatever happens, the attempt is over: the browser forgets its cookie.
    let cookies = vec![removal_cookie(state)];
    let found = match find_attempt(state, req, authority, body).await {
        Ok(found) => found,
        Err(refusal) => {
            let back = Back::login();
            return fail(state, req, &authority.id, None, &back, refusal, cookies).await;
        }
    };
    let pending = found.pending.as_ref().map(|(pending, _)| pending);
    match verify(state, authority, &found).await {
        // An answer to an attempt finishes only where the attempt's cookie is: the browser that
        // started it.
        Ok(verified) => match pending {
            Some(p) => {
                let path = continue_path(&authority.id);
                match continue_in_browser(state, p, &verified.identity, &path).await {
                    Ok(response) => response,
                    Err(refusal) => {
                        let linking = p.login.linking_user_id.as_deref();
                        let back = Back::of(&p.login);
                        fail(state, req, &authority.id, linking, &back, refusal, cookies).await
                    }
                }
            }
            None => complete(state, req, authority, None, verified.identity, cookies).await,
        },
        Err(refusal) => {
            let (back, linking) = match pending {
                Some(p) => (Back::of(&p.login), p.login.linking_user_id.as_deref()),
                None => (Back::login(), None),
            };
            fail(state, req, &authority.id, linking, &back, refusal, cookies).await
        }
    }
}

/// Reads the form and takes back the attempt the response claims to answer.
async fn find_attempt(
    state: &Engine,
    req: &Request,
    authority: &Authority,
    body: Body,
) -> Result<Found, Refusal> {
    if !authority.enabled {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "authority_disabled",
            "This way of signing in is not available.",
        ));
    }
    let details = details(authority)?;
    let posted = read_form(req, body).await?;
    let message = posted.saml_response.clone();
    let in_response_to = tokio::task::spawn_blocking(move || unverified_in_response_to(&message))
        .await
        .map_err(|e| Refusal::internal("internal", e))?
        .map_err(|e| refusal(&e))?;
    let pending = match in_response_to {
        Some(request_id) => {
            match take_pending_by_request(state, req, &authority.id, &request_id).await? {
                Some(pending) => Some((pending, request_id)),
                None if details.allow_idp_initiated => {
                    return Err(refusal(&SamlError::UnsolicitedWithInResponseTo(request_id)));
                }
                None => {
                    return Err(Refusal::no_pending()
                        .with_detail("no pending login for the response's InResponseTo"));
                }
            }
        }
        None if details.allow_idp_initiated => None,
        None => return Err(refusal(&SamlError::UnsolicitedNotAllowed)),
    };
    Ok(Found {
        details,
        posted,
        pending,
    })
}

/// Everything between finding the attempt and finishing the login: RelayState, signature and
/// assertion checks, replay.
async fn verify(
    state: &Engine,
    authority: &Authority,
    found: &Found,
) -> Result<VerifiedAssertion, Refusal> {
    if let (Some((pending, _)), Some(posted)) = (&found.pending, &found.posted.relay_state) {
        let stored = pending
            .login
            .data
            .get("relay_state")
            .and_then(Value::as_str);
        if !stored.is_some_and(|s| secret::constant_time_eq(s.as_bytes(), posted.as_bytes())) {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "relay_state_mismatch",
                SamlError::USER_MESSAGE,
            )
            .with_detail("the posted RelayState is not the attempt's"));
        }
    }
    let details = &found.details;
    let idp = identity_provider(state, authority, details).await?;
    let sp = sp_config(state, &authority.id, details);
    let message = found.posted.saml_response.clone();
    let expected = found.pending.as_ref().map(|(_, id)| id.clone());
    let allow_idp_initiated = details.allow_idp_initiated;
    let skew = details.allowed_clock_skew_secs;
    let verified = tokio::task::spawn_blocking(move || {
        verify_response(
            &sp,
            &idp,
            &message,
            expected.as_deref(),
            allow_idp_initiated,
            now(),
            skew,
        )
    })
    .await
    .map_err(|e| Refusal::internal("internal", e))?
    .map_err(|e| refusal(&e))?;
    let first = crate::engine::upstream_login::first_use_of_assertion(
        state,
        &authority.id,
        &verified.assertion_id,
        verified.replay_until,
    )
    .await?;
    if !first {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "assertion_replay",
            SamlError::USER_MESSAGE,
        )
        .with_detail(format!(
            "assertion {} of {} was already used",
            verified.assertion_id, verified.issuer
        )));
    }
    Ok(verified)
}

/// The ACS form: `SAMLResponse` (required) and `RelayState`, form-encoded, bounded.
async fn read_form(req: &Request, body: Body) -> Result<Posted, Refusal> {
    let bad = |detail: &str| {
        Refusal::new(StatusCode::BAD_REQUEST, "bad_form", SamlError::USER_MESSAGE)
            .with_detail(detail)
    };
    let deadline = intake::body_deadline(req);
    let bytes = intake::read_body(body, MAX_ACS_BODY_BYTES, deadline)
        .await
        .map_err(|e| match e {
            Unread::TooLarge => Refusal::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                SamlError::USER_MESSAGE,
            )
            .with_detail(format!(
                "the ACS body is larger than {MAX_ACS_BODY_BYTES} bytes"
            )),
            Unread::TooSlow => Refusal::new(
                StatusCode::REQUEST_TIMEOUT,
                "too_slow",
                SamlError::USER_MESSAGE,
            )
            .with_detail(format!(
                "the ACS body did not arrive within {} seconds",
                deadline.as_secs()
            )),
            Unread::BrokenOff => bad("the body broke off"),
        })?;
    if !crate::http::oauth2::has_form_content_type(req) {
        return Err(bad("the body is not application/x-www-form-urlencoded"));
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| bad("the body is not UTF-8"))?;
    let params = Params::parse(text).map_err(|e| bad(&e.to_string()))?;
    let saml_response = params
        .get("SAMLResponse")
        .ok_or_else(|| bad("no SAMLResponse"))?;
    Ok(Posted {
        saml_response: Arc::from(saml_response),
        relay_state: params.get("RelayState").map(str::to_owned),
    })
}

/// The authority's stored details, parsed (the admin API stored them validated; a failure here
/// is a configuration problem on our side).
fn details(authority: &Authority) -> Result<SamlDetails, Refusal> {
    SamlDetails::from_details(&authority.details)
        .map_err(|e| Refusal::internal("invalid_config", e))
}

/// Our side of the federation for this authority.
fn sp_config(state: &Engine, authority_id: &str, details: &SamlDetails) -> SpConfig {
    let issuer = state.config.issuer_url();
    SpConfig::new(
        authority_id,
        details,
        acs_url(&issuer, authority_id),
        Some(metadata_url(&issuer, authority_id)),
    )
}

/// The IdP `authority` trusts now (see `crate::engine::saml_metadata` for the refresh policy).
async fn identity_provider(
    state: &Engine,
    authority: &Authority,
    details: &SamlDetails,
) -> Result<Arc<IdentityProvider>, Refusal> {
    state
        .saml_metadata
        .identity_provider(&authority.id, &details.metadata)
        .await
        .map_err(|failure| metadata_refusal(&failure))
}

/// The IdP cannot be used: not the person's doing, so a 503 and a "not available" page.
fn metadata_refusal(failure: &MetadataFailure) -> Refusal {
    Refusal::new(
        StatusCode::SERVICE_UNAVAILABLE,
        failure.reason(),
        UNAVAILABLE,
    )
    .with_detail(failure)
}

/// What the person sees and the audit records for a [`SamlError`]: always the one generic
/// message, the reason code, and the detail for the log.
fn refusal(error: &SamlError) -> Refusal {
    let status = match error {
        SamlError::Internal(_) => return Refusal::internal(error.reason(), error),
        // A decision: the IdP said no (cancelled, no such user), or we take no unsolicited logins.
        SamlError::Status(_) | SamlError::UnsolicitedNotAllowed => StatusCode::FORBIDDEN,
        _ => StatusCode::BAD_REQUEST,
    };
    Refusal::new(status, error.reason(), SamlError::USER_MESSAGE).with_detail(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_follow_the_issuer() {
        assert_eq!(
            acs_url("https://id.example/", "corp"),
            "https://id.example/login/corp/acs"
        );
        assert_eq!(
            metadata_url("https://id.example", "corp"),
            "https://id.example/login/corp/metadata"
        );
    }

    #[test]
    fn refusals_are_generic() {
        let error = SamlError::Audience {
            expected: "https://sp.example".into(),
            found: vec!["https://evil.example".into()],
        };
        let r = refusal(&error);
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert_eq!(r.reason, "audience_mismatch");
        assert_eq!(
            r.message,
            "The sign-in response from the identity provider could not be accepted."
        );
        assert!(r.detail.unwrap_or_default().contains("evil"));
        assert_eq!(
            refusal(&SamlError::Status("Requester".into())).status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            refusal(&SamlError::Internal("x".into())).status,
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
