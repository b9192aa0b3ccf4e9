//! The authorization decision (RFC 6749 §4.1.1, OIDC Core §3.1.2) behind `GET|POST
//! /oauth2/authorize` and the consent page's answer.
//!
//! Order of checks, and where each failure goes:
//! 1. the parameters parse (none repeated), `client_id` names an enabled client, and
//!    `redirect_uri` is one of its registered URIs (exact, RFC 8252 §7.3 loopback ports aside).
//!    Until then nothing is redirected: the error is shown on a page (RFC 6749 §4.1.2.1, no open
//!    redirect).
//! 2. everything else — `response_type=code`, PKCE (S256 only; required for public clients),
//!    `scope`, `prompt`, `max_age` — answers by redirecting to the client with `error`, `state`
//!    and `iss` (RFC 9207).
//! 3. no session (or `prompt=login`, or an authentication older than `max_age`) → the login page,
//!    which comes back here; with `prompt=none` → `login_required` instead.
//! 4. consent is asked unless the client is trusted or the user's grant already covers what is
//!    asked (`prompt=consent` always asks; `prompt=none` → `consent_required`). The answer, posted
//!    to `/oauth2/consent` with the original request, re-runs every check above and then updates
//!    the grant.
//! 5. a single-use code (256 random bits, stored hashed, `tokens.authorization_code_ttl_secs` ≤
//!    60 s) bound to the client, the redirect URI, the PKCE challenge, the nonce and the session's
//!    authentication time.
//!
//! What the code may be exchanged for is the requested realm patterns ∩ the client's ceiling ∩
//! the user's access now (deny applied), plus the OIDC scopes asked for; the token endpoint
//! narrows it again with the grant and the user's access at exchange time.

use std::collections::BTreeSet;

use serde_json::json;

use super::error::{ErrorCode, OAuth2Error};
use super::params::Params;
use super::pkce;
use super::redirect::find_registered;
use super::scope::{RequestedScope, check_ceiling, effective, realm_set, to_stored};
use crate::domain::client::{Client, ClientType};
use crate::domain::session::Session;
use crate::domain::token::NewAuthorizationCode;
use crate::domain::user::User;
use crate::engine::Engine;
use crate::engine::audit::{self, Context};
use crate::secret;
use crate::store::StoreError;

/// Prefix of authorization codes (recognisable for secret scanners).
pub const CODE_PREFIX: &str = "axc_";

/// The longest authorization request kept for the round trip through the login page (the login
/// page's `return_to` limit, less the path).
const MAX_REQUEST_LEN: usize = 1900;

/// The longest `state` or `nonce` accepted.
const MAX_OPAQUE_LEN: usize = 1024;

/// The user's answer on the consent page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
}

/// `prompt` (OIDC Core §3.1.2.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

impl Prompt {
    pub fn parse(value: Option<&str>) -> Result<Self, OAuth2Error> {
        let mut prompt = Self::default();
        for v in value
            .unwrap_or_default()
            .split(' ')
            .filter(|v| !v.is_empty())
        {
            match v {
                "none" => prompt.none = true,
                "login" => prompt.login = true,
                "consent" => prompt.consent = true,
                // Every account is chosen by signing in; there is nothing else to select.
                "select_account" => prompt.login = true,
                _ => {
                    return Err(OAuth2Error::invalid_request(
                        "prompt must be none, login, consent or select_account",
                    ));
                }
            }
        }
        if prompt.none && (prompt.login || prompt.consent) {
            return Err(OAuth2Error::invalid_request(
                "prompt=none cannot be combined with other values",
            ));
        }
        Ok(prompt)
    }
}

/// A validated authorization request (steps 1 and 2).
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    pub client: Client,
    pub redirect_uri: String,
    pub nonce: Option<String>,
    pub scope: RequestedScope,
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
}

/// Why a request could not be answered at its redirect URI (step 1): nothing is redirected.
#[derive(Debug)]
pub enum Unverified {
    /// What the person is told on the error page.
    Page(&'static str),
    /// The database failed.
    Store(StoreError),
}

/// What the request leads to.
#[derive(Debug)]
pub enum Step {
    /// A code to send to the client.
    Code(String),
    /// The login page, which resumes the request at `return_to`.
    Login { return_to: String },
    /// The consent page.
    Consent(Box<ConsentPrompt>),
}

/// What the consent page asks.
#[derive(Debug)]
pub struct ConsentPrompt {
    pub client: Client,
    pub user: User,
    /// The OpenID Connect scopes asked for.
    pub oidc: Vec<&'static str>,
    /// The realm patterns the client would receive (already narrowed to the user's access).
    pub realm: Vec<String>,
    /// The authorization request, form-encoded, for the answer to post back.
    pub request: String,
}

/// Why it stopped.
#[derive(Debug)]
pub enum Failure {
    /// An error for the client, at its redirect URI.
    Redirect(OAuth2Error),
    /// An error for the person (the database failed).
    Store(StoreError),
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        match &error {
            StoreError::Unavailable(_) => Self::Redirect(OAuth2Error::unavailable(&error)),
            _ => Self::Store(error),
        }
    }
}

