//! A command-line OAuth client: signs a person in through authx with the authorization code flow,
//! PKCE (S256) and a loopback redirect (RFC 8252 §7.3), then prints the tokens as JSON.
//!
//! It reads authx's discovery document, listens on `127.0.0.1` on a port the system picks, and
//! prints the authorization URL for the user to open in a browser. authx matches the client's
//! registered `http://127.0.0.1/callback` whatever the port (RFC 8252 §7.3). When the browser
//! comes back to `http://127.0.0.1:<port>/callback`, the redirect must carry our `state` (else it
//! is answered 400 and the CLI keeps waiting: anyone on this machine can reach the port) and
//! authx's `iss` (RFC 9207; a wrong one ends the run without using the code: a mix-up attack).
//! The code is exchanged, with the PKCE verifier, by the `oauth2` crate, and the token response is
//! printed to standard output as JSON, with the access token's claims decoded for reading (not
//! verified: that is the resource server's job). Messages for the user go to standard error.
//!
//! The client is public (no secret) unless `CLIENT_SECRET` is set. Register it with the redirect
//! URI `http://127.0.0.1/callback`, e.g. through `POST /api/v1/clients`
//! `{"id": "cli", "name": "CLI", "type": "public", "redirect_uris": ["http://127.0.0.1/callback"],
//! "scopes": ["Shop:**:*"]}`.
//!
//! ```sh
//! AUTHX_ISSUER=http://127.0.0.1:8080 \
//!     cargo run --example pkce_cli -- cli openid offline_access Shop:orders:read
//! ```
//!
//! Arguments: the client id, then the scopes. Environment: `AUTHX_ISSUER` (authx's issuer URL,
//! the variable `authx serve` itself reads, so one export serves both; default
//! `http://127.0.0.1:8080`), `CLIENT_SECRET` (optional), `PKCE_CLI_TIMEOUT_SECS` (how long to wait
//! for the browser, default 300).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    ExtraTokenFields, PkceCodeChallenge, RedirectUrl, Scope, StandardRevocableToken,
    StandardTokenResponse, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// The path of the redirect URI, as registered (`http://127.0.0.1/callback`).
const CALLBACK_PATH: &str = "/callback";
/// The largest request head accepted on the loopback listener (a redirect with a code, a state
/// and an issuer is far smaller).
const MAX_HEAD: usize = 16 * 1024;
/// How long one connection to the loopback listener may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// What this client needs of the discovery document.
#[derive(Deserialize)]
struct Metadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
}

/// The OpenID Connect field of a token response that the `oauth2` crate does not know.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct OidcFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
}

impl ExtraTokenFields for OidcFields {}

type Tokens = StandardTokenResponse<OidcFields, BasicTokenType>;

/// An `oauth2` client with an authorization and a token endpoint.
type OAuthClient = oauth2::Client<
    BasicErrorResponse,
    Tokens,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// Why a token request failed below OAuth (the `oauth2` crate's HTTP client error).
