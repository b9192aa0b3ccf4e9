//! RFC 6749 §5.2 error answers of the OAuth2 endpoints: a JSON object `{"error": "<code>",
//! "error_description": "…"}` with the code's status, never cached. A failed client
//! authentication is 401 with a `Basic` challenge (RFC 6749 §5.2, RFC 7617).

use poem::http::{StatusCode, header};
use poem::{IntoResponse, Response};
use serde_json::json;

use crate::engine::oauth2::error::{ErrorCode, OAuth2Error};

/// The `WWW-Authenticate` challenge of a failed client authentication.
pub const BASIC_CHALLENGE: &str = "Basic realm=\"authx\"";

/// The HTTP status of the answer.
pub fn status(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidClient | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
        ErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    }
}

impl IntoResponse for OAuth2Error {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.code.as_str() });
        if let Some(description) = &self.description {
            body["error_description"] = json!(description);
        }
        let mut response = Response::builder()
            .status(status(self.code))
            .content_type("application/json")
            .header(header::CACHE_CONTROL, "no-store")
            .header(header::PRAGMA, "no-cache");
        if self.code == ErrorCode::InvalidClient {
            response = response.header(header::WWW_AUTHENTICATE, BASIC_CHALLENGE);
        }
        response.body(body.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn shapes() {
        let r = OAuth2Error::invalid_client().into_response();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers()[header::WWW_AUTHENTICATE], BASIC_CHALLENGE);
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
        let body: serde_json::Value =
            serde_json::from_str(&r.into_body().into_string().await.unwrap()).unwrap();
        assert_eq!(body["error"], "invalid_client");
        let r = OAuth2Error::invalid_request("token is required").into_response();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(r.headers().get(header::WWW_AUTHENTICATE).is_none());
    }
}
