//! The email strategy's flows (reference §3 email): passwordless sign-in by a mailed link, and
//! proving an address a signed-in user adds to their account. The pages parse forms and render
//! what these return.
//!
//! - **Nothing tells whether an address is known.** A login link is mailed when the address has an
//!   email credential or the authority creates users; the caller learns only that a link may have
//!   been sent, after the same lookups either way. Sends are limited per address and per IP.
//! - **Tokens** are random (`axe_` + 256 bits), stored only as SHA-256, single use, and expire with
//!   the authority's `token_ttl_secs`. A token of the wrong shape is refused without a lookup.
//! - **Consuming a link** is atomic. A login link resolves the identity (reference §3) and starts a
//!   session; a verification link adds the address only to the signed-in user it was sent for, so
//!   a link sent by someone else's account cannot attach the reader's address to theirs.
//! - Mail goes out in the background: the answer does not wait for, or reveal, an SMTP round trip.

use std::time::Duration;

use authx_strategy_email::{EmailStrategy, Purpose, TOKEN_PREFIX, hash_token, new_token, render};
use serde_json::{Value, json};

use crate::domain::audit::Outcome;
use crate::domain::authority::{Authority, Strategy};
use crate::domain::email_token::{EmailToken, EmailTokenPurpose, NewEmailToken};
use crate::domain::user::User;
use crate::engine::Engine;
use crate::engine::actor::Actor;
use crate::engine::audit::{self, Context};
use crate::engine::error::CommandError;
use crate::engine::identity::{LoginError, VerifiedIdentity, resolve_identity};
use crate::engine::rate_limit::{self, Limit, RetryAfter};
use crate::store::StoreError;

/// The product name in mails.
pub const PRODUCT: &str = "authx";

/// The email authority links are sent through: the enabled one called `email`, else the first
/// enabled one of the email strategy.
pub async fn email_authority(engine: &Engine) -> Result<Option<Authority>, StoreError> {
    let mut candidates: Vec<Authority> = engine
        .store
        .list_authorities()
        .await?
        .into_iter()
        .filter(|a| a.enabled && a.strategy == Strategy::Email)
        .collect();
    candidates.sort_by_key(|a| a.id != "email");
    Ok(candidates.into_iter().next())
}

/// Whether `token` has the shape of a link token (`axe_` + 43 base64url characters); anything
/// else is refused without a database lookup.
pub fn token_shape_ok(token: &str) -> bool {
    token.strip_prefix(TOKEN_PREFIX).is_some_and(|body| {
        body.len() == 43
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// Counts one send against `address` and the client `ip`; `Err` says how long to wait.
pub async fn check_send_limits(engine: &Engine, ip: &str, address: &str) -> Result<(), RetryAfter> {
    let limits = [
        Limit::EmailAddress(address.to_owned()),
        Limit::EmailIp(ip.to_owned()),
    ];
    rate_limit::hit(engine, &limits).await
}

/// What to mail.
pub struct LinkMail<'a> {
    pub purpose: Purpose,
    /// The authority the token belongs to (its `token_ttl_secs` applies).
    pub authority: &'a Authority,
    /// The normalized address.
    pub email: &'a str,
    pub user_id: Option<&'a str>,
    pub return_to: Option<&'a str>,
    /// The path the link opens, e.g. `/login/email/verify`.
    pub path: &'a str,
}

/// Stores a new token for `mail`, valid from `now`, and sends the link in the background
/// (failures are logged: the answer is the same whatever happens to the mail).
pub async fn send_link(engine: &Engine, mail: LinkMail<'_>, now: i64) -> Result<(), StoreError> {
    let ttl = EmailStrategy::token_ttl(&mail.authority.details);
    let token = new_token();
    engine
        .store
        .create_email_token(NewEmailToken {
            token_hash: token.hash.clone(),
            purpose: store_purpose(mail.purpose),
            email: mail.email.to_owned(),
            user_id: mail.user_id.map(str::to_owned),
            authority_id: mail.authority.id.clone(),
            expires_at: now.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX)),
            return_to: mail.return_to.map(str::to_owned),
        })
        .await?;
    let link = format!(
        "{}{}?token={}",
        engine.config.issuer_url(),
        mail.path,
        token.token
    );
    let message = render(mail.purpose, &link, ttl_minutes(ttl), PRODUCT);
    let mailer = engine.mailer.clone();
    let to = mail.email.to_owned();
    let purpose = mail.purpose;
    tokio::spawn(async move {
        if let Err(error) = mailer.send(&to, &message).await {
            tracing::error!(%error, %purpose, "could not send an email link");
        }
    });
    Ok(())
}

/// The store's name of a purpose.
pub fn store_purpose(purpose: Purpose) -> EmailTokenPurpose {
    match purpose {
        Purpose::Login => EmailTokenPurpose::Login,
        Purpose::Verify => EmailTokenPurpose::Verify,
        Purpose::Reset => EmailTokenPurpose::Reset,
    }
}