#[derive(Debug, thiserror::Error)]
enum HttpError {
    #[error(transparent)]
    Reqwest(#[from] reqwest::Error),
    #[error("cannot build the response: {0}")]
    Http(#[from] oauth2::http::Error),
}

/// The `oauth2` crate's requests, sent with reqwest (the crate's own reqwest support is a
/// different major version, left out by `default-features = false`).
async fn send(
    http: reqwest::Client,
    request: oauth2::HttpRequest,
) -> Result<oauth2::HttpResponse, HttpError> {
    let response = http.execute(reqwest::Request::try_from(request)?).await?;
    let mut builder = oauth2::http::Response::builder().status(response.status().as_u16());
    for (name, value) in response.headers() {
        builder = builder.header(name.as_str(), value.as_bytes());
    }
    let body = response.bytes().await?.to_vec();
    Ok(builder.body(body)?)
}

/// What the loopback listener received.
enum Callback {
    /// The authorization code, from authx, for our request.
    Code(String),
    /// Not for us (another path, or a `state` that is not ours): keep waiting.
    Ignored,
}

/// What a redirect must carry to be ours.
struct Expected {
    state: String,
    issuer: String,
    /// Whether authx promised `iss` in its answers (RFC 9207 §3: then it must be there).
    require_iss: bool,
}

/// Reads one HTTP request from `stream`, answers it, and says what it carried. An error means the
/// run must stop (an answer from another issuer, or an authorization error).
async fn handle(stream: &mut TcpStream, expected: &Expected) -> anyhow::Result<Callback> {
    let target = match tokio::time::timeout(READ_TIMEOUT, read_target(stream)).await {
        Ok(Ok(Some(target))) => target,
        // Not a GET, or a request we cannot read: not the browser coming back.
        Ok(Ok(None)) | Ok(Err(_)) | Err(_) => {
            respond(stream, 400, "Bad request.").await;
            return Ok(Callback::Ignored);
        }
    };
    let Ok(url) = reqwest::Url::parse(&format!("http://127.0.0.1{target}")) else {
        respond(stream, 400, "Bad request.").await;
        return Ok(Callback::Ignored);
    };
    if url.path() != CALLBACK_PATH {
        respond(stream, 404, "Not found.").await;
        return Ok(Callback::Ignored);
    }
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    // The state ties the redirect to the request this run made (RFC 6749 §10.12); anything else is
    // someone else's redirect, or a forged one.
    if param("state").as_deref() != Some(expected.state.as_str()) {
        eprintln!("ignored a redirect whose state is not ours");
        respond(stream, 400, "This sign-in was not started here.").await;
        return Ok(Callback::Ignored);
    }
    // RFC 9207 / RFC 9700 §4.4: the answer must come from the server we asked. With another
    // issuer the code must not be sent anywhere: stop.
    match param("iss") {
        Some(iss) if iss == expected.issuer => {}
        None if !expected.require_iss => {}
        other => {
            respond(stream, 400, "The answer came from an unexpected server.").await;
            bail!(
                "the redirect names the issuer {other:?}, not {:?}: refusing it (mix-up defence)",
                expected.issuer
            );
        }
    }
    if let Some(error) = param("error") {
        respond(stream, 200, "Sign-in did not complete; see the terminal.").await;
        let description = param("error_description").unwrap_or_default();
        bail!("authorization failed: {error} {description}");
    }
    let Some(code) = param("code") else {
        respond(stream, 400, "The answer carries no code.").await;
        bail!("the redirect carries neither a code nor an error");
    };
    respond(stream, 200, "Signed in. You may close this window.").await;
    Ok(Callback::Code(code))
}

/// The request target of a `GET` on `stream` (`None` for another method or a malformed head).
async fn read_target(stream: &mut TcpStream) -> std::io::Result<Option<String>> {
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 || head.len() + n > MAX_HEAD {
            return Ok(None);
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head);
    let mut request_line = text.lines().next().unwrap_or_default().split(' ');
    match (request_line.next(), request_line.next()) {
        (Some("GET"), Some(target)) if target.starts_with('/') => Ok(Some(target.to_owned())),
        _ => Ok(None),
    }
}

/// Answers the browser with a one-line page and closes. A failure to answer is not ours to fix:
/// the browser has gone.
async fn respond(stream: &mut TcpStream, status: u16, text: &str) {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Bad Request",
    };
    let body = format!("<!doctype html><title>authx</title><p>{text}</p>\n");
    let answer = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\n\
         Content-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(answer.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Waits on `listener` until the browser brings the code back. Connections are served
/// concurrently: browsers open speculative connections that may never send a request, and one of
/// those must not hold up the real redirect.
async fn wait_for_code(listener: &TcpListener, expected: Expected) -> anyhow::Result<String> {
    let expected = Arc::new(expected);
    let (tx, mut rx) = mpsc::channel::<anyhow::Result<String>>(1);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (mut stream, _) = accepted.context("accepting on the loopback listener")?;
                let (tx, expected) = (tx.clone(), Arc::clone(&expected));
                tokio::spawn(async move {
                    match handle(&mut stream, &expected).await {
                        Ok(Callback::Ignored) => {}
                        Ok(Callback::Code(code)) => {
                            let _ = tx.send(Ok(code)).await;
                        }
                        Err(error) => {
                            let _ = tx.send(Err(error)).await;
                        }
                    }
                });
            }
            Some(outcome) = rx.recv() => return outcome,
        }
    }
}

