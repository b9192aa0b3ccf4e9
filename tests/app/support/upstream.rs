//! Helpers shared by the upstream-login tests (OpenID Connect and SAML): admin-API calls, reading
//! cookies and redirects, counting users, the `login.failure` audit trail, and the refusal page.

use authx::domain::Page;
use authx::domain::audit::{AuditFilter, Outcome};
use authx::domain::user::UserFilter;
use reqwest::Method;
use serde_json::Value;

use super::app::TestApp;
use super::principals::Caller;

/// Calls the admin API as `who`; returns the status and the JSON body (`Null` when none).
pub async fn api(
    app: &TestApp,
    who: &Caller,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app
        .client
        .request(method, app.url(path))
        .header("authorization", who.bearer());
    if let Some(body) = body {
        request = request.json(&body);
    }
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The `Location` of a redirect.
pub fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_owned()
}

/// The first `Set-Cookie` value starting with `prefix`.
pub fn set_cookie(r: &reqwest::Response, prefix: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with(prefix))
}

/// How many users exist.
pub async fn user_count(app: &TestApp) -> usize {
    app.state
        .store
        .list_users(&UserFilter::default(), &Page::first(100))
        .await
        .unwrap()
        .len()
}

/// The `(reason, outcome)` of every `login.failure` event of `authority`, oldest first.
pub async fn failures(app: &TestApp, authority: &str) -> Vec<(String, Outcome)> {
    let mut events = app
        .state
        .store
        .list_audit(
            &AuditFilter {
                action: Some("login.failure".into()),
                ..Default::default()
            },
            &Page::first(100),
        )
        .await
        .unwrap();
    events.reverse();
    events
        .into_iter()
        .filter(|e| e.details["authority"] == authority)
        .map(|e| (e.details["reason"].as_str().unwrap().to_owned(), e.outcome))
        .collect()
}

/// Asserts a refusal page: `status`, `message`, a link `back`, no session cookie, and the pending
/// login's cookie removed.
pub async fn assert_refused_page(
    r: reqwest::Response,
    status: u16,
    message: &str,
    back: &str,
) -> String {
    assert_eq!(r.status(), status);
    assert!(set_cookie(&r, "authx_session=").is_none());
    let removal = set_cookie(&r, "authx_upstream=").expect("the pending cookie is removed");
    assert!(removal.contains("Path=/login/"), "{removal}");
    let html = r.text().await.unwrap();
    assert!(html.contains(message), "{html}");
    assert!(html.contains(&format!("href=\"{back}\"")), "{html}");
    html
}
