//! The consent page of the authorization endpoint (reference §4, §6): which application asks, what it
//! asks for in words, and Allow / Deny.
//!
//! The form posts the original authorization request back (as one hidden `request` field) with the
//! decision to `/oauth2/consent`, which validates the whole request again — nothing on this page
//! is trusted — and checks the CSRF token. The page is never framed (`X-Frame-Options: DENY` and
//! `frame-ancestors 'none'`, added to every page), so it cannot be clickjacked.

use maud::html;
use poem::http::StatusCode;
use poem::{Request, Response};

use crate::domain::client::Client;
use crate::domain::user::User;
use crate::http::web::csp::allow_form_target;
use crate::http::web::csrf::csrf_token;
use crate::http::web::pages::layout::{csrf_field, html_response, page};
use crate::http::web::pages::login::user_label;

/// What the consent page shows.
pub struct ConsentView<'a> {
    pub client: &'a Client,
    pub user: &'a User,
    /// The OpenID Connect scopes asked for.
    pub oidc: Vec<&'static str>,
    /// The realm patterns the client would receive (already narrowed to the user's access).
    pub realm: Vec<String>,
    /// The authorization request, form-encoded, to post back.
    pub request: String,
    /// The validated redirect URI both answers lead to (the page's `form-action` must allow it).
    pub redirect_uri: &'a str,
}

/// Renders the consent page.
pub fn render_consent(req: &Request, view: &ConsentView<'_>) -> Response {
    let (csrf, new_cookie) = csrf_token(req);
    let name = user_label(view.user);
    let body = html! {
        section aria-labelledby="consent-heading" {
            h2 #consent-heading { (view.client.name) " wants to access your account" }
            p.muted { "Application id: " code { (view.client.id) } }
            @if view.oidc.is_empty() && view.realm.is_empty() {
                p { "It asks for no permissions beyond knowing that you signed in." }
            } @else {
                p { "If you allow it, the application will be able to:" }
                ul {
                    @for scope in &view.oidc {
                        li { (describe_oidc(scope)) }
                    }
                    @for pattern in &view.realm {
                        li { (describe_pattern(pattern)) " " span.muted { "(" code { (pattern) } ")" } }
                    }
                }
            }
            form method="post" action="/oauth2/consent" {
                (csrf_field(&csrf))
                input type="hidden" name="request" value=(view.request);
                button type="submit" name="decision" value="allow" { "Allow" }
                " "
                button.secondary type="submit" name="decision" value="deny" { "Deny" }
            }
            p.muted { "You can withdraw this later on your account page." }
        }
    };
    let cookies: Vec<_> = new_cookie.into_iter().collect();
    let mut response = html_response(
        StatusCode::OK,
        page("Allow access?", Some((name, &csrf)), body),
        &cookies,
    );
    // Allow and Deny both end with a redirect to the application.
    allow_form_target(&mut response, view.redirect_uri);
    response
}

/// The OpenID Connect scopes in words.
pub fn describe_oidc(scope: &str) -> &'static str {
    match scope {
        "openid" => "Know who you are when you sign in (your user id)",
        "profile" => "See your name, username and profile picture",
        "email" => "See your email address",
        "offline_access" => "Keep access while you are not using it (until you withdraw it)",
        _ => "An unknown permission",
    }
}

/// A `realm:resource:action` pattern in words, e.g. `AuthX:me:read` → "read your own account in
/// AuthX". Wildcards read as "any"; unknown names are shown as they are.
pub fn describe_pattern(pattern: &str) -> String {
    let mut parts = pattern.splitn(3, ':');
    let (Some(realm), Some(resource), Some(action)) = (parts.next(), parts.next(), parts.next())
    else {
        return pattern.to_owned();
    };
    let action = match action {
        "*" | "**" => "do anything with".to_owned(),
        "read" => "read".to_owned(),
        "create" => "create".to_owned(),
        "update" => "change".to_owned(),
        "delete" => "delete".to_owned(),
        other => format!(
            "“{}” on",
            other.replace(".*", " (any)").replace(".**", " (any)")
        ),
    };
    let resource = match resource {
        "*" | "**" => "every resource".to_owned(),
        "me" => "your own account".to_owned(),
        other => other
            .split('.')
            .map(|segment| match segment {
                "*" | "**" => "any",
                "me" => "yours",
                s => s,
            })
            .collect::<Vec<_>>()
            .join(" "),
    };
    let realm = match realm {
        "*" | "**" => "any realm".to_owned(),
        r => r.to_owned(),
    };
    format!("{action} {resource} in {realm}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_in_words() {
        assert_eq!(
            describe_pattern("AuthX:me:read"),
            "read your own account in AuthX"
        );
        assert_eq!(
            describe_pattern("Shop:orders.*:delete"),
            "delete orders any in Shop"
        );
        assert_eq!(
            describe_pattern("AuthX:**:**"),
            "do anything with every resource in AuthX"
        );
        assert_eq!(describe_pattern("bad"), "bad");
    }
}