/// The claims of a JWT, decoded without verification (for display only).
fn unverified_claims(jwt: &str) -> Option<Value> {
    let payload = jwt.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let client_id = args.next().ok_or_else(|| {
        anyhow!("usage: pkce_cli <client id> [scope ...]  (AUTHX_ISSUER in the environment)")
    })?;
    let scopes: Vec<String> = args.collect();
    let authx_url =
        std::env::var("AUTHX_ISSUER").unwrap_or_else(|_| "http://127.0.0.1:8080".to_owned());
    let authx_url = authx_url.trim_end_matches('/');
    let wait = std::env::var("PKCE_CLI_TIMEOUT_SECS")
        .ok()
        .map(|s| s.parse::<u64>())
        .transpose()
        .context("PKCE_CLI_TIMEOUT_SECS must be a number of seconds")?
        .unwrap_or(300);

    let http = reqwest::Client::builder()
        // The oauth2 crate's advice against SSRF: never follow a redirect from the token
        // endpoint, or the code and the verifier would go wherever it points.
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .context("building the HTTP client")?;
    let discovery = format!("{authx_url}/.well-known/openid-configuration");
    let metadata: Metadata = http
        .get(&discovery)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("fetching {discovery}"))?
        .json()
        .await
        .with_context(|| format!("reading {discovery}"))?;
    if metadata.issuer != authx_url {
        bail!(
            "{discovery} names the issuer {:?}, not {authx_url:?}",
            metadata.issuer
        );
    }

    // RFC 8252 §7.3 and §8.3: the loopback IP literal, not `localhost`, on a port of the system's
    // choosing.
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .context("binding 127.0.0.1")?;
    let port = listener.local_addr().context("the listener's port")?.port();
    let redirect_uri = format!("http://127.0.0.1:{port}{CALLBACK_PATH}");

    let mut client: OAuthClient = oauth2::Client::new(ClientId::new(client_id.clone()))
        .set_auth_uri(AuthUrl::new(metadata.authorization_endpoint.clone())?)
        .set_token_uri(TokenUrl::new(metadata.token_endpoint.clone())?)
        .set_redirect_uri(RedirectUrl::new(redirect_uri.clone())?);
    if let Ok(secret) = std::env::var("CLIENT_SECRET") {
        client = client.set_client_secret(ClientSecret::new(secret));
    }
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scopes(scopes.iter().cloned().map(Scope::new))
        .set_pkce_challenge(challenge)
        .url();
    eprintln!("Open this URL in your browser to sign in:\n\n    {url}\n");
    eprintln!("Waiting for the browser on {redirect_uri} ...");

    let code = tokio::time::timeout(
        Duration::from_secs(wait),
        wait_for_code(
            &listener,
            Expected {
                state: state.secret().clone(),
                issuer: metadata.issuer.clone(),
                require_iss: metadata.authorization_response_iss_parameter_supported,
            },
        ),
    )
    .await
    .map_err(|_| anyhow!("no answer from the browser within {wait} s"))??;
    // Nothing else is to be accepted on the port now.
    drop(listener);

    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&|request| send(http.clone(), request))
        .await
        .context("exchanging the code at the token endpoint")?;

    let access_token = tokens.access_token().secret();
    let expires_in = tokens.expires_in().map(|d| d.as_secs());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // RFC 6749 §5.1: no `scope` in the answer means exactly the requested scope.
    let scope = match tokens.scopes() {
        Some(granted) => granted
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(" "),
        None => scopes.join(" "),
    };
    let output = json!({
        "token_type": tokens.token_type().as_ref(),
        "access_token": access_token,
        "expires_in": expires_in,
        "expires_at": expires_in.map(|e| now.saturating_add(e)),
        "scope": scope,
        "refresh_token": tokens.refresh_token().map(|t| t.secret()),
        "id_token": tokens.extra_fields().id_token,
        "access_token_claims": unverified_claims(access_token),
    });
    println!("{}", serde_json::to_string_pretty(&output)?);
    Ok(())
}
