//! Signing in through an upstream identity provider (reference §3 google and saml, §6): the part every
//! such strategy shares. The strategy modules (`upstream_oidc`, later SAML) only talk to their
//! provider; this module owns the browser and the server side:
//!
//! - **starting** — `GET /login/:id` ([`start_login`]) and, for a signed-in user linking another
//!   way to sign in, `GET /account/link/:id` ([`start_link`]): the strategy builds the redirect
//!   ([`Started`]); here the attempt is stored as a pending row (`upstream_logins`, 10 minutes),
//!   the browser gets an HttpOnly, SameSite=Lax cookie holding only a random 256-bit id (the row
//!   keeps its SHA-256), and a 303 to the provider;
//! - **taking the attempt back** — [`take_pending`] (the callback's cookie) or
//!   [`take_pending_by_request`] (a SAML ACS, which browsers post cross-site without SameSite=Lax
//!   cookies: the row is found by the hash of the id the provider echoes, `InResponseTo`). Both
//!   delete the row in the statement that reads it, so each attempt finishes at most once. A
//!   response found without the cookie finishes only after a same-site redirect brings the
//!   cookie back ([`continue_in_browser`], then [`resume`]);
//! - **finishing** — [`complete`]: the verified identity goes through the reference §3 resolution
//!   (`crate::engine::identity::resolve_identity`), then either a new session (`login.success`) or, for
//!   linking, a check that the identity landed on the linking user. An IdP-initiated SAML login
//!   finishes without any attempt (a sign-in, never a link, landing on the account page);
//! - **refusing** — [`fail`]: a page with the status, a message that says nothing about which
//!   accounts exist, and a way back (the login page, or the account page when linking), plus a
//!   `login.failure` audit event `{"authority", "reason"}`; the detail goes to the log only.
//!   Nothing is created on any refusal: the identity is resolved only after every check passed.
//!
//! The linking start is a plain GET (a link on the account page) on purpose: all it can do is send
//! the signed-in user to the provider, where they must prove an identity of their own; the
//! callback then requires the same user to still be signed in (see [`complete`]).
//!
//! The strategies: `upstream_oidc` (google: `GET /login/:id/callback`) and `upstream_saml`
//! (saml: `GET /login/:id/metadata`, `POST /login/:id/acs`, which finds its attempt with
//! [`take_pending_by_request`] by the response's `InResponseTo`, verifies, records the assertion
//! id against replays and hands over with [`continue_in_browser`], and
//! `GET /login/:id/acs/continue`, which ends with [`complete`] or [`fail`] like the OpenID
//! Connect callback).

use std::fmt::Display;

use maud::html;
use poem::http::StatusCode;
use poem::web::cookie::Cookie;
use poem::{Request, Response};
use serde_json::Value;

use crate::domain::audit::Outcome;
use crate::domain::authority::{Authority, Strategy};
use crate::domain::now;
use crate::engine::Engine;
use crate::engine::identity::{LoginError, VerifiedIdentity};
use crate::engine::upstream_login::{self, Continuation, Finished};
use crate::http::web::pages::encode_query_value;
use crate::http::web::pages::layout::{html_response, page, see_other};
use crate::http::web::return_to::safe_return_to;
use crate::http::web::session::{
    cookie, current_session, is_random_token, request_cookie, session_cookie, session_id,
};
use crate::store::{StoreError, UpstreamLogin};

pub use authx_strategy_core::UpstreamIdentity;

/// The cookie naming this browser's pending upstream login.
pub const PENDING_COOKIE: &str = "authx_upstream";
pub use crate::engine::upstream_login::{PENDING_ID_PREFIX, PENDING_TTL_SECS};
/// The cookie is sent only where it is read: the callbacks under `/login/<id>/`.
pub(super) const PENDING_COOKIE_PATH: &str = "/login/";
/// Where a linking attempt returns to.
pub(super) const LINKED_RETURN_TO: &str = "/account?notice=linked";

