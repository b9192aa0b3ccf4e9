//! The authorization endpoint (RFC 6749 §4.1.1, OIDC Core §3.1.2): `GET|POST /oauth2/authorize`,
//! and `POST /oauth2/consent`, where the consent page posts the user's answer.
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

use poem::http::StatusCode;
use poem::web::{Data, Form};
use poem::{Body, Request, Response, handler};
use serde_json::json;

use super::{Params, read_form};
use crate::domain::access::Access;
use crate::domain::client::{Client, ClientType};
use crate::domain::now;
use crate::domain::token::NewAuthorizationCode;
use crate::engine::Engine;
use crate::engine::audit;
use crate::engine::oauth2::error::{ErrorCode, OAuth2Error};
use crate::engine::oauth2::pkce;
use crate::engine::oauth2::redirect::{find_registered, form_encode, with_params};
use crate::engine::oauth2::scope::{
    RequestedScope, check_ceiling, effective, realm_set, to_stored,
};
use crate::http::web::pages::consent::{ConsentView, render_consent};
use crate::http::web::pages::errors::PageError;
use crate::http::web::pages::layout::see_other;
use crate::http::web::pages::{Fields, audit_event};
use crate::http::web::session::{Session, current_session};
use crate::secret;

/// Prefix of authorization codes (recognisable for secret scanners).
pub const CODE_PREFIX: &str = "axc_";

/// The longest authorization request kept for the round trip through the login page (the login
/// page's `return_to` limit, less the path).
const MAX_REQUEST_LEN: usize = 1900;

/// The longest `state` or `nonce` accepted.
const MAX_OPAQUE_LEN: usize = 1024;

/// `GET /oauth2/authorize`.
#[handler]
pub async fn authorize_get(req: &Request, state: Data<&Engine>) -> Result<Response, PageError> {
    let params = Params::parse(req.uri().query().unwrap_or_default()).map_err(bad_request)?;
    handle(&state, req, params, None).await
}

/// `POST /oauth2/authorize` (OIDC Core §3.1.2.1: the request may also arrive form-encoded).
#[handler]
pub async fn authorize_post(
    req: &Request,
    body: Body,
    state: Data<&Engine>,
) -> Result<Response, PageError> {
    let params = read_form(req, body).await.map_err(bad_request)?;
    handle(&state, req, params, None).await
}

/// `POST /oauth2/consent` (form: `csrf_token`, `request` — the original request as a query
/// string — and `decision`, `allow` or `deny`).
#[handler]
pub async fn consent(
    req: &Request,
    state: Data<&Engine>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let fields = Fields(fields);
    fields.check_csrf(req)?;
    let params = Params::parse(fields.get("request")).map_err(bad_request)?;
    let decision = match fields.get("decision") {
        "allow" => Decision::Allow,
        "deny" => Decision::Deny,
        _ => {
            return Err(PageError::new(
                StatusCode::BAD_REQUEST,
                "Invalid request",
                "The consent form was incomplete. Go back to the application and try again.",
            ));
        }
    };
    handle(&state, req, params, Some(decision)).await
}

/// The user's answer on the consent page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Allow,
    Deny,
}

/// `prompt` (OIDC Core §3.1.2.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Prompt {
    none: bool,
    login: bool,
    consent: bool,
}

