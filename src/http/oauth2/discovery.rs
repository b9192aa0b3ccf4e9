//! Discovery documents: `/.well-known/openid-configuration` (OpenID Connect Discovery 1.0 §3)
//! and `/.well-known/oauth-authorization-server` (RFC 8414), the same metadata under both names.
//!
//! Everything advertised is what the endpoints really do: only the code flow with S256 PKCE,
//! query response mode, RFC 9207 `iss` in authorization responses, the three client
//! authentication methods, and the signing algorithms authx can use for its keys.

use poem::http::{StatusCode, header};
use poem::web::Data;
use poem::{Response, handler};
use serde_json::{Value, json};

use crate::domain::signing_key::SigningAlg;
use crate::domain::token::OIDC_SCOPES;
use crate::engine::Engine;

/// The metadata document for `issuer`, whose ID tokens may be signed with `id_token_algs`.
pub fn metadata(issuer: &str, id_token_algs: &[SigningAlg]) -> Value {
    let id_token_algs: Vec<&str> = id_token_algs.iter().map(|a| a.as_str()).collect();
    let endpoint = |path: &str| format!("{issuer}{path}");
    let auth_methods = ["client_secret_basic", "client_secret_post", "none"];
    json!({
        "issuer": issuer,
        "authorization_endpoint": endpoint("/oauth2/authorize"),
        "token_endpoint": endpoint("/oauth2/token"),
        "userinfo_endpoint": endpoint("/oauth2/userinfo"),
        "jwks_uri": endpoint("/oauth2/jwks"),
        "introspection_endpoint": endpoint("/oauth2/introspect"),
        "revocation_endpoint": endpoint("/oauth2/revoke"),
        "end_session_endpoint": endpoint("/oauth2/logout"),
        "scopes_supported": OIDC_SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": id_token_algs,
        "token_endpoint_auth_methods_supported": auth_methods,
        // Introspection and revocation: confidential clients authenticate; public clients may
        // revoke their own tokens naming themselves.
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login", "consent"],
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "azp",
            "name", "given_name", "family_name", "preferred_username", "picture", "updated_at",
            "email", "email_verified"
        ],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
        "frontchannel_logout_supported": false,
        "backchannel_logout_supported": false,
    })
}

/// `GET /.well-known/openid-configuration` and `GET /.well-known/oauth-authorization-server`.
#[handler]
pub async fn discovery(state: Data<&Engine>) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .content_type("application/json")
        .header(header::CACHE_CONTROL, "public, max-age=300")
        .body(
            metadata(
                &state.config.issuer_url(),
                &state.config.tokens.published_algs(),
            )
            .to_string(),
        )
}
