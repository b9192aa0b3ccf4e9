//! Password reset through the email strategy (reference §3 password: "reset via the email
//! strategy"). The pages parse forms and render what these return.
//!
//! - **Asking for a link** mails a `reset` link when an email credential holds the address (of an
//!   active user), with the same answer and the same lookups whatever the address. Sends are
//!   limited per address and per IP.
//! - **Choosing the password.** The two fields must match and the length policy must hold
//!   *before* the token is used up, so a typo does not burn the link. The check against the
//!   account's addresses needs the token's user, so it comes after; if it fails, a fresh token for
//!   the same user and expiry replaces the spent one.
//! - **On success** the password credential is created or updated, every session of the user
//!   ends and every token of theirs is revoked (whoever knew the old password may hold some), and
//!   a `password.reset` event is audited.

use authx_strategy_email::{Purpose, hash_token, new_token};
use authx_strategy_password::{PasswordStrategy, check_policy, hash_password};
use serde_json::json;

use crate::domain::authority::{Authority, Strategy};
use crate::domain::credential::NewCredential;
use crate::domain::email_token::{EmailToken, EmailTokenPurpose, NewEmailToken};
use crate::domain::user::UserStatus;
use crate::engine::Engine;
use crate::engine::audit::{self, Context};
use crate::engine::email_links::{
    LinkMail, LinkRequest, check_send_limits, send_link, token_shape_ok,
};
use crate::engine::error::CommandError;
use crate::engine::rate_limit::RetryAfter;
use crate::store::StoreError;

/// The shortest password `authority` accepts (its own setting, else the configured one).
pub fn min_length(engine: &Engine, authority: &Authority) -> usize {
    PasswordStrategy::min_length(&authority.details, engine.config.password.min_length)
}

/// Mails a reset link to `address` (normalized) under the rules above. Audited as
/// `email.link_requested`.
pub async fn request(
    engine: &Engine,
    ctx: &Context,
    ip: &str,
    address: &str,
    now: i64,
) -> Result<LinkRequest, StoreError> {
    if let Err(RetryAfter(secs)) = check_send_limits(engine, ip, address).await {
        return Ok(LinkRequest::Throttled(secs));
    }
    // The email credential holding the address (any email authority; the one called `email`
    // first), and its active user.
    let mut email_authorities: Vec<Authority> = engine
        .store
        .list_authorities()
        .await?
        .into_iter()
        .filter(|a| a.strategy == Strategy::Email)
        .collect();
    email_authorities.sort_by_key(|a| (!a.enabled, a.id != "email"));
    let mut target = None;
    for authority in email_authorities {
        if let Some(credential) = engine.store.find_credential(&authority.id, address).await? {
            target = Some((authority, credential.user_id));
            break;
        }
    }
    let mut sent = false;
    if let Some((authority, user_id)) = target
        && let Some(user) = engine.store.get_user(&user_id).await?
        && user.status == UserStatus::Active
    {
        let mail = LinkMail {
            purpose: Purpose::Reset,
            authority: &authority,
            email: address,
            user_id: Some(&user.id),
            return_to: None,
            path: "/password/reset/confirm",
        };
        send_link(engine, mail, now).await?;
        sent = true;
    }
    let mut event = ctx.event("anonymous", None, "email.link_requested");
    event.details = json!({ "purpose": "reset", "sent": sent });
    audit::record(engine, event).await;
    Ok(LinkRequest::Answered)
}

/// A new password chosen through reset link `token`.
#[derive(Debug)]
pub struct NewPassword<'a> {
    pub token: &'a str,
    pub password: &'a str,
    /// The second field, which must be the same.
    pub confirmation: &'a str,
}

/// What came of a reset.
#[derive(Debug)]
pub enum Reset {
    /// The link is unknown, used or expired, or its user is gone or disabled.
    Invalid,
    /// The password is refused (what to tell the person). `token` is the link to try again
    /// with: the same one when it was not used up, else a fresh one.
    Refused { message: String, token: String },
    /// The password was changed; sessions ended and tokens revoked.
    Done,
}

/// Sets the password of the user reset link `token` was sent for, through `authority` (the
/// enabled password authority), at `now`, under the rules above.
pub async fn confirm(
    engine: &Engine,
    ctx: &Context,
    authority: &Authority,
    input: NewPassword<'_>,
    now: i64,
) -> Result<Reset, CommandError> {
    let token = input.token;
    if !token_shape_ok(token) {
        return Ok(Reset::Invalid);
    }
    let min = min_length(engine, authority);
    let password = input.password;
    let refused = |message: String, token: &str| {
        Ok(Reset::Refused {
            message,
            token: token.to_owned(),
        })
    };
    if password != input.confirmation {
        return refused("The two passwords are not the same.".to_owned(), token);
    }
    // Everything that does not need the account, before the token is spent.
    if let Err(problem) = check_policy(password, min, None) {
        return refused(problem.to_string(), token);
    }
    let Some(consumed) = engine
        .store
        .consume_email_token(&hash_token(token), EmailTokenPurpose::Reset, now)
        .await?
    else {
        return Ok(Reset::Invalid);
    };
    let user = match consumed.user_id.as_deref() {
        Some(id) => engine.store.get_user(id).await?,
        None => None,
    };
    let Some(user) = user.filter(|u| u.status == UserStatus::Active) else {
        return Ok(Reset::Invalid);
    };
    // The account's own addresses.
    let mut emails = vec![consumed.email.clone()];
    emails.extend(user.email.clone());
    if let Some(problem) = emails
        .iter()
        .find_map(|e| check_policy(password, min, Some(e)).err())
    {
        // The link is spent; the person who held it gets a fresh one.
        let fresh = reissue(engine, &consumed).await?;
        return refused(problem.to_string(), &fresh);
    }
    let hash = hash_password(password.to_owned(), engine.config.password.bcrypt_cost)
        .await
        .map_err(|e| CommandError::Internal(Box::new(e)))?;
    let credential_id = match engine
        .store
        .find_credential(&authority.id, &user.id)
        .await?
    {
        Some(credential) => {
            crate::engine::admin::credentials::replace_password_hash(engine, &credential, hash)
                .await?
                .id
        }
        None => {
            engine
                .store
                .create_credential(NewCredential {
                    user_id: user.id.clone(),
                    authority_id: authority.id.clone(),
                    authority_user_id: user.id.clone(),
                    details: json!({ "hash": hash }),
                })
                .await?
                .id
        }
    };
    // Whoever knew the old password may hold sessions or tokens: all of them end.
    let (ended, revoked) = crate::engine::session::end_everywhere(engine, &user.id, now).await?;
    let mut event = ctx
        .event("user", Some(&user.id), "password.reset")
        .target("credential", &credential_id);
    event.details =
        json!({ "authority": authority.id, "sessions_ended": ended, "tokens_revoked": revoked });
    audit::record(engine, event).await;
    Ok(Reset::Done)
}

/// A new reset token replacing `spent` (same address, user, authority and expiry).
async fn reissue(engine: &Engine, spent: &EmailToken) -> Result<String, StoreError> {
    let token = new_token();
    engine
        .store
        .create_email_token(NewEmailToken {
            token_hash: token.hash,
            purpose: EmailTokenPurpose::Reset,
            email: spent.email.clone(),
            user_id: spent.user_id.clone(),
            authority_id: spent.authority_id.clone(),
            expires_at: spent.expires_at,
            return_to: None,
        })
        .await?;
    Ok(token.token)
}
