//! `/account`: the signed-in user's own page (reference §6) — profile, sign-in methods, password, API
//! keys, and (once OAuth 2.0 lands) the applications they authorized.
//!
//! Every action is a CSRF-checked POST that answers with a `303` back to `/account` (so a reload
//! repeats nothing) — except creating an API key, whose response page is the only place the secret
//! is ever shown. authx guards these pages with its own scopes, as the admin API does (reference §2.6):
//! `me:update` for the profile, `credential.<authority>.me:delete` to remove a sign-in method,
//! `apikey.me:read|create|delete` for API keys (the `default` role grants them all). A password
//! change needs the current password, ends the user's other sessions and gives this browser a new
//! session id.

use authx_strategy_password::PasswordStrategy;
use maud::html;
use poem::http::StatusCode;
use poem::web::cookie::Cookie;
use poem::web::{Data, Form, Path, Query};
use poem::{Request, Response, handler};
use serde::Deserialize;
use serde_json::json;

use crate::domain::authority::{Authority, Strategy};
use crate::domain::credential::Credential;
use crate::domain::now;
use crate::domain::user::UserPatch;
use crate::engine::Engine;
use crate::engine::admin::api_keys::{self, IssueError, IssueRequest, IssuedKey};
use crate::engine::admin::credentials::{self, NewCredentialInput};
use crate::engine::audit;
use crate::engine::error::CommandError;
use crate::engine::password_login::password_authority;
use crate::engine::self_service::{self, PasswordChange, PasswordChanged};
use crate::http::web::csrf::csrf_token;
use crate::http::web::pages::account_grants;
use crate::http::web::pages::errors::PageError;
use crate::http::web::pages::layout::{
    csrf_field, datetime, error_box, html_response, notice_box, page, see_other,
};
use crate::http::web::pages::login::user_label;
use crate::http::web::pages::signed_in::{LOGIN_REDIRECT, SignedIn, begin, signed_in};
use crate::http::web::pages::{Fields, audit_event, encode_query_value, upstream};
use crate::http::web::session::{session_cookie, session_id};

/// Longest display name, in characters.
const MAX_DISPLAY_NAME_CHARS: usize = 200;

/// The lifetimes offered for a new API key (seconds, label); those above the configured maximum
/// are left out.
const LIFETIMES: [(i64, &str); 4] = [
    (3_600, "1 hour"),
    (86_400, "24 hours"),
    (604_800, "7 days"),
    (2_592_000, "30 days"),
];

/// What to show besides the account itself.
#[derive(Default)]
struct Messages {
    notice: Option<&'static str>,
    profile_error: Option<String>,
    credentials_error: Option<String>,
    password_error: Option<String>,
    api_key_error: Option<String>,
    new_key: Option<IssuedKey>,
}

/// The query of `GET /account`.
#[derive(Debug, Default, Deserialize)]
pub struct AccountQuery {
    /// Which action just succeeded (a fixed code, mapped to a fixed message).
    pub notice: Option<String>,
}

fn notice_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "profile" => "Your profile was saved.",
        "password" => "Your password was changed. Your other sessions were signed out.",
        "password_set" => "Your password was set. You can now sign in with it.",
        "removed" => "The sign-in method was removed.",
        "linked" => "The sign-in method is linked to your account.",
        "revoked" => "The API key was revoked. It no longer works.",
        "revoked_all" => "All your API keys were revoked. None of them works any more.",
        "grant_revoked" => "The application's access was withdrawn. Its tokens no longer work.",
        _ => return None,
    })
}

/// `GET /account`.
#[handler]
pub async fn account_page(
    req: &Request,
    state: Data<&Engine>,
    Query(query): Query<AccountQuery>,
) -> Result<Response, PageError> {
    let Some(me) = signed_in(&state, req).await? else {
        return Ok(see_other(LOGIN_REDIRECT, &[]));
    };
    let messages = Messages {
        notice: query.notice.as_deref().and_then(notice_text),
        ..Messages::default()
    };
    render(&state, req, &me, messages, StatusCode::OK, Vec::new()).await
}