fn ttl_minutes(ttl: Duration) -> u64 {
    ttl.as_secs().div_ceil(60).max(1)
}

/// The answer to a request for a link.
#[derive(Debug, PartialEq, Eq)]
pub enum LinkRequest {
    /// Too many sends: try again after this many seconds.
    Throttled(u64),
    /// No email authority is enabled.
    NoAuthority,
    /// A link was sent if the address can be used (the caller never learns which).
    Answered,
}

/// Mails a login link to `address` (normalized) that leads to `return_to` once used, under the
/// rules above; audited as `email.link_requested`.
pub async fn request_login_link(
    engine: &Engine,
    ctx: &Context,
    ip: &str,
    address: &str,
    return_to: &str,
    now: i64,
) -> Result<LinkRequest, StoreError> {
    if let Err(RetryAfter(secs)) = check_send_limits(engine, ip, address).await {
        return Ok(LinkRequest::Throttled(secs));
    }
    let Some(authority) = email_authority(engine).await? else {
        return Ok(LinkRequest::NoAuthority);
    };
    let known = engine
        .store
        .find_credential(&authority.id, address)
        .await?
        .is_some();
    let creates_users = authority
        .details
        .get("creates_users")
        .and_then(Value::as_bool)
        == Some(true);
    if known || creates_users {
        let mail = LinkMail {
            purpose: Purpose::Login,
            authority: &authority,
            email: address,
            user_id: None,
            return_to: Some(return_to),
            path: "/login/email/verify",
        };
        send_link(engine, mail, now).await?;
    }
    let mut event = ctx.event("anonymous", None, "email.link_requested");
    event.details =
        json!({ "authority": authority.id, "purpose": "login", "sent": known || creates_users });
    audit::record(engine, event).await;
    Ok(LinkRequest::Answered)
}

/// Where the login link `token` leads, read without using it up (the page showing its button
/// needs to know); `None` for an unusable token.
pub async fn login_link_return_to(
    engine: &Engine,
    token: &str,
    now: i64,
) -> Result<Option<String>, StoreError> {
    if !token_shape_ok(token) {
        return Ok(None);
    }
    Ok(engine
        .store
        .find_email_token(&hash_token(token), EmailTokenPurpose::Login, now)
        .await?
        .and_then(|t| t.return_to))
}

/// What came of following a login link.
#[derive(Debug)]
pub enum LinkLogin {
    /// Unknown, used, expired, or its authority is off.
    Invalid,
    /// The identity cannot sign in; what to tell the person.
    Refused(String),
    /// Signed in: the new session's id (for the cookie) and where the link leads.
    SignedIn {
        session_id: String,
        return_to: Option<String>,
    },
}

/// Uses up login link `token` at `now` and signs its address in (a new session; the one the
/// browser presented, `previous_session`, ends). Audited as `login.success` or `login.failure`.
pub async fn login_with_link(
    engine: &Engine,
    ctx: &Context,
    token: &str,
    previous_session: Option<&str>,
    now: i64,
) -> Result<LinkLogin, StoreError> {
    let consumed = if token_shape_ok(token) {
        engine
            .store
            .consume_email_token(&hash_token(token), EmailTokenPurpose::Login, now)
            .await?
    } else {
        None
    };
    let Some(consumed) = consumed else {
        login_failure(engine, ctx, None, "invalid_token").await;
        return Ok(LinkLogin::Invalid);
    };
    let Some(authority) = usable_authority(engine, &consumed).await? else {
        login_failure(engine, ctx, None, "authority_disabled").await;
        return Ok(LinkLogin::Invalid);
    };
    let user = match resolve_identity(engine, &authority, &proven(&consumed), None).await {
        Ok(user) => user,
        Err(LoginError::Store(e)) => return Err(e),
        Err(error) => {
            let reason = match error {
                LoginError::Disabled => "disabled",
                _ => "not_linked",
            };
            login_failure(engine, ctx, Some(&authority.id), reason).await;
            return Ok(LinkLogin::Refused(error.to_string()));
        }
    };
    let session_id =
        crate::engine::session::sign_in(engine, ctx, previous_session, &user.id, &authority, now)
            .await?;
    Ok(LinkLogin::SignedIn {
        session_id,
        return_to: consumed.return_to,
    })
}

async fn login_failure(engine: &Engine, ctx: &Context, authority: Option<&str>, reason: &str) {
    let mut event = ctx.event("anonymous", None, "login.failure");
    event.outcome = Outcome::Failure;
    event.details =
        json!({ "authority": authority.unwrap_or("email"), "strategy": "email", "reason": reason });
    audit::record(engine, event).await;
}

/// The enabled email authority a consumed token belongs to.
async fn usable_authority(
    engine: &Engine,
    token: &EmailToken,
) -> Result<Option<Authority>, StoreError> {
    Ok(engine
        .store
        .get_authority(&token.authority_id)
        .await?
        .filter(|a| a.enabled && a.strategy == Strategy::Email))
}

