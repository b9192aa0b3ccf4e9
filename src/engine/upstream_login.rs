//! Sign-ins through an upstream identity provider (reference §3 google and saml): the attempts
//! between leaving for the provider and coming back, and how a verified identity finishes. The
//! pages carry the browser's side (redirects, the pending cookie, the refusal pages).
//!
//! - **An attempt** is a pending row (`upstream_logins`, [`PENDING_TTL_SECS`]) holding the
//!   strategy's secrets for the callback; the browser holds only a random 256-bit id (the row
//!   keeps its SHA-256). Starting a new attempt drops the one the browser abandoned.
//! - **Taking an attempt back** deletes the row in the statement that reads it, so each attempt
//!   finishes at most once: by the browser's id ([`take`]), or, for a SAML response posted
//!   cross-site without the cookie, by the id the provider echoes ([`take_by_request`]), which
//!   finds the attempt but does not bind it to a browser: a cookie that does arrive must name that
//!   very row.
//! - **A continuation** keeps a verified identity for one same-site redirect
//!   ([`keep_verified`]): it finishes ([`take_continuation`]) only where the one-time token (given
//!   to the browser that posted the response) meets the attempt's cookie (held by the browser that
//!   started it), so a response posted into another browser finishes nowhere.
//! - **Finishing** ([`finish`]) resolves the identity (reference §3), then starts a session, or for
//!   a linking attempt checks that the identity landed on the linking user: an identity already on
//!   another account is never moved.

use serde_json::{Value, json};

use crate::domain::audit::Outcome;
use crate::domain::authority::Authority;
use crate::engine::Engine;
use crate::engine::audit::{self, Context};
use crate::engine::identity::{LoginError, VerifiedIdentity, resolve_identity};
use crate::secret;
use crate::store::{NewUpstreamLogin, StoreError, UpstreamLogin};

/// Prefix of an attempt's id (recognisable, like `axsn_` for sessions).
pub const PENDING_ID_PREFIX: &str = "axup_";
/// How long a started sign-in may take at the provider before it is worthless.
pub const PENDING_TTL_SECS: i64 = 600;
/// How long a verified response waits for its browser to come back (one redirect).
const CONTINUATION_TTL_SECS: i64 = 120;
/// Where a continuation keeps the verified identity in its row's data.
const VERIFIED_IDENTITY: &str = "verified_identity";
/// Prefix of continuation tokens (random, single use).
pub const CONTINUATION_PREFIX: &str = "axct_";

/// Authority `id`, as stored.
pub async fn authority(engine: &Engine, id: &str) -> Result<Option<Authority>, StoreError> {
    engine.store.get_authority(id).await
}

/// A new attempt at `authority_id`.
#[derive(Debug)]
pub struct Attempt<'a> {
    pub authority_id: &'a str,
    /// The strategy's secrets for the callback.
    pub data: Value,
    /// The id the provider echoes back (SAML: the AuthnRequest id), if any.
    pub request_id: Option<&'a str>,
    pub return_to: &'a str,
    /// The signed-in user linking another way to sign in; `None` for a sign-in.
    pub linking_user_id: Option<&'a str>,
    /// The id of an attempt this browser abandoned, dropped now.
    pub abandoned: Option<&'a str>,
}

/// Stores `attempt` at `now` and returns its id, for the browser's cookie.
pub async fn begin(engine: &Engine, attempt: Attempt<'_>, now: i64) -> Result<String, StoreError> {
    if let Some(old) = attempt.abandoned
        && let Err(error) = engine
            .store
            .consume_upstream_login(&secret::hash(old), now)
            .await
    {
        tracing::warn!(%error, "could not drop an abandoned upstream login");
    }
    let id = secret::generate(PENDING_ID_PREFIX);
    engine
        .store
        .create_upstream_login(NewUpstreamLogin {
            id_hash: secret::hash(&id),
            authority_id: attempt.authority_id.to_owned(),
            request_hash: attempt.request_id.map(secret::hash),
            data: attempt.data,
            return_to: Some(attempt.return_to.to_owned()),
            linking_user_id: attempt.linking_user_id.map(str::to_owned),
            expires_at: now.saturating_add(PENDING_TTL_SECS),
        })
        .await?;
    Ok(id)
}

/// Takes (deletes and returns) the unexpired attempt with id `id`.
pub async fn take(
    engine: &Engine,
    id: &str,
    now: i64,
) -> Result<Option<UpstreamLogin>, StoreError> {
    engine
        .store
        .consume_upstream_login(&secret::hash(id), now)
        .await
}

/// Takes the unexpired attempt of `authority_id` whose echoed id is `request_id`; when the
/// browser presented an attempt id (`cookie_id`), it must be this row's, else `None`.
pub async fn take_by_request(
    engine: &Engine,
    authority_id: &str,
    request_id: &str,
    cookie_id: Option<&str>,
    now: i64,
) -> Result<Option<UpstreamLogin>, StoreError> {
    let login = engine
        .store
        .consume_upstream_login_by_request(authority_id, &secret::hash(request_id), now)
        .await?;
    Ok(login.filter(|row| cookie_id.is_none_or(|id| names(id, row))))
}

