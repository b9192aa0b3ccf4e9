//! `POST /oauth2/introspect` (RFC 7662): an authenticated confidential client asks whether a token
//! is active and what it carries now (see the engine's `introspect`). Everything that is not an
//! active token is exactly `{"active": false}`; the answer is never cached.

use poem::http::{StatusCode, header};
use poem::web::Data;
use poem::{Body, IntoResponse, Request, Response, handler};
use serde_json::{Value, json};

use super::client_auth::authenticate;
use super::read_form;
use crate::engine::Engine;
use crate::engine::oauth2::client_auth::Public;
use crate::engine::oauth2::error::OAuth2Error;
use crate::engine::oauth2::introspect::{ActiveToken, inspect};
use crate::engine::oauth2::scope::to_parameter;

/// `POST /oauth2/introspect`.
#[handler]
pub async fn introspect(req: &Request, body: Body, state: Data<&Engine>) -> Response {
    match run(req, body, &state).await {
        Ok(answer) => answer_json(StatusCode::OK, &answer),
        Err(error) => error.into_response(),
    }
}

async fn run(req: &Request, body: Body, state: &Engine) -> Result<Value, OAuth2Error> {
    let form = read_form(req, body).await?;
    let client = authenticate(state, req, &form, Public::Refuse).await?;
    let token = form.require("token")?;
    let active = inspect(state, &client, token, form.get("token_type_hint")).await?;
    Ok(match active {
        None => inactive(),
        Some(ActiveToken::ApiKey(key)) => {
            let mut answer = json!({
                "active": true,
                "scope": key.scopes.join(" "),
                "sub": key.user_id,
                "exp": key.expires_at,
                "iat": key.issued_at,
                // RFC 7662 §2.2: the RFC 6749 §7.1 type — an API key is presented as a bearer
                // token; which kind of credential it is goes in `token_kind`.
                "token_type": "Bearer",
                "token_kind": "api_key",
                "iss": state.config.issuer_url(),
            });
            if !key.deny.is_empty() {
                answer["deny"] = json!(key.deny);
            }
            if !key.clients.is_empty() {
                // Limited to some clients, one of which is the caller: name the caller only.
                answer["client_id"] = json!(client.id());
            }
            answer
        }
        Some(ActiveToken::AccessToken(token)) => {
            let claims = &token.claims;
            let mut answer = json!({
                "active": true,
                "scope": to_parameter(&token.oidc.oidc, &token.access.scopes),
                "client_id": claims.client_id,
                "sub": claims.sub,
                "exp": claims.exp,
                "iat": claims.iat,
                "iss": claims.iss,
                "aud": claims.aud,
                "jti": claims.jti,
                "token_type": "Bearer",
                "token_kind": "access_token",
            });
            let deny = token.access.relevant_deny();
            if !deny.is_empty() {
                answer["deny"] = json!(deny);
            }
            if let Some(auth_time) = claims.auth_time {
                answer["auth_time"] = json!(auth_time);
            }
            answer
        }
        Some(ActiveToken::RefreshToken(token)) => json!({
            "active": true,
            "scope": token.scopes.join(" "),
            "client_id": token.client_id,
            "sub": token.user_id,
            "exp": token.expires_at,
            "iat": token.created_at,
            "iss": state.config.issuer_url(),
            // Not an access token, so no RFC 6749 §7.1 type.
            "token_kind": "refresh_token",
        }),
    })
}

/// The one answer for everything that is not an active token.
pub fn inactive() -> Value {
    json!({ "active": false })
}

/// A JSON answer that no cache may keep (RFC 7662 §2.2 carries live authorization data).
pub fn answer_json(status: StatusCode, body: &Value) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::PRAGMA, "no-cache")
        .body(body.to_string())
}