/// Whether authx runs sign-ins through authorities of `strategy`: they get a button on the login
/// page and a "Link" button on the account page, and `/login/<id>` starts them.
pub fn has_flow(strategy: Strategy) -> bool {
    matches!(strategy, Strategy::Google | Strategy::Saml)
}

/// What a strategy returns when it starts a login.
pub struct Started {
    /// The provider's URL to send the browser to (303).
    pub url: String,
    /// The strategy's secrets for the callback, stored server-side in the pending row.
    pub data: Value,
    /// A correlation id the provider echoes back (SAML: the AuthnRequest id), by which the row is
    /// found when the browser comes back without the cookie; `None` for OpenID Connect.
    pub request_id: Option<String>,
}

/// A pending login taken back for its callback.
#[derive(Debug)]
pub struct Pending {
    /// The row, deleted from the store.
    pub login: UpstreamLogin,
}

/// Why an upstream login did not go through: what the person is shown and what is recorded.
#[derive(Debug)]
pub struct Refusal {
    /// The page's status (400 for a broken or stale attempt, 403 for a refusal, 500 for ours).
    pub status: StatusCode,
    /// A short, stable code for the audit event and the log (`hd_not_allowed`, …).
    pub reason: &'static str,
    /// What the person reads: generic, never upstream text, never whether an account exists.
    pub message: String,
    /// For the log only.
    pub detail: Option<String>,
}

impl Refusal {
    /// A refusal with `status`, `reason` and the `message` to show.
    pub fn new(status: StatusCode, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            reason,
            message: sentence(&message.into()),
            detail: None,
        }
    }

    /// Adds what the log should say.
    #[must_use]
    pub fn with_detail(mut self, detail: impl Display) -> Self {
        self.detail = Some(detail.to_string());
        self
    }

    /// No usable pending login: no cookie, an unknown or expired one, or one already used.
    pub fn no_pending() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "no_pending_login",
            "This sign-in attempt has expired or was already used. Please start again.",
        )
    }

    /// A failure on authx's side (the detail is logged, never shown).
    pub fn internal(reason: &'static str, detail: impl Display) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            reason,
            "Something went wrong on our side. Try again in a moment.",
        )
        .with_detail(detail)
    }

    /// Whether this is a decision (403) rather than a broken attempt or a fault.
    fn outcome(&self) -> Outcome {
        if self.status == StatusCode::FORBIDDEN {
            Outcome::Denied
        } else {
            Outcome::Failure
        }
    }
}

impl From<StoreError> for Refusal {
    fn from(error: StoreError) -> Self {
        Self::internal("store", crate::telemetry::ErrorChain(&error))
    }
}

impl From<LoginError> for Refusal {
    /// `LoginError`'s messages are already safe to show (they reveal no account).
    fn from(error: LoginError) -> Self {
        match error {
            LoginError::Store(e) => e.into(),
            LoginError::Disabled => Self::new(
                StatusCode::FORBIDDEN,
                "disabled",
                LoginError::Disabled.to_string(),
            ),
            LoginError::NotLinked => Self::new(
                StatusCode::FORBIDDEN,
                "not_linked",
                LoginError::NotLinked.to_string(),
            ),
        }
    }
}

/// The cookie that removes the pending-login cookie from the browser; every callback answer sets
/// it, whatever the outcome.
pub fn removal_cookie(state: &Engine) -> Cookie {
    let mut removal = cookie(state, PENDING_COOKIE, String::new());
    removal.set_path(PENDING_COOKIE_PATH);
    removal.make_removal();
    removal
}

/// Takes (deletes and returns) the pending login named by the request's cookie, if it is there
/// and unexpired.
pub async fn take_pending(state: &Engine, req: &Request) -> Result<Option<Pending>, StoreError> {
    let Some(id) = pending_cookie_value(req) else {
        return Ok(None);
    };
    let login = upstream_login::take(state, &id, now()).await?;
    Ok(login.map(|login| Pending { login }))
}