impl Prompt {
    fn parse(value: Option<&str>) -> Result<Self, OAuth2Error> {
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
struct AuthorizationRequest {
    client: Client,
    redirect_uri: String,
    nonce: Option<String>,
    scope: RequestedScope,
    code_challenge: Option<String>,
    prompt: Prompt,
    max_age: Option<i64>,
}

/// Where answers go once the redirect URI is known.
struct Reply {
    redirect_uri: String,
    state: Option<String>,
    issuer: String,
}

impl Reply {
    fn send(&self, params: &[(&str, &str)]) -> Response {
        let mut all: Vec<(&str, &str)> = params.to_vec();
        if let Some(state) = &self.state {
            all.push(("state", state));
        }
        all.push(("iss", &self.issuer));
        see_other(&with_params(&self.redirect_uri, &all), &[])
    }

    fn error(&self, error: &OAuth2Error) -> Response {
        let mut params = vec![("error", error.code.as_str())];
        if let Some(description) = &error.description {
            params.push(("error_description", description));
        }
        self.send(&params)
    }
}

async fn handle(
    state: &Engine,
    req: &Request,
    params: Params,
    decision: Option<Decision>,
) -> Result<Response, PageError> {
    let (client, redirect_uri) = client_and_redirect(state, &params).await?;
    let reply = Reply {
        redirect_uri,
        state: params.get("state").map(str::to_owned),
        issuer: state.config.issuer_url(),
    };
    let request = match parse_request(client, &reply, &params) {
        Ok(request) => request,
        Err(error) => return Ok(reply.error(&error)),
    };
    match authorize(state, req, &params, &request, decision).await {
        Ok(Step::Code(code)) => Ok(reply.send(&[("code", &code)])),
        Ok(Step::Page(response)) => Ok(response),
        Err(Failure::Redirect(error)) => Ok(reply.error(&error)),
        Err(Failure::Page(error)) => Err(error),
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
async fn client_and_redirect(
    state: &Engine,
    params: &Params,
) -> Result<(Client, String), PageError> {
    let Some(client_id) = params.get("client_id") else {
        return Err(page_error(
            "The request does not name an application (client_id).",
        ));
    };
    let client = match state.store.get_client(client_id).await? {
        Some(client) if client.enabled => client,
        _ => {
            return Err(page_error(
                "The application that sent you here is unknown or disabled.",
            ));
        }
    };
    let Some(presented) = params.get("redirect_uri") else {
        return Err(page_error(
            "The request does not say where to return to (redirect_uri).",
        ));
    };
    if find_registered(&client.redirect_uris, presented).is_none() {
        return Err(page_error(
            "The address the application asked to return to is not registered for it. Nothing \
             was sent there.",
        ));
    }
    Ok((client, presented.to_owned()))
}

/// Step 2: the rest of the request; errors are redirected.
fn parse_request(
    client: Client,
    reply: &Reply,
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
        || reply
            .state
            .as_ref()
            .is_some_and(|s| s.len() > MAX_OPAQUE_LEN)
    {
        return Err(OAuth2Error::invalid_request("state or nonce is too long"));
    }
    Ok(AuthorizationRequest {
        redirect_uri: reply.redirect_uri.clone(),
        client,
        nonce,
        scope,
        code_challenge,
        prompt,
        max_age,
    })
}

/// What the request leads to.
enum Step {
    /// A code to send to the client.
    Code(String),
    /// A page for the browser (the login redirect or the consent page).
    Page(Response),
}

/// Why it stopped.
enum Failure {
    /// An error for the client.
    Redirect(OAuth2Error),
    /// An error for the person (the database failed).
    Page(PageError),
}

impl From<crate::store::StoreError> for Failure {
    fn from(error: crate::store::StoreError) -> Self {
        match &error {
            crate::store::StoreError::Unavailable(_) => {
                Self::Redirect(OAuth2Error::unavailable(&error))
            }
            _ => Self::Page(PageError::internal(&error)),
        }
    }
}

/// Steps 3 to 5.
async fn authorize(
    state: &Engine,
    req: &Request,
    params: &Params,
    request: &AuthorizationRequest,
    decision: Option<Decision>,
) -> Result<Step, Failure> {
    let session = current_session(state, req).await?;
    let fresh_enough = |s: &Session| {
        request
            .max_age
            .is_none_or(|max| now().saturating_sub(s.auth_time) <= max)
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
    let Some(user) = state.store.get_user(&session.user_id).await? else {
        return login_redirect(params);
    };
    let access = state
        .store
        .access_of_user(&user.id)
        .await?
        .map(|a| Access::of_user(&a))
        .unwrap_or_else(Access::none);
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
        let mut event = audit_event(req, Some(&user.id), "grant.deny").target("client", &client.id);
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
        let view = ConsentView {
            client,
            user: &user,
            oidc: request.scope.oidc.iter().copied().collect(),
            realm: offered.scopes.to_strings(),
            request: params.to_query(&[]),
            redirect_uri: &request.redirect_uri,
        };
        return Ok(Step::Page(render_consent(req, &view)));
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
                let mut event =
                    audit_event(req, Some(&user.id), "grant.consent").target("client", &client.id);
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
            expires_at: now().saturating_add(ttl),
        })
        .await?;
    let mut event =
        audit_event(req, Some(&user.id), "oauth2.code.issue").target("client", &client.id);
    event.details =
        json!({ "grant_id": grant.id, "scopes": scopes, "pkce": request.code_challenge.is_some() });
    audit::record(state, event).await;
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
    Ok(Step::Page(see_other(
        &format!("/login?return_to={}", form_encode(&return_to)),
        &[],
    )))
}

fn page_error(message: &str) -> PageError {
    PageError::new(
        StatusCode::BAD_REQUEST,
        "Invalid authorization request",
        message,
    )
}

fn bad_request(error: OAuth2Error) -> PageError {
    page_error(&format!(
        "The application sent an invalid request: {}.",
        error
            .description
            .as_deref()
            .unwrap_or("malformed parameters")
    ))
}