/// Renders the account page.
async fn render(
    state: &Engine,
    req: &Request,
    me: &SignedIn,
    messages: Messages,
    status: StatusCode,
    mut cookies: Vec<Cookie>,
) -> Result<Response, PageError> {
    let user = &me.user;
    let (csrf, new_cookie) = csrf_token(req);
    cookies.extend(new_cookie);
    let may_read_keys = me.may(state, "apikey.me", "read");
    let self_service::Overview {
        authorities,
        credentials,
        keys,
    } = self_service::overview(state, &user.id, may_read_keys).await?;
    let password_authority = password_authority(state).await?;
    let password_credential = password_authority.as_ref().and_then(|a| {
        credentials
            .iter()
            .find(|c| c.authority_id == a.id && c.authority_user_id == user.id)
    });
    let may_create_keys = me.may(state, "apikey.me", "create");
    let may_revoke_keys = me.may(state, "apikey.me", "delete");
    let scopes = me.access.scopes.to_strings();
    let at = now();
    let max_ttl = api_keys::max_ttl(state);
    let mut lifetimes: Vec<(i64, String)> = LIFETIMES
        .iter()
        .filter(|(secs, _)| *secs <= max_ttl)
        .map(|(secs, label)| (*secs, (*label).to_owned()))
        .collect();
    if lifetimes.is_empty() {
        lifetimes.push((max_ttl, format!("{max_ttl} seconds")));
    }
    let default_ttl = api_keys::ttl(state, None).unwrap_or(max_ttl);
    let selected_ttl = lifetimes
        .iter()
        .map(|(secs, _)| *secs)
        .find(|secs| *secs == default_ttl)
        .unwrap_or(lifetimes[0].0);
    let authority_name = |id: &str| -> String {
        authorities
            .iter()
            .find(|a| a.id == id)
            .map_or_else(|| id.to_owned(), |a| a.name.clone())
    };
    let only_one = credentials.len() <= 1;
    let grants = account_grants::section(state, me, &csrf).await?;
    let email_enabled = authorities
        .iter()
        .any(|a| a.enabled && a.strategy == Strategy::Email);
    // Upstream authorities the user may still link (one credential per authority is enough).
    let linkable: Vec<&Authority> = authorities
        .iter()
        .filter(|a| a.enabled && upstream::has_flow(a.strategy))
        .filter(|a| !credentials.iter().any(|c| c.authority_id == a.id))
        .filter(|a| me.may(state, &format!("credential.{}.me", a.id), "create"))
        .collect();
    let body = html! {
        @if let Some(notice) = messages.notice {
            (notice_box(notice))
        }
        @if let Some(issued) = &messages.new_key {
            section aria-labelledby="new-key-heading" {
                h2 #new-key-heading { "Your new API key" }
                p { strong { "Copy it now: it is shown only this once." }
                    " authx keeps only a hash of it and cannot show it again. If you lose it, revoke it and create another." }
                p.secret #new-api-key { (issued.secret) }
                p.muted { "Use it as " code { "Authorization: Bearer <key>" } ". Expires "
                    (datetime(issued.key.expires_at)) "." }
            }
        }
        section aria-labelledby="profile-heading" {
            h2 #profile-heading { "Profile" }
            @if let Some(error) = &messages.profile_error { (error_box(error)) }
            dl {
                @if let Some(username) = &user.username { dt { "Username" } dd { (username) } }
                @if let Some(email) = &user.email { dt { "Email address" } dd { (email) } }
            }
            @if me.may(state, "me", "update") {
                form method="post" action="/account/profile" {
                    (csrf_field(&csrf))
                    label for="display_name" { "Display name" }
                    input #display_name type="text" name="display_name" autocomplete="name"
                        maxlength=(MAX_DISPLAY_NAME_CHARS)
                        value=(user.display_name.as_deref().unwrap_or_default());
                    button type="submit" { "Save profile" }
                }
            } @else {
                p { "Display name: " (user.display_name.as_deref().unwrap_or("(none)")) }
            }
        }
        section aria-labelledby="credentials-heading" {
            h2 #credentials-heading { "Sign-in methods" }
            @if let Some(error) = &messages.credentials_error { (error_box(error)) }
            table {
                thead { tr { th scope="col" { "Method" } th scope="col" { "Identifier" }
                    th scope="col" { "Last used" } th scope="col" { span.muted { "Action" } } } }
                tbody {
                    @for credential in &credentials {
                        tr {
                            td { (authority_name(&credential.authority_id)) }
                            td { (credential_label(credential, &authorities)) }
                            td { (credential.last_used_at.map_or_else(|| "never".to_owned(), datetime)) }
                            td {
                                @if only_one {
                                    span.muted { "Your only sign-in method" }
                                } @else if me.may(state, &format!("credential.{}.me", credential.authority_id), "delete") {
                                    form.inline method="post"
                                        action={ "/account/credentials/" (credential.id) "/remove" } {
                                        (csrf_field(&csrf))
                                        button.danger type="submit"
                                            aria-label={ "Remove " (authority_name(&credential.authority_id)) } { "Remove" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if email_enabled {
                p { a href="/account/emails" { "Add an email address" } }
            }
            @for authority in &linkable {
                p {
                    a.button.secondary href={ "/account/link/" (encode_query_value(&authority.id)) } {
                        "Link " (authority.name)
                    }
                }
            }
        }
        @if let Some(authority) = &password_authority {
            section aria-labelledby="password-heading" {
                @if password_credential.is_some() {
                    h2 #password-heading { "Change password" }
                    @if let Some(error) = &messages.password_error { (error_box(error)) }
                    form method="post" action="/account/password" {
                        (csrf_field(&csrf))
                        input type="text" name="username" autocomplete="username" hidden
                            value=(user.username.as_deref().or(user.email.as_deref()).unwrap_or_default());
                        label for="current_password" { "Current password" }
                        input #current_password type="password" name="current_password"
                            autocomplete="current-password" required;
                        label for="new_password" { "New password" }
                        input #new_password type="password" name="new_password"
                            autocomplete="new-password" required aria-describedby="password-rules";
                        p.muted #password-rules { (password_rules(state, authority)) }
                        button type="submit" { "Change password" }
                    }
                } @else {
                    h2 #password-heading { "Set a password" }
                    @if let Some(error) = &messages.password_error { (error_box(error)) }
                    p { "You have no password yet. Set one to sign in with your email address or username and a password." }
                    form method="post" action="/account/password/set" {
                        (csrf_field(&csrf))
                        label for="new_password" { "New password" }
                        input #new_password type="password" name="new_password"
                            autocomplete="new-password" required aria-describedby="password-rules";
                        p.muted #password-rules { (password_rules(state, authority)) }
                        button type="submit" { "Set password" }
                    }
                }
            }
        }
        @if may_read_keys || may_create_keys {
            section aria-labelledby="keys-heading" {
                h2 #keys-heading { "API keys" }
                @if let Some(error) = &messages.api_key_error { (error_box(error)) }
                @if may_read_keys {
                    @if keys.is_empty() {
                        p { "You have no API keys." }
                    } @else {
                        table {
                            thead { tr { th scope="col" { "Key" } th scope="col" { "Description" }
                                th scope="col" { "Scopes" } th scope="col" { "Expires" }
                                th scope="col" { span.muted { "Action" } } } }
                            tbody {
                                @for key in &keys {
                                    tr {
                                        td { code { (key.hint) } }
                                        td { (key.description.as_deref().unwrap_or("")) }
                                        td { @for scope in &key.scopes { code { (scope) } br; } }
                                        td {
                                            (datetime(key.expires_at))
                                            @if key.expires_at <= at { " " strong { "(expired)" } }
                                        }
                                        td {
                                            @if may_revoke_keys {
                                                form.inline method="post"
                                                    action={ "/account/api-keys/" (key.id) "/revoke" } {
                                                    (csrf_field(&csrf))
                                                    button.danger type="submit"
                                                        aria-label={ "Revoke key " (key.hint) } { "Revoke" }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                @if may_revoke_keys && !keys.is_empty() {
                    form.inline method="post" action="/account/api-keys/revoke-all" {
                        (csrf_field(&csrf))
                        button.danger type="submit" { "Revoke all API keys" }
                    }
                }
                @if may_create_keys {
                    h3 { "Create an API key" }
                    @if scopes.is_empty() {
                        p { "Your access includes no scopes, so an API key could do nothing." }
                    } @else {
                        form method="post" action="/account/api-keys" {
                            (csrf_field(&csrf))
                            fieldset {
                                legend { "Scopes (what the key may do; never more than you may)" }
                                @for (i, scope) in scopes.iter().enumerate() {
                                    div {
                                        input type="checkbox" name="scope" value=(scope)
                                            id={ "scope-" (i) };
                                        label for={ "scope-" (i) } { code { (scope) } }
                                    }
                                }
                            }
                            label for="description" { "Description" }
                            input #description type="text" name="description"
                                maxlength=(api_keys::MAX_DESCRIPTION_CHARS);
                            label for="expires_in" { "Lifetime" }
                            select #expires_in name="expires_in" {
                                @for (secs, label) in &lifetimes {
                                    option value=(secs) selected[*secs == selected_ttl] { (label) }
                                }
                            }
                            button type="submit" { "Create API key" }
                        }
                    }
                }
            }
        }
        (grants)
        section aria-labelledby="session-heading" {
            h2 #session-heading { "This session" }
            p { "Signed in " (datetime(me.session.auth_time)) ". "
                a href="/logout" { "Log out" } }
            form method="post" action="/account/sign-out-everywhere" {
                (csrf_field(&csrf))
                p.muted { "Signing out everywhere ends every session of yours, this one included, \
                    and withdraws every application's tokens: they must ask you to sign in again." }
                button.danger type="submit" { "Sign out everywhere" }
            }
        }
    };
    let label = user_label(user).to_owned();
    Ok(html_response(
        status,
        page("Your account", Some((&label, &csrf)), body),
        &cookies,
    ))
}

fn credential_label(credential: &Credential, authorities: &[Authority]) -> String {
    let strategy = authorities
        .iter()
        .find(|a| a.id == credential.authority_id)
        .map(|a| a.strategy);
    match strategy {
        Some(Strategy::Password) => "a password".to_owned(),
        _ => credential.authority_user_id.clone(),
    }
}

fn min_length(state: &Engine, authority: &Authority) -> usize {
    PasswordStrategy::min_length(&authority.details, state.config.password.min_length)
}

fn password_rules(state: &Engine, authority: &Authority) -> String {
    format!(
        "At least {} characters, at most 72 bytes, and not your email address.",
        min_length(state, authority)
    )
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect::<String>() + ".",
        None => String::new(),
    }
}

/// `POST /account/profile` (form: `display_name`).
#[handler]
pub async fn update_profile(
    req: &Request,
    state: Data<&Engine>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let fields = Fields(fields);
    let me = match begin(&state, req, &fields).await? {
        Ok(me) => me,
        Err(redirect) => return Ok(redirect),
    };
    me.require(&state, "me", "update")?;
    let name = fields.get("display_name").trim().to_owned();
    if name.chars().count() > MAX_DISPLAY_NAME_CHARS || name.chars().any(char::is_control) {
        let messages = Messages {
            profile_error: Some(format!(
                "The display name must be at most {MAX_DISPLAY_NAME_CHARS} characters, without control characters."
            )),
            ..Messages::default()
        };
        return render(
            &state,
            req,
            &me,
            messages,
            StatusCode::BAD_REQUEST,
            Vec::new(),
        )
        .await;
    }
    let display_name = (!name.is_empty()).then_some(name);
    let mut profile = me.user.profile.clone();
    profile.display_name = display_name.clone();
    let patch = UserPatch {
        display_name: Some(display_name),
        profile: Some(profile),
        ..UserPatch::default()
    };
    let actor = me.actor(&state, req).await?;
    crate::engine::admin::users::update(&state, &actor, &me.user.id, patch).await?;
    Ok(see_other("/account?notice=profile", &[]))
}

/// `POST /account/password` (form: `current_password`, `new_password`).
#[handler]
pub async fn change_password(
    req: &Request,
    state: Data<&Engine>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let fields = Fields(fields);
    let me = match begin(&state, req, &fields).await? {
        Ok(me) => me,
        Err(redirect) => return Ok(redirect),
    };
    let Some(authority) = password_authority(&state).await? else {
        return Err(PageError::not_found());
    };
    let ctx = crate::http::context(req);
    let previous = session_id(req);
    let change = PasswordChange {
        ctx: &ctx,
        user: &me.user,
        session_authority_id: &me.session.authority_id,
        session_id: previous.as_deref(),
        current: fields.get("current_password").to_owned(),
        new: fields.get("new_password").to_owned(),
    };
    let problem = match self_service::change_password(&state, &authority, change, now()).await? {
        PasswordChanged::Changed { session_id } => {
            let cookie = session_cookie(&state, session_id);
            return Ok(see_other("/account?notice=password", &[cookie]));
        }
        PasswordChanged::Throttled(secs) => return Err(PageError::too_many(secs)),
        PasswordChanged::NoPassword => "You have no password yet: set one below.".to_owned(),
        PasswordChanged::WrongCurrent => "The current password is incorrect.".to_owned(),
        PasswordChanged::Refused(message) => capitalize(&message),
    };
    password_problem(&state, req, &me, &problem).await
}

async fn password_problem(
    state: &Engine,
    req: &Request,
    me: &SignedIn,
    message: &str,
) -> Result<Response, PageError> {
    let messages = Messages {
        password_error: Some(message.to_owned()),
        ..Messages::default()
    };
    render(
        state,
        req,
        me,
        messages,
        StatusCode::BAD_REQUEST,
        Vec::new(),
    )
    .await
}

/// `POST /account/password/set` (form: `new_password`): for a user without a password.
#[handler]
pub async fn set_password(
    req: &Request,
    state: Data<&Engine>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let fields = Fields(fields);
    let me = match begin(&state, req, &fields).await? {
        Ok(me) => me,
        Err(redirect) => return Ok(redirect),
    };
    let Some(authority) = password_authority(&state).await? else {
        return Err(PageError::not_found());
    };
    if self_service::password_credential(&state, &authority, &me.user.id)
        .await?
        .is_some()
    {
        return password_problem(
            &state,
            req,
            &me,
            "You already have a password: change it with your current one.",
        )
        .await;
    }
    let input = NewCredentialInput {
        authority_id: authority.id.clone(),
        authority_user_id: None,
        password: Some(fields.get("new_password").to_owned()),
    };
    let actor = me.actor(&state, req).await?;
    match credentials::create(&state, &actor, &me.user.id, input, now()).await {
        Ok(_) => {}
        Err(CommandError::Invalid { message, .. }) => {
            return password_problem(&state, req, &me, &capitalize(&message)).await;
        }
        Err(CommandError::Conflict { .. }) => {
            return password_problem(
                &state,
                req,
                &me,
                "You already have a password: change it with your current one.",
            )
            .await;
        }
        Err(e) => return Err(e.into()),
    }
    Ok(see_other("/account?notice=password_set", &[]))
}

/// `POST /account/credentials/:id/remove`: refused for the user's last credential.
#[handler]
pub async fn remove_credential(
    req: &Request,
    state: Data<&Engine>,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let fields = Fields(fields);
    let me = match begin(&state, req, &fields).await? {
        Ok(me) => me,
        Err(redirect) => return Ok(redirect),
    };
    let actor = me.actor(&state, req).await?;
    // Only one's own credentials are on this page; anyone else's id is "not found".
    match credentials::delete_own(&state, &actor, &id).await {
        Ok(_) => {}
        Err(CommandError::Conflict { .. }) => {
            let messages = Messages {
                credentials_error: Some(
                    "This is your only way to sign in, so it cannot be removed. Add another first."
                        .to_owned(),
                ),
                ..Messages::default()
            };
            return render(&state, req, &me, messages, StatusCode::CONFLICT, Vec::new()).await;
        }
        Err(e) => return Err(e.into()),
    }
    Ok(see_other("/account?notice=removed", &[]))
}

/// `POST /account/api-keys` (form: `scope` (repeated), `description`, `expires_in`). The response
/// is the account page with the new secret at the top: the only time it is shown.
#[handler]
pub async fn create_api_key(
    req: &Request,
    state: Data<&Engine>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let fields = Fields(fields);
    let me = match begin(&state, req, &fields).await? {
        Ok(me) => me,
        Err(redirect) => return Ok(redirect),
    };
    me.require(&state, "apikey.me", "create")?;
    let expires_in = match fields.opt("expires_in").map(str::parse::<i64>) {
        None => None,
        Some(Ok(secs)) => Some(secs),
        Some(Err(_)) => Some(0),
    };
    let request = IssueRequest {
        scopes: fields.all("scope"),
        description: fields.opt("description").map(str::to_owned),
        clients: Vec::new(),
        expires_in,
        audit: Some(audit_event(req, Some(&me.user.id), "apikey.issue")),
    };
    let (messages, status) = match api_keys::issue(&state, &me.user.id, &me.access, request).await {
        Ok(issued) => (
            Messages {
                new_key: Some(issued),
                ..Messages::default()
            },
            StatusCode::CREATED,
        ),
        Err(IssueError::Store(e)) => return Err(e.into()),
        Err(IssueError::Uncovered(missing)) => (
            Messages {
                api_key_error: Some(format!(
                    "Your access does not include: {}. Nothing was created.",
                    missing.join(", ")
                )),
                ..Messages::default()
            },
            StatusCode::FORBIDDEN,
        ),
        Err(IssueError::Invalid { field, message }) => (
            Messages {
                api_key_error: Some(invalid_key_message(&field, &message)),
                ..Messages::default()
            },
            StatusCode::BAD_REQUEST,
        ),
    };
    render(&state, req, &me, messages, status, Vec::new()).await
}

fn invalid_key_message(field: &str, message: &str) -> String {
    if field == "scopes" {
        "Choose at least one scope.".to_owned()
    } else if field.starts_with("scopes/") {
        format!("A scope is invalid: {message}.")
    } else if field == "expires_in" {
        format!("The lifetime {message}.")
    } else {
        format!("The {field} is invalid: {message}.")
    }
}

/// `POST /account/api-keys/:id/revoke`.
#[handler]
pub async fn revoke_api_key(
    req: &Request,
    state: Data<&Engine>,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let fields = Fields(fields);
    let me = match begin(&state, req, &fields).await? {
        Ok(me) => me,
        Err(redirect) => return Ok(redirect),
    };
    let actor = me.actor(&state, req).await?;
    api_keys::revoke_own(&state, &actor, &id, now()).await?;
    Ok(see_other("/account?notice=revoked", &[]))
}

/// `POST /account/api-keys/revoke-all`: revokes every API key of the signed-in user.
#[handler]
pub async fn revoke_all_api_keys(
    req: &Request,
    state: Data<&Engine>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let fields = Fields(fields);
    let me = match begin(&state, req, &fields).await? {
        Ok(me) => me,
        Err(redirect) => return Ok(redirect),
    };
    let actor = me.actor(&state, req).await?;
    api_keys::revoke_all_own(&state, &actor, now()).await?;
    Ok(see_other("/account?notice=revoked_all", &[]))
}

/// `POST /account/sign-out-everywhere`: ends every session of the signed-in user and revokes
/// every refresh-token family and access token of theirs, then shows the login page.
#[handler]
pub async fn sign_out_everywhere(
    req: &Request,
    state: Data<&Engine>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let fields = Fields(fields);
    let me = match begin(&state, req, &fields).await? {
        Ok(me) => me,
        Err(redirect) => return Ok(redirect),
    };
    let (sessions, tokens) =
        crate::engine::session::end_everywhere(&state, &me.user.id, now()).await?;
    let mut event = audit_event(req, Some(&me.user.id), "session.end_everywhere");
    event.details = json!({ "sessions": sessions, "tokens": tokens });
    audit::record(&state, event).await;
    let removal = crate::http::web::session::end_session(&state, req).await?;
    Ok(see_other("/login", &[removal]))
}