/// Takes the pending login of `authority_id` whose correlation id (SAML: the AuthnRequest id, as
/// `InResponseTo` brings it back) is `request_id`, for callbacks that arrive without the cookie.
///
/// The request id only finds the attempt (128 random bits, single use, 10 minutes); it does not
/// bind the response to a browser. That binding is the pending cookie, checked after the response
/// is verified ([`continue_in_browser`], [`resume`]). When the cookie does arrive here (a
/// same-site provider), it must already name this very row, else `None`.
pub async fn take_pending_by_request(
    state: &Engine,
    req: &Request,
    authority_id: &str,
    request_id: &str,
) -> Result<Option<Pending>, StoreError> {
    let cookie_id = pending_cookie_value(req);
    let login = upstream_login::take_by_request(
        state,
        authority_id,
        request_id,
        cookie_id.as_deref(),
        now(),
    )
    .await?;
    Ok(login.map(|login| Pending { login }))
}

/// Finishes a sign-in whose identity `authority`'s strategy has verified: resolves it to a user
/// (reference §3) and starts a session, or, when `pending` is a linking attempt, checks that the
/// identity now belongs to the linking user. `pending` is `None` only for an IdP-initiated SAML
/// login, which has no attempt: a plain sign-in that lands on the account page. `cookies` (the
/// pending cookie's removal) go on every answer.
///
/// Every attempt reaches this point in the browser that started it: the OpenID Connect callback
/// and the SAML continuation ([`continue_in_browser`]) find their attempt by this browser's
/// pending cookie. Linking also needs the linking user to be the one signed in here, so the
/// request's session (a top-level GET carries it) must be that user's.
pub async fn complete(
    state: &Engine,
    req: &Request,
    authority: &Authority,
    pending: Option<&Pending>,
    identity: UpstreamIdentity,
    mut cookies: Vec<Cookie>,
) -> Response {
    let pending = pending.map(|p| &p.login);
    let linking = pending.and_then(|p| p.linking_user_id.as_deref());
    let back = pending.map_or_else(Back::login, Back::of);
    let refuse = async |refusal: Refusal, cookies: Vec<Cookie>| {
        fail(state, req, &authority.id, linking, &back, refusal, cookies).await
    };
    if identity.authority_id != authority.id {
        let detail = "the strategy verified an identity of another authority";
        return refuse(Refusal::internal("authority_mismatch", detail), cookies).await;
    }
    if let Some(user_id) = linking {
        // Linking is for the user who started it, still signed in in this browser.
        match current_session(state, req).await {
            Ok(Some(session)) if session.user_id == user_id => {}
            Ok(_) => {
                let refusal = Refusal::new(
                    StatusCode::FORBIDDEN,
                    "session_changed",
                    "You are no longer signed in as the account that started linking. Sign in and try again.",
                );
                return refuse(refusal, cookies).await;
            }
            Err(error) => return refuse(error.into(), cookies).await,
        }
    }
    let verified = verified_identity(&identity);
    let return_to = safe_return_to(pending.and_then(|p| p.return_to.as_deref()));
    let ctx = crate::http::context(req);
    let previous = session_id(req);
    let finished = upstream_login::finish(
        state,
        &ctx,
        authority,
        &verified,
        linking,
        previous.as_deref(),
        now(),
    )
    .await;
    match finished {
        Ok(Finished::Linked) => see_other(&return_to, &cookies),
        Ok(Finished::InUse) => {
            let refusal = Refusal::new(
                StatusCode::FORBIDDEN,
                "credential_in_use",
                format!(
                    "This {} account cannot be linked to yours: it may already be linked to another account.",
                    authority.name
                ),
            );
            refuse(refusal, cookies).await
        }
        Ok(Finished::SignedIn { session_id }) => {
            cookies.push(session_cookie(state, session_id));
            see_other(&return_to, &cookies)
        }
        Err(error) => refuse(error.into(), cookies).await,
    }
}

