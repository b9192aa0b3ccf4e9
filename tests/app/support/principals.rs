//! Callers for API tests: a user holding exactly the given scopes (through a role of their own)
//! and an API key for them, created straight through the store so tests control access precisely.

use authx::domain::api_key::NewApiKey;
use authx::domain::role::NewRole;
use authx::domain::user::NewUser;
use authx::secret;

use super::app::TestApp;

/// A user with an API key.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: String,
    pub key: String,
    #[allow(dead_code)]
    pub role_id: String,
}

impl Caller {
    /// `Authorization` header value.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.key)
    }
}

/// A new user holding exactly `scopes` (via a fresh role), with an API key carrying `key_scopes`
/// (or the same scopes when `None`) that expires in an hour.
pub async fn caller_with(app: &TestApp, scopes: &[&str], key_scopes: Option<&[&str]>) -> Caller {
    let store = &app.state.store;
    let n = uuid::Uuid::new_v4().simple().to_string();
    let mut user = NewUser::human();
    user.email = Some(format!("user-{}@example.com", &n[..12]));
    user.display_name = Some(format!("User {}", &n[..6]));
    let user = store.create_user(user).await.unwrap();
    let role_id = format!("r{}", &n[..20]);
    store
        .create_role(NewRole {
            id: role_id.clone(),
            name: format!("role for {}", user.id),
            description: None,
            is_default: false,
            enabled: true,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            deny: Vec::new(),
        })
        .await
        .unwrap();
    store.add_role_member(&role_id, &user.id).await.unwrap();
    let key = secret::generate(secret::API_KEY_PREFIX);
    store
        .create_api_key(NewApiKey {
            user_id: user.id.clone(),
            key_hash: secret::hash(&key),
            hint: secret::hint(&key),
            description: Some("test".into()),
            scopes: key_scopes
                .unwrap_or(scopes)
                .iter()
                .map(|s| s.to_string())
                .collect(),
            clients: Vec::new(),
            expires_at: authx::domain::now() + 3600,
        })
        .await
        .unwrap();
    Caller {
        user_id: user.id,
        key,
        role_id,
    }
}

/// A user holding exactly `scopes`, with a key for all of them.
pub async fn caller(app: &TestApp, scopes: &[&str]) -> Caller {
    caller_with(app, scopes, None).await
}

/// `method path` on the admin API as `who`, with an optional JSON body: (status, JSON answer or
/// `null`).
pub async fn api_call(
    app: &TestApp,
    who: &Caller,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut req = app
        .client
        .request(method, app.url(path))
        .header("authorization", who.bearer());
    if let Some(body) = body {
        req = req.json(&body);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let value = if text.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
    };
    (status, value)
}

/// [`api_call`] with a JSON body, `null` meaning none.
pub async fn api_json(
    app: &TestApp,
    who: &Caller,
    method: reqwest::Method,
    path: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    api_call(app, who, method, path, (!body.is_null()).then_some(body)).await
}

/// An enabled authority `id` of `strategy` with empty details, straight through the store.
pub async fn stored_authority(
    app: &TestApp,
    id: &str,
    strategy: authx::domain::authority::Strategy,
) {
    app.state
        .store
        .create_authority(authx::domain::authority::NewAuthority {
            id: id.to_owned(),
            strategy,
            name: id.to_owned(),
            enabled: true,
            details: serde_json::json!({}),
        })
        .await
        .unwrap();
}