/// The identity a used token proves: its address, verified.
fn proven(token: &EmailToken) -> VerifiedIdentity {
    VerifiedIdentity {
        authority_user_id: token.email.clone(),
        email: Some(token.email.clone()),
        email_verified: true,
        ..VerifiedIdentity::default()
    }
}

/// Succeeds when `actor` may add an address of their own at `authority`:
/// `credential.<authority>.me:create`, as `POST /api/v1/users/{me}/credentials` needs.
pub async fn may_add_address(
    engine: &Engine,
    actor: &Actor,
    authority: &Authority,
) -> Result<(), CommandError> {
    let scopes =
        crate::engine::admin::credentials::scopes(actor, &authority.id, &actor.user_id, "create");
    actor
        .require_any(engine, &scopes, "credential.create")
        .await
}

/// Why a request to verify an address was not answered with "check your email".
#[derive(Debug)]
pub enum VerifyRequestError {
    /// No email authority is enabled.
    NoAuthority,
    /// Too many sends: try again after this many seconds.
    Throttled(u64),
    /// The actor may not add addresses (or the database failed).
    Command(CommandError),
}

impl From<StoreError> for VerifyRequestError {
    fn from(error: StoreError) -> Self {
        Self::Command(error.into())
    }
}

/// Mails `actor` a link that adds `address` (normalized) to their account; audited as
/// `email.link_requested`.
pub async fn request_verification(
    engine: &Engine,
    actor: &Actor,
    ip: &str,
    address: &str,
    now: i64,
) -> Result<(), VerifyRequestError> {
    let Some(authority) = email_authority(engine).await? else {
        return Err(VerifyRequestError::NoAuthority);
    };
    may_add_address(engine, actor, &authority)
        .await
        .map_err(VerifyRequestError::Command)?;
    if let Err(RetryAfter(secs)) = check_send_limits(engine, ip, address).await {
        return Err(VerifyRequestError::Throttled(secs));
    }
    let mail = LinkMail {
        purpose: Purpose::Verify,
        authority: &authority,
        email: address,
        user_id: Some(&actor.user_id),
        return_to: None,
        path: "/account/emails/verify",
    };
    send_link(engine, mail, now).await?;
    let mut event = actor.audit_event("email.link_requested", Outcome::Success);
    event.details = json!({ "authority": authority.id, "purpose": "verify", "sent": true });
    audit::record(engine, event).await;
    Ok(())
}

/// What came of following a verification link.
#[derive(Debug)]
pub enum Verified {
    /// Unknown, used, expired, sent for someone else, or its authority is off.
    Invalid,
    /// The address belongs to another account (or cannot be added).
    Taken,
    /// The address is now one of the user's email credentials.
    Added,
}

/// Uses up verification link `token` at `now` for `user`, the signed-in user it must have been
/// sent for, and adds its address as an email credential (and as the primary email when the
/// user has none). Audited as `email.verify`.
pub async fn verify_address(
    engine: &Engine,
    actor: &Actor,
    user: &User,
    token: &str,
    now: i64,
) -> Result<Verified, CommandError> {
    if !token_shape_ok(token) {
        return Ok(Verified::Invalid);
    }
    let consumed = engine
        .store
        .consume_email_token(&hash_token(token), EmailTokenPurpose::Verify, now)
        .await?;
    let Some(consumed) = consumed.filter(|t| t.user_id.as_deref() == Some(user.id.as_str())) else {
        return Ok(Verified::Invalid);
    };
    let Some(authority) = usable_authority(engine, &consumed).await? else {
        return Ok(Verified::Invalid);
    };
    // Checked again at the end: the access may have changed since the link was sent.
    may_add_address(engine, actor, &authority).await?;
    match resolve_identity(engine, &authority, &proven(&consumed), Some(&user.id)).await {
        Ok(owner) if owner.id == user.id => {}
        Ok(_) | Err(LoginError::NotLinked | LoginError::Disabled) => {
            let mut event = actor.audit_event("email.verify", Outcome::Failure);
            event.details = json!({ "authority": authority.id, "reason": "address_taken" });
            audit::record(engine, event).await;
            return Ok(Verified::Taken);
        }
        Err(LoginError::Store(e)) => return Err(e.into()),
    }
    if user.email.is_none() {
        let patch = crate::domain::user::UserPatch {
            email: Some(Some(consumed.email.clone())),
            ..Default::default()
        };
        if let Err(error) = engine.store.update_user(&user.id, patch).await {
            tracing::warn!(%error, "could not set a verified address as the primary one");
        }
    }
    let mut event = actor
        .audit_event("email.verify", Outcome::Success)
        .target("user", &user.id);
    event.details = json!({ "authority": authority.id });
    audit::record(engine, event).await;
    Ok(Verified::Added)
}
