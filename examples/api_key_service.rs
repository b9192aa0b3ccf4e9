//! A downstream service guarded by authx API keys — the Ego pattern of reference §5.
//!
//! Callers send `Authorization: Bearer axk_…`; the service asks authx what the key may do now
//! (`POST /oauth2/introspect`, authenticating as a confidential client) and serves `GET /documents`
//! only when the key's effective scopes allow `App:documents:read`, checked locally with
//! `authx::scopes` (deny patterns included).
//!
//! ```sh
//! AUTHX_ISSUER=http://127.0.0.1:8080 CLIENT_ID=docs CLIENT_SECRET=axs_… \
//!     cargo run --example api_key_service -- 127.0.0.1:3000
//! curl -H "Authorization: Bearer $API_KEY" http://127.0.0.1:3000/documents
//! ```

use poem::http::StatusCode;
use poem::listener::TcpListener;
use poem::web::Data;
use poem::{EndpointExt, Request, Response, Route, Server, get, handler};
use serde::Deserialize;

/// The scope this service requires.
const REQUIRED_SCOPE: &str = "App:documents:read";

/// How to reach authx.
#[derive(Clone)]
struct Checker {
    http: reqwest::Client,
    introspect_url: String,
    client_id: String,
    client_secret: String,
}

/// The parts of an RFC 7662 answer this service reads.
#[derive(Deserialize)]
struct Introspection {
    active: bool,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    deny: Vec<String>,
    #[serde(default)]
    sub: Option<String>,
}

#[handler]
async fn documents(req: &Request, checker: Data<&Checker>) -> Response {
    let Some(key) = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return answer(
            StatusCode::UNAUTHORIZED,
            "send Authorization: Bearer <API key>",
        );
    };
    let answer_from_authx = checker
        .http
        .post(&checker.introspect_url)
        .basic_auth(&checker.client_id, Some(&checker.client_secret))
        .form(&[("token", key)])
        .send()
        .await;
    let introspection = match answer_from_authx {
        Ok(r) if r.status().is_success() => r.json::<Introspection>().await.ok(),
        _ => None,
    };
    let Some(introspection) = introspection else {
        return answer(StatusCode::BAD_GATEWAY, "authx could not be asked");
    };
    if !introspection.active {
        return answer(
            StatusCode::UNAUTHORIZED,
            "invalid, expired or revoked API key",
        );
    }
    let scopes: Vec<&str> = introspection.scope.split_whitespace().collect();
    let deny: Vec<&str> = introspection.deny.iter().map(String::as_str).collect();
    match authx::scopes::allows(&scopes, &deny, REQUIRED_SCOPE) {
        Ok(true) => answer(
            StatusCode::OK,
            &format!(
                "documents for user {}",
                introspection.sub.as_deref().unwrap_or("?")
            ),
        ),
        _ => answer(
            StatusCode::FORBIDDEN,
            &format!("{REQUIRED_SCOPE} is required"),
        ),
    }
}

fn answer(status: StatusCode, text: &str) -> Response {
    Response::builder().status(status).body(text.to_owned())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let env = |name: &str| std::env::var(name).unwrap_or_default();
    let authx =
        std::env::var("AUTHX_ISSUER").unwrap_or_else(|_| "http://127.0.0.1:8080".to_owned());
    let checker = Checker {
        http: reqwest::Client::new(),
        introspect_url: format!("{}/oauth2/introspect", authx.trim_end_matches('/')),
        client_id: env("CLIENT_ID"),
        client_secret: env("CLIENT_SECRET"),
    };
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".to_owned());
    let app = Route::new().at("/documents", get(documents)).data(checker);
    Server::new(TcpListener::bind(listen)).run(app).await
}