/// Whether attempt id `id` is the one of `row` (compared in constant time).
fn names(id: &str, row: &UpstreamLogin) -> bool {
    secret::constant_time_eq(secret::hash(id).as_bytes(), row.id_hash.as_bytes())
}

/// Keeps `identity`, verified for attempt `login`, until the browser that started the attempt
/// comes back with the returned one-time token.
pub async fn keep_verified(
    engine: &Engine,
    login: &UpstreamLogin,
    identity: Value,
    now: i64,
) -> Result<String, StoreError> {
    let token = secret::generate(CONTINUATION_PREFIX);
    engine
        .store
        .create_upstream_login(NewUpstreamLogin {
            id_hash: login.id_hash.clone(),
            authority_id: login.authority_id.clone(),
            // The token finds the row, as a request id does for the ACS; the cookie binds it.
            request_hash: Some(secret::hash(&token)),
            data: json!({ VERIFIED_IDENTITY: identity }),
            return_to: login.return_to.clone(),
            linking_user_id: login.linking_user_id.clone(),
            expires_at: now.saturating_add(CONTINUATION_TTL_SECS),
        })
        .await?;
    Ok(token)
}

/// What a continuation token led to.
#[derive(Debug)]
pub enum Continuation {
    /// No such continuation (spent or expired).
    Unknown,
    /// The browser that brought the token did not start the attempt.
    OtherBrowser,
    /// The attempt and the identity verified for it.
    Found(UpstreamLogin, Value),
}

/// Takes back the continuation of `authority_id` with `token` (spent whoever brings it),
/// accepted only when `cookie_id`, the browser's attempt id, names it.
pub async fn take_continuation(
    engine: &Engine,
    authority_id: &str,
    token: &str,
    cookie_id: Option<&str>,
    now: i64,
) -> Result<Continuation, StoreError> {
    let login = engine
        .store
        .consume_upstream_login_by_request(authority_id, &secret::hash(token), now)
        .await?;
    let Some(login) = login else {
        return Ok(Continuation::Unknown);
    };
    if !cookie_id.is_some_and(|id| names(id, &login)) {
        return Ok(Continuation::OtherBrowser);
    }
    let identity = login
        .data
        .get(VERIFIED_IDENTITY)
        .cloned()
        .unwrap_or(Value::Null);
    Ok(Continuation::Found(login, identity))
}

/// Records SAML assertion `assertion_id` of `authority_id` as used until `until`; `false` when it
/// was used before (a replay).
pub async fn first_use_of_assertion(
    engine: &Engine,
    authority_id: &str,
    assertion_id: &str,
    until: i64,
) -> Result<bool, StoreError> {
    engine
        .store
        .record_saml_assertion(authority_id, assertion_id, until)
        .await
}

/// How a verified identity finished.
#[derive(Debug)]
pub enum Finished {
    /// Linked to (or already on) the linking user.
    Linked,
    /// The identity belongs to another account than the linking user's: nothing moved.
    InUse,
    /// Signed in: the new session's id (for the cookie).
    SignedIn { session_id: String },
}

/// Finishes a sign-in (or, with `linking`, a link) through `authority` whose strategy verified
/// `identity`, at `now`. A sign-in starts a session (ending `previous_session`) and is audited
/// as `login.success`.
pub async fn finish(
    engine: &Engine,
    ctx: &Context,
    authority: &Authority,
    identity: &VerifiedIdentity,
    linking: Option<&str>,
    previous_session: Option<&str>,
    now: i64,
) -> Result<Finished, LoginError> {
    let user = resolve_identity(engine, authority, identity, linking).await?;
    if let Some(user_id) = linking {
        // Step 1 of the resolution found the identity on another account: never move it.
        return Ok(if user.id == user_id {
            Finished::Linked
        } else {
            Finished::InUse
        });
    }
    let session_id =
        crate::engine::session::sign_in(engine, ctx, previous_session, &user.id, authority, now)
            .await?;
    Ok(Finished::SignedIn { session_id })
}

/// Records a refused upstream sign-in (or link, by `linking`) as `login.failure` with
/// `{authority, reason}`: `denied` for a decision, `failure` for a broken attempt or a fault.
pub async fn record_refusal(
    engine: &Engine,
    ctx: &Context,
    authority_id: &str,
    linking: Option<&str>,
    reason: &str,
    denied: bool,
) {
    let actor_type = if linking.is_some() {
        "user"
    } else {
        "anonymous"
    };
    let mut event = ctx.event(actor_type, linking, "login.failure");
    event.outcome = if denied {
        Outcome::Denied
    } else {
        Outcome::Failure
    };
    event.details = json!({ "authority": authority_id, "reason": reason });
    if let Some(user_id) = linking {
        event = event.target("user", user_id);
        event.details["linking"] = Value::Bool(true);
    }
    audit::record(engine, event).await;
}