/// The query parameter carrying a continuation's token.
pub const CONTINUATION_PARAM: &str = "continuation";

/// Keeps `identity`, verified for the attempt `pending` that was found without this browser's
/// cookie (a cross-site POST), for a moment, and sends the posting browser to `continue_path`
/// with a one-time token in the query ([`CONTINUATION_PARAM`]).
///
/// The login finishes ([`resume`]) only where both meet: the token, which only the browser that
/// posted the response was given, and the attempt's SameSite=Lax cookie, which only the browser
/// that started the attempt holds (the redirect is a same-site top-level GET, so it carries that
/// cookie and the session's). So a response for someone's attempt posted into another browser
/// (login CSRF) finishes nowhere: the posting browser lacks the cookie. And an attempt's
/// AuthnRequest handed to someone else, who signs in at the IdP (to link *their* identity to
/// the starter's account), finishes nowhere either: the starter lacks the token.
pub async fn continue_in_browser(
    state: &Engine,
    pending: &Pending,
    identity: &UpstreamIdentity,
    continue_path: &str,
) -> Result<Response, Refusal> {
    let identity = serde_json::to_value(identity).map_err(|e| Refusal::internal("internal", e))?;
    let token = upstream_login::keep_verified(state, &pending.login, identity, now()).await?;
    let location = format!("{continue_path}?{CONTINUATION_PARAM}={token}");
    Ok(see_other(&location, &[]))
}

/// Takes back a continuation of `authority_id` kept by [`continue_in_browser`]: found by the
/// token in the query (which spends it, whoever brings it), and accepted only with this
/// browser's cookie naming it. Anything else — no token, an unknown or spent one, another
/// authority's, no cookie or another attempt's — is refused.
pub async fn resume(
    state: &Engine,
    req: &Request,
    authority_id: &str,
) -> Result<(Pending, UpstreamIdentity), Refusal> {
    let query = req.uri().query().unwrap_or_default();
    let token = crate::engine::oauth2::params::Params::parse(query)
        .ok()
        .and_then(|params| params.get(CONTINUATION_PARAM).map(str::to_owned))
        .filter(|token| token.starts_with(upstream_login::CONTINUATION_PREFIX));
    let Some(token) = token else {
        return Err(Refusal::no_pending().with_detail("no continuation token"));
    };
    let cookie_id = pending_cookie_value(req);
    let continuation =
        upstream_login::take_continuation(state, authority_id, &token, cookie_id.as_deref(), now())
            .await?;
    let (login, identity) = match continuation {
        Continuation::Unknown => {
            return Err(
                Refusal::no_pending().with_detail("no such continuation (spent or expired)")
            );
        }
        Continuation::OtherBrowser => {
            return Err(Refusal::no_pending()
                .with_detail("continued in a browser that did not start the attempt"));
        }
        Continuation::Found(login, identity) => (login, identity),
    };
    match serde_json::from_value::<UpstreamIdentity>(identity) {
        Ok(identity) => Ok((Pending { login }, identity)),
        Err(_) => Err(Refusal::internal(
            "corrupt_pending_login",
            "a continuation without its identity",
        )),
    }
}

/// The strategy crate's identity in the form the resolution takes.
fn verified_identity(identity: &UpstreamIdentity) -> VerifiedIdentity {
    VerifiedIdentity {
        authority_user_id: identity.authority_user_id.clone(),
        email: identity.email.clone(),
        email_verified: identity.email_verified,
        display_name: identity.profile.display_name.clone(),
        given_name: identity.profile.given_name.clone(),
        family_name: identity.profile.family_name.clone(),
        picture: identity.profile.picture.clone(),
    }
}