/// Where the authorization request in `return_to` (a local path the login page will resume) ends:
/// its redirect URI, when it names an enabled client and one of that client's registered URIs.
/// Signing in may complete such a request at once (consent already given), so the login page's
/// `form-action` must allow this address and no other (see `web::csp`).
pub async fn resume_target(state: &Engine, return_to: &str) -> Option<String> {
    let query = return_to.strip_prefix("/oauth2/authorize?")?;
    let params = Params::parse(query).ok()?;
    client_and_redirect(state, &params)
        .await
        .ok()
        .map(|(_, uri)| uri)
}

/// Step 1: the client and its redirect URI, or an error page.
pub async fn client_and_redirect(
    state: &Engine,
    params: &Params,
) -> Result<(Client, String), Unverified> {
    let Some(client_id) = params.get("client_id") else {
        return Err(Unverified::Page(
            "The request does not name an application (client_id).",
        ));
    };
    let client = match state
        .store
        .get_client(client_id)
        .await
        .map_err(Unverified::Store)?
    {
        Some(client) if client.enabled => client,
        _ => {
            return Err(Unverified::Page(
                "The application that sent you here is unknown or disabled.",
            ));
        }
    };
    let Some(presented) = params.get("redirect_uri") else {
        return Err(Unverified::Page(
            "The request does not say where to return to (redirect_uri).",
        ));
    };
    if find_registered(&client.redirect_uris, presented).is_none() {
        return Err(Unverified::Page(
            "The address the application asked to return to is not registered for it. Nothing \
             was sent there.",
        ));
    }
    Ok((client, presented.to_owned()))
}

/// Step 2: the rest of the request; errors are redirected.
pub fn parse_request(
    client: Client,
    redirect_uri: &str,
    params: &Params,
) -> Result<AuthorizationRequest, OAuth2Error> {
    if params.get("request").is_some() || params.get("request_uri").is_some() {
        return Err(OAuth2Error::invalid_request(
            "request objects (request, request_uri) are not supported",
        ));
    }
    match params.get("response_type") {
        None => return Err(OAuth2Error::invalid_request("response_type is required")),
        Some("code") => {}
        Some(_) => {
            return Err(OAuth2Error::new(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            ));
        }
    }
    if params.get("response_mode").is_some_and(|m| m != "query") {
        return Err(OAuth2Error::invalid_request(
            "only response_mode=query is supported",
        ));
    }
    let code_challenge = match (
        params.get("code_challenge"),
        params.get("code_challenge_method"),
    ) {
        (None, None) => None,
        (Some(_), None) => {
            return Err(OAuth2Error::invalid_request(
                "code_challenge_method is required (S256); plain is not accepted",
            ));
        }
        (None, Some(_)) => {
            return Err(OAuth2Error::invalid_request(
                "code_challenge_method was sent without code_challenge",
            ));
        }
        (Some(challenge), Some(method)) => {
            if method != pkce::S256 {
                return Err(OAuth2Error::invalid_request(
                    "code_challenge_method must be S256",
                ));
            }
            if !pkce::is_valid_challenge(challenge) {
                return Err(OAuth2Error::invalid_request(
                    "code_challenge must be 43 base64url characters (S256)",
                ));
            }
            Some(challenge.to_owned())
        }
    };
    if client.client_type == ClientType::Public && code_challenge.is_none() {
        return Err(OAuth2Error::invalid_request(
            "public clients must use PKCE (code_challenge with code_challenge_method=S256)",
        ));
    }
    let scope = RequestedScope::parse(params.get("scope"))?;
    check_ceiling(&scope, &realm_set(&client.scopes))?;
    let prompt = Prompt::parse(params.get("prompt"))?;
    let max_age = match params.get("max_age") {
        None => None,
        Some(v) => Some(v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            OAuth2Error::invalid_request("max_age must be a non-negative integer")
        })?),
    };
    let nonce = params.get("nonce").map(str::to_owned);
    if nonce.as_ref().is_some_and(|n| n.len() > MAX_OPAQUE_LEN)
        || params
            .get("state")
            .is_some_and(|s| s.len() > MAX_OPAQUE_LEN)
    {
        return Err(OAuth2Error::invalid_request("state or nonce is too long"));
    }
    Ok(AuthorizationRequest {
        redirect_uri: redirect_uri.to_owned(),
        client,
        nonce,
        scope,
        code_challenge,
        prompt,
        max_age,
    })
}