/// Where the failure page leads back to.
pub struct Back {
    href: String,
    label: &'static str,
}

impl Back {
    pub(super) fn new(return_to: &str, linking: bool) -> Self {
        if linking {
            Self {
                href: "/account".to_owned(),
                label: "Back to your account",
            }
        } else {
            Self {
                href: format!(
                    "/login?return_to={}",
                    encode_query_value(&safe_return_to(Some(return_to)))
                ),
                label: "Back to the sign-in page",
            }
        }
    }

    /// The way back for an attempt that was taken back.
    pub fn of(pending: &UpstreamLogin) -> Self {
        Self::new(
            pending.return_to.as_deref().unwrap_or_default(),
            pending.linking_user_id.is_some(),
        )
    }

    /// The sign-in page, for an attempt that could not be found.
    pub fn login() -> Self {
        Self {
            href: "/login".to_owned(),
            label: "Back to the sign-in page",
        }
    }
}

/// Records and shows a refused upstream login: `login.failure` with `{authority, reason}` (and
/// `linking` when a signed-in user was linking), the detail in the log, and the page.
pub async fn fail(
    state: &Engine,
    req: &Request,
    authority_id: &str,
    linking_user_id: Option<&str>,
    back: &Back,
    refusal: Refusal,
    cookies: Vec<Cookie>,
) -> Response {
    let detail = refusal.detail.as_deref().unwrap_or_default();
    if refusal.status.is_server_error() {
        tracing::error!(
            authority = authority_id,
            reason = refusal.reason,
            detail,
            "upstream login failed"
        );
    } else {
        tracing::warn!(
            authority = authority_id,
            reason = refusal.reason,
            detail,
            "upstream login refused"
        );
    }
    let denied = refusal.outcome() == Outcome::Denied;
    upstream_login::record_refusal(
        state,
        &crate::http::context(req),
        authority_id,
        linking_user_id,
        refusal.reason,
        denied,
    )
    .await;
    let title = if refusal.outcome() == Outcome::Denied {
        "Sign-in refused"
    } else {
        "Sign-in failed"
    };
    let body = html! {
        p role="alert" { (refusal.message) }
        p { a.button href=(back.href) { (back.label) } }
    };
    html_response(refusal.status, page(title, None, body), &cookies)
}

/// The request's pending-login cookie, if it has the shape of one.
pub(super) fn pending_cookie_value(req: &Request) -> Option<String> {
    request_cookie(req, PENDING_COOKIE).filter(|v| {
        v.strip_prefix(PENDING_ID_PREFIX)
            .is_some_and(is_random_token)
    })
}

/// `message` with a capital first letter and a final full stop (strategy messages are lower-case
/// fragments).
fn sentence(message: &str) -> String {
    let mut chars = message.trim().chars();
    let Some(first) = chars.next() else {
        return String::new();
    };
    let mut out: String = first.to_uppercase().chain(chars).collect();
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_become_sentences() {
        assert_eq!(
            sentence("the login was cancelled at the identity provider"),
            "The login was cancelled at the identity provider."
        );
        assert_eq!(sentence("Already fine."), "Already fine.");
        assert_eq!(sentence(""), "");
    }

    #[test]
    fn the_way_back_keeps_return_to_and_refuses_open_redirects() {
        assert_eq!(
            Back::new("/oauth2/authorize?client_id=a", false).href,
            "/login?return_to=/oauth2/authorize%3Fclient_id%3Da"
        );
        assert_eq!(
            Back::new("//evil.example", false).href,
            "/login?return_to=/account"
        );
        assert_eq!(Back::new("/anything", true).href, "/account");
    }

    #[test]
    fn only_wired_strategies_have_a_flow() {
        assert!(has_flow(Strategy::Google));
        assert!(has_flow(Strategy::Saml));
        assert!(!has_flow(Strategy::Password));
        assert!(!has_flow(Strategy::Email));
    }
}