/// Steps 3 to 5, for the browser's `session` (if signed in) and the person's `decision` on the
/// consent page (if this is its answer), at `now`.
pub async fn authorize(
    state: &Engine,
    ctx: &Context,
    params: &Params,
    request: &AuthorizationRequest,
    session: Option<Session>,
    decision: Option<Decision>,
    now: i64,
) -> Result<Step, Failure> {
    let fresh_enough = |s: &Session| {
        request
            .max_age
            .is_none_or(|max| now.saturating_sub(s.auth_time) <= max)
    };
    let session = match session {
        // On the way back from the login page `prompt=login` is gone (see `login_redirect`).
        Some(s) if !request.prompt.login && fresh_enough(&s) => s,
        _ if request.prompt.none => {
            return Err(Failure::Redirect(OAuth2Error::new(
                ErrorCode::LoginRequired,
                "the user is not signed in",
            )));
        }
        _ => return login_redirect(params),
    };
    let Some((user, access)) = crate::engine::session::holder(state, &session).await? else {
        return login_redirect(params);
    };
    let client = &request.client;
    let ceiling = realm_set(&client.scopes);
    let offered = effective(&access, request.scope.realm_or(&ceiling), &[&ceiling]);
    let grant = state.store.find_grant(&user.id, &client.id).await?;
    let covered = grant.as_ref().is_some_and(|g| {
        let granted = RequestedScope::from_stored(&g.scopes);
        realm_set(&g.scopes).is_superset(&offered.scopes)
            && request.scope.oidc.iter().all(|s| granted.has(s))
    });
    if decision == Some(Decision::Deny) {
        let mut event = ctx
            .event("user", Some(&user.id), "grant.deny")
            .target("client", &client.id);
        event.outcome = crate::domain::audit::Outcome::Denied;
        audit::record(state, event).await;
        return Err(Failure::Redirect(OAuth2Error::new(
            ErrorCode::AccessDenied,
            "the user denied the request",
        )));
    }
    let needs_consent =
        decision.is_none() && (request.prompt.consent || (!client.trusted && !covered));
    if needs_consent {
        if request.prompt.none {
            return Err(Failure::Redirect(OAuth2Error::new(
                ErrorCode::ConsentRequired,
                "the user has not consented to this request",
            )));
        }
        return Ok(Step::Consent(Box::new(ConsentPrompt {
            client: client.clone(),
            user,
            oidc: request.scope.oidc.iter().copied().collect(),
            realm: offered.scopes.to_strings(),
            request: params.to_query(&[]),
        })));
    }
    // The grant records what the user agreed to (or, for a trusted client, what it received):
    // the union of what it held and what is given now.
    let mut oidc: BTreeSet<&'static str> = request.scope.oidc.clone();
    let mut granted = offered.scopes.clone();
    if let Some(g) = &grant {
        oidc.extend(RequestedScope::from_stored(&g.scopes).oidc);
        granted = realm_set(&g.scopes)
            .into_iter()
            .chain(offered.scopes.iter().cloned())
            .collect::<crate::scopes::ScopeSet>()
            .simplify();
    }
    let grant = match grant {
        Some(grant) if covered && decision.is_none() => grant,
        _ => {
            let updated = state
                .store
                .upsert_grant(&user.id, &client.id, to_stored(&oidc, &granted))
                .await?;
            if decision == Some(Decision::Allow) {
                let mut event = ctx
                    .event("user", Some(&user.id), "grant.consent")
                    .target("client", &client.id);
                event.details = json!({ "grant_id": updated.id, "scopes": updated.scopes });
                audit::record(state, event).await;
            }
            updated
        }
    };
    let code = secret::generate(CODE_PREFIX);
    let ttl = i64::try_from(state.config.tokens.authorization_code_ttl_secs).unwrap_or(60);
    let scopes = to_stored(&request.scope.oidc, &offered.scopes);
    state
        .store
        .create_authorization_code(NewAuthorizationCode {
            code_hash: secret::hash(&code),
            grant_id: grant.id.clone(),
            client_id: client.id.clone(),
            user_id: user.id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            scopes: scopes.clone(),
            nonce: request.nonce.clone(),
            code_challenge: request.code_challenge.clone(),
            code_challenge_method: request
                .code_challenge
                .as_ref()
                .map(|_| pkce::S256.to_owned()),
            auth_time: session.auth_time,
            session_id: Some(session.id_hash.clone()),
            expires_at: now.saturating_add(ttl),
        })
        .await?;
    let mut event = ctx
        .event("user", Some(&user.id), "oauth2.code.issue")
        .target("client", &client.id);
    event.details =
        json!({ "grant_id": grant.id, "scopes": scopes, "pkce": request.code_challenge.is_some() });
    audit::record_unchanged(state, event).await;
    Ok(Step::Code(code))
}

/// Sends the browser to the login page, which returns to this request — without `prompt=login`
/// and `max_age`, which the fresh sign-in satisfies (kept, they would send the user round again).
fn login_redirect(params: &Params) -> Result<Step, Failure> {
    let mut params = params.clone();
    let prompt: Vec<&str> = params
        .get("prompt")
        .unwrap_or_default()
        .split(' ')
        .filter(|p| !p.is_empty() && *p != "login" && *p != "select_account")
        .collect();
    let prompt = prompt.join(" ");
    let mut skip = vec!["max_age"];
    if prompt.is_empty() {
        skip.push("prompt");
    } else {
        params.set("prompt", prompt);
    }
    let return_to = format!("/oauth2/authorize?{}", params.to_query(&skip));
    if return_to.len() > MAX_REQUEST_LEN {
        return Err(Failure::Redirect(OAuth2Error::invalid_request(
            "the authorization request is too long to resume after signing in",
        )));
    }
    Ok(Step::Login { return_to })
}
