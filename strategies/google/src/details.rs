//! The `details` of a `google` authority: validation, normal form, redaction and PATCH merging.
//!
//! The admin API stores whatever [`GoogleDetails::from_details`] accepts, in the normal form
//! [`GoogleDetails::to_value`] writes (every key present, defaults filled in), so the login flow
//! can parse stored details without guessing. `client_secret` is write-only: it is never shown
//! ([`redact`] replaces it with `client_secret_set`), so an admin who edits an authority usually
//! sends details *without* it — [`merge_details`] puts the stored secret back before validation.
//!
//! The issuer must be `https`, because everything the login trusts (discovery, keys, the token
//! endpoint) is fetched from it; plain `http` is accepted only for loopback hosts so tests and
//! local development can run an issuer on this machine.

use std::fmt;

use authx_strategy_core::{StrategyError, details};
use oauth2::url::{Host, Url};
use serde_json::{Map, Value};

/// Google's issuer, the default `issuer`.
pub const GOOGLE_ISSUER: &str = "https://accounts.google.com";

/// The keys a `google` authority's details may have.
pub const KNOWN_KEYS: &[&str] = &[
    "issuer",
    "client_id",
    "client_secret",
    "hosted_domains",
    "match_users_by_email",
    "creates_users",
    "role_ids",
    "extra_scopes",
];

/// The marker [`redact`] shows instead of the secret. Admin clients often send back what they
/// were shown, so [`merge_details`] drops it.
pub const SECRET_SET_KEY: &str = "client_secret_set";

/// Upper bounds that keep a details object (and the authorization URL built from it) small.
const MAX_LIST: usize = 100;
const MAX_CLIENT_ID: usize = 1024;
const MAX_CLIENT_SECRET: usize = 4096;
const MAX_URL: usize = 2000;
const MAX_SCOPE: usize = 200;

/// The validated settings of a `google` (OpenID Connect) authority.
#[derive(Clone, PartialEq, Eq)]
pub struct GoogleDetails {
    /// The issuer identifier, exactly as configured (compared byte for byte with the discovery
    /// document and the id_token's `iss`).
    pub issuer: String,
    /// The OAuth client id registered at the provider.
    pub client_id: String,
    /// The OAuth client secret (write-only; never logged: `Debug` hides it).
    pub client_secret: String,
    /// Google Workspace domains allowed to log in (the `hd` claim); empty: any account.
    pub hosted_domains: Vec<String>,
    /// Whether an upstream identity with a *verified* email may be attached to the user who has
    /// an email credential for that address (reference §3, step 3).
    pub match_users_by_email: bool,
    /// Whether an unknown identity creates a user (reference §3, step 4).
    pub creates_users: bool,
    /// Roles assigned to users this authority creates.
    pub role_ids: Vec<String>,
    /// Scopes requested in addition to `openid email profile`.
    pub extra_scopes: Vec<String>,
}

impl fmt::Debug for GoogleDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GoogleDetails")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("hosted_domains", &self.hosted_domains)
            .field("match_users_by_email", &self.match_users_by_email)
            .field("creates_users", &self.creates_users)
            .field("role_ids", &self.role_ids)
            .field("extra_scopes", &self.extra_scopes)
            .finish()
    }
}

impl GoogleDetails {
    /// Validates a details object (`null` counts as `{}`) and parses it. Every error names its
    /// field as `details.<key>` (list entries as `details.<key>/<index>`); unknown keys are
    /// refused.
    pub fn from_details(details: &Value) -> Result<Self, StrategyError> {
        let map = details::object(details, KNOWN_KEYS)?;
        let issuer = match map.get("issuer") {
            None => GOOGLE_ISSUER.to_owned(),
            Some(value) => {
                let s = value.as_str().ok_or_else(|| {
                    StrategyError::invalid_detail("issuer", "must be a string (a URL)")
                })?;
                check_issuer(s).map_err(|m| StrategyError::invalid_detail("issuer", m))?;
                s.to_owned()
            }
        };
        let client_id = required_text(&map, "client_id", MAX_CLIENT_ID)?;
        let client_secret = required_text(&map, "client_secret", MAX_CLIENT_SECRET)?;
        let hosted_domains = string_list(&map, "hosted_domains", |s| {
            let lower = s.to_ascii_lowercase();
            is_domain(&lower).then_some(lower)
        })?;
        let role_ids = string_list(&map, "role_ids", |s| is_slug(s).then(|| s.to_owned()))?;
        let extra_scopes = string_list(&map, "extra_scopes", |s| {
            is_scope_token(s).then(|| s.to_owned())
        })?;
        Ok(Self {
            issuer,
            client_id,
            client_secret,
            hosted_domains,
            match_users_by_email: flag(&map, "match_users_by_email")?,
            creates_users: flag(&map, "creates_users")?,
            role_ids,
            extra_scopes,
        })
    }

    /// The normal form that is stored: every key present, defaults filled in, the secret
    /// included (pass it through [`redact`] before showing it).
    pub fn to_value(&self) -> Value {
        let strings = |items: &[String]| Value::from(items.to_vec());
        let mut map = Map::new();
        map.insert("issuer".into(), Value::from(self.issuer.as_str()));
        map.insert("client_id".into(), Value::from(self.client_id.as_str()));
        map.insert(
            "client_secret".into(),
            Value::from(self.client_secret.as_str()),
        );
        map.insert("hosted_domains".into(), strings(&self.hosted_domains));
        map.insert(
            "match_users_by_email".into(),
            Value::Bool(self.match_users_by_email),
        );
        map.insert("creates_users".into(), Value::Bool(self.creates_users));
        map.insert("role_ids".into(), strings(&self.role_ids));
        map.insert("extra_scopes".into(), strings(&self.extra_scopes));
        Value::Object(map)
    }

    /// The scopes to request: `openid email profile`, then the extra scopes, without
    /// duplicates.
    pub fn scopes(&self) -> Vec<String> {
        let mut scopes: Vec<String> = ["openid", "email", "profile"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        for scope in &self.extra_scopes {
            if !scopes.contains(scope) {
                scopes.push(scope.clone());
            }
        }
        scopes
    }
}

/// The details as they may be shown: `client_secret` removed, `client_secret_set: true|false`
/// added. Anything that is not an object is returned as is.
pub fn redact(details: &Value) -> Value {
    let Some(map) = details.as_object() else {
        return details.clone();
    };
    let mut out = Map::new();
    for (key, value) in map {
        if key == "client_secret" {
            continue;
        }
        out.insert(key.clone(), value.clone());
    }
    let set = map
        .get("client_secret")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty());
    out.insert(SECRET_SET_KEY.to_owned(), Value::Bool(set));
    Value::Object(out)
}

/// Prepares an admin's replacement `details` for validation by keeping the stored secret.
///
/// The secret is write-only, so a PATCH usually omits it (or echoes the `client_secret_set`
/// marker it was shown). Call this with the stored details (`old`) and the submitted ones
/// (`new`), then pass the result to [`GoogleDetails::from_details`] (or
/// [`authx_strategy_core::DetailsRules::validate_details`]):
///
/// - `client_secret_set` is dropped from `new` (it is only an output marker);
/// - if `new` has a `client_secret`, it wins (a rotation);
/// - if `new` has none, `old`'s is copied **only when the issuer and client id stay the same**.
///   A secret belongs to one client at one provider: moving it to another issuer would hand it
///   to that issuer's token endpoint, so a changed issuer or client id requires a new secret (the
///   validation then reports `details.client_secret` as required).
///
/// Other keys merge as a JSON merge patch (RFC 7396), as the admin API's `details` field does for
/// every strategy: what `new` leaves out is kept, a `null` removes it. A `new` that is not an
/// object is returned as is.
pub fn merge_details(old: &Value, new: &Value) -> Value {
    let Some(new_map) = new.as_object() else {
        return new.clone();
    };
    let mut patch = new_map.clone();
    patch.remove(SECRET_SET_KEY);
    let secret_given = patch.get("client_secret").is_some_and(Value::is_string);
    let Value::Object(mut merged) =
        authx_strategy_core::details::merge_patch(old, &Value::Object(patch))
    else {
        return new.clone();
    };
    if !secret_given {
        let issuer = |map: Option<&Map<String, Value>>| {
            map.and_then(|m| m.get("issuer"))
                .and_then(Value::as_str)
                .unwrap_or(GOOGLE_ISSUER)
                .to_owned()
        };
        let client_id = |map: Option<&Map<String, Value>>| {
            map.and_then(|m| m.get("client_id"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let old_map = old.as_object();
        let same_client = issuer(old_map) == issuer(Some(&merged))
            && client_id(old_map).is_some()
            && client_id(old_map) == client_id(Some(&merged));
        if !same_client {
            merged.remove("client_secret");
        }
    }
    Value::Object(merged)
}

/// Checks an issuer identifier (OIDC Discovery §3: a URL with no query or fragment): `https`
/// with a host, or `http` on a loopback host; no user info, no whitespace, at most 2000 bytes.
pub fn check_issuer(s: &str) -> Result<Url, String> {
    let url = check_url(s, true)?;
    if url.query().is_some() {
        return Err("must not have a query".to_owned());
    }
    Ok(url)
}

/// Checks a URL the login will fetch or redirect to: absolute, `https` (or `http` on a loopback
/// host when `allow_http_loopback`), with a host, no user info, no fragment, printable ASCII only.
pub(crate) fn check_url(s: &str, allow_http_loopback: bool) -> Result<Url, String> {
    if s.is_empty() || s.len() > MAX_URL || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "must be an absolute URL of at most {MAX_URL} printable ASCII characters"
        ));
    }
    let url = Url::parse(s).map_err(|e| format!("is not a valid URL: {e}"))?;
    let host = url.host().ok_or_else(|| "must have a host".to_owned())?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http_loopback && is_loopback(&host) => {}
        "http" if allow_http_loopback => {
            return Err(
                "must use https (plain http is allowed only for 127.0.0.1, [::1] and localhost)"
                    .to_owned(),
            );
        }
        _ => return Err("must use https".to_owned()),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain user info".to_owned());
    }
    if url.fragment().is_some() {
        return Err("must not have a fragment".to_owned());
    }
    Ok(url)
}

/// Whether `url` is `http` on a loopback host (the only plain-http URLs ever accepted).
pub(crate) fn is_http_loopback(url: &Url) -> bool {
    url.scheme() == "http" && url.host().as_ref().is_some_and(is_loopback)
}

fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => *ip == std::net::Ipv4Addr::LOCALHOST,
        Host::Ipv6(ip) => *ip == std::net::Ipv6Addr::LOCALHOST,
    }
}

fn required_text(map: &Map<String, Value>, key: &str, max: usize) -> Result<String, StrategyError> {
    match map.get(key) {
        None | Some(Value::Null) => Err(StrategyError::invalid_detail(key, "is required")),
        Some(value) => match value.as_str() {
            Some(s)
                if !s.is_empty()
                    && s.len() <= max
                    && s.trim() == s
                    && !s.chars().any(char::is_control) =>
            {
                Ok(s.to_owned())
            }
            _ => Err(StrategyError::invalid_detail(
                key,
                format!(
                    "must be a non-empty string of at most {max} bytes, without surrounding \
                     spaces or control characters"
                ),
            )),
        },
    }
}

fn flag(map: &Map<String, Value>, key: &str) -> Result<bool, StrategyError> {
    match map.get(key) {
        None => Ok(false),
        Some(value) => value
            .as_bool()
            .ok_or_else(|| StrategyError::invalid_detail(key, "must be true or false")),
    }
}

/// An optional list of strings, each normalised by `valid` (which returns `None` to refuse it);
/// duplicates (after normalisation) are dropped, order kept.
fn string_list(
    map: &Map<String, Value>,
    key: &str,
    valid: impl Fn(&str) -> Option<String>,
) -> Result<Vec<String>, StrategyError> {
    let Some(value) = map.get(key) else {
        return Ok(Vec::new());
    };
    let items = value
        .as_array()
        .filter(|items| items.len() <= MAX_LIST)
        .ok_or_else(|| {
            StrategyError::invalid_detail(
                key,
                format!("must be an array of at most {MAX_LIST} strings"),
            )
        })?;
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let normal =
            item.as_str()
                .and_then(&valid)
                .ok_or_else(|| StrategyError::InvalidDetails {
                    field: format!("details.{key}/{index}"),
                    message: entry_rule(key).to_owned(),
                })?;
        if !out.contains(&normal) {
            out.push(normal);
        }
    }
    Ok(out)
}

/// What an entry of list `key` must look like, for error messages.
fn entry_rule(key: &str) -> &'static str {
    match key {
        "hosted_domains" => "must be a domain name such as example.com",
        "role_ids" => "must be a role id: [a-z0-9][a-z0-9_-]{0,62}",
        _ => "must be an OAuth scope: printable ASCII, no spaces, quotes or backslashes",
    }
}

/// A role id: `[a-z0-9][a-z0-9_-]{0,62}`.
pub fn is_slug(s: &str) -> bool {
    let bytes = s.as_bytes();
    matches!(bytes.first(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-')
}

/// A lower-case DNS name with at least two labels (`example.com`), as Google's `hd` carries.
fn is_domain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').count() >= 2
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// An RFC 6749 §3.3 `scope-token`: `%x21 / %x23-5B / %x5D-7E`, bounded in length.
fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_SCOPE
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn field(result: Result<GoogleDetails, StrategyError>) -> String {
        match result {
            Err(StrategyError::InvalidDetails { field, .. }) => field,
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_and_normal_form() {
        let d =
            GoogleDetails::from_details(&json!({"client_id": "c", "client_secret": "s"})).unwrap();
        assert_eq!(d.issuer, GOOGLE_ISSUER);
        assert_eq!(
            d.to_value(),
            json!({
                "issuer": GOOGLE_ISSUER, "client_id": "c", "client_secret": "s",
                "hosted_domains": [], "match_users_by_email": false, "creates_users": false,
                "role_ids": [], "extra_scopes": []
            })
        );
        // The normal form validates to itself.
        assert_eq!(GoogleDetails::from_details(&d.to_value()).unwrap(), d);
        assert!(!format!("{d:?}").contains("\"s\""));
    }

    #[test]
    fn full_details_are_normalised() {
        let d = GoogleDetails::from_details(&json!({
            "issuer": "http://127.0.0.1:8080/tenant",
            "client_id": "c", "client_secret": "s",
            "hosted_domains": ["Example.COM", "example.com", "b.example.org"],
            "match_users_by_email": true, "creates_users": true,
            "role_ids": ["staff", "staff", "r-1_x"],
            "extra_scopes": ["openid", "https://www.googleapis.com/auth/calendar.readonly"],
        }))
        .unwrap();
        assert_eq!(d.issuer, "http://127.0.0.1:8080/tenant");
        assert_eq!(d.hosted_domains, ["example.com", "b.example.org"]);
        assert_eq!(d.role_ids, ["staff", "r-1_x"]);
        assert_eq!(
            d.scopes(),
            [
                "openid",
                "email",
                "profile",
                "https://www.googleapis.com/auth/calendar.readonly"
            ]
        );
    }

    #[test]
    fn errors_name_the_field() {
        let base = |extra: Value| {
            let mut v = json!({"client_id": "c", "client_secret": "s"});
            for (k, x) in extra.as_object().unwrap() {
                v[k] = x.clone();
            }
            GoogleDetails::from_details(&v)
        };
        assert_eq!(
            field(GoogleDetails::from_details(&json!({"client_secret": "s"}))),
            "details.client_id"
        );
        assert_eq!(
            field(GoogleDetails::from_details(&json!({"client_id": "c"}))),
            "details.client_secret"
        );
        assert_eq!(field(GoogleDetails::from_details(&json!([]))), "details");
        assert_eq!(field(base(json!({"nope": 1}))), "details.nope");
        assert_eq!(field(base(json!({"client_id": ""}))), "details.client_id");
        assert_eq!(field(base(json!({"client_id": " c"}))), "details.client_id");
        assert_eq!(
            field(base(json!({"client_secret": 5}))),
            "details.client_secret"
        );
        for bad in [
            "http://accounts.example.com",
            "http://10.0.0.1",
            "ftp://127.0.0.1",
            "https://",
            "https://user:pw@idp.example",
            "https://idp.example/#x",
            "https://idp.example/?a=b",
            "accounts.google.com",
            "https://idp.example/ x",
        ] {
            assert_eq!(
                field(base(json!({"issuer": bad}))),
                "details.issuer",
                "{bad}"
            );
        }
        for ok in [
            "http://127.0.0.1:9",
            "http://localhost:9/x",
            "http://[::1]:9",
            "https://idp.example/realms/a",
        ] {
            assert!(base(json!({"issuer": ok})).is_ok(), "{ok}");
        }
        assert_eq!(
            field(base(json!({"hosted_domains": ["ok.example", "no"]}))),
            "details.hosted_domains/1"
        );
        assert_eq!(
            field(base(json!({"hosted_domains": "example.com"}))),
            "details.hosted_domains"
        );
        assert_eq!(
            field(base(json!({"role_ids": ["Staff"]}))),
            "details.role_ids/0"
        );
        assert_eq!(
            field(base(json!({"role_ids": ["a".repeat(64)]}))),
            "details.role_ids/0"
        );
        assert_eq!(
            field(base(json!({"extra_scopes": ["a b"]}))),
            "details.extra_scopes/0"
        );
        assert_eq!(
            field(base(json!({"extra_scopes": ["a\"b"]}))),
            "details.extra_scopes/0"
        );
        assert_eq!(
            field(base(json!({"creates_users": "yes"}))),
            "details.creates_users"
        );
        assert_eq!(
            field(base(json!({"match_users_by_email": 1}))),
            "details.match_users_by_email"
        );
    }

    #[test]
    fn redaction_hides_the_secret() {
        let shown = redact(&json!({"client_id": "c", "client_secret": "hunter2"}));
        assert_eq!(shown, json!({"client_id": "c", "client_secret_set": true}));
        assert_eq!(
            redact(&json!({"client_id": "c"})),
            json!({"client_id": "c", "client_secret_set": false})
        );
    }

    #[test]
    fn merge_keeps_the_secret_only_for_the_same_client() {
        let stored = json!({"issuer": GOOGLE_ISSUER, "client_id": "c", "client_secret": "hunter2"});
        // The admin edits what they were shown (marker included).
        let mut shown = redact(&stored);
        shown["creates_users"] = json!(true);
        let merged = merge_details(&stored, &shown);
        assert_eq!(merged["client_secret"], "hunter2");
        assert!(merged.get(SECRET_SET_KEY).is_none());
        let d = GoogleDetails::from_details(&merged).unwrap();
        assert!(d.creates_users);
        // The default issuer counts as the same issuer.
        let merged = merge_details(&stored, &json!({"client_id": "c"}));
        assert_eq!(merged["client_secret"], "hunter2");
        // A new secret wins.
        let merged = merge_details(&stored, &json!({"client_id": "c", "client_secret": "new"}));
        assert_eq!(merged["client_secret"], "new");
        // Another issuer or client id: the old secret is not carried over.
        let moved = merge_details(
            &stored,
            &json!({"client_id": "c", "issuer": "https://evil.example"}),
        );
        assert!(moved.get("client_secret").is_none());
        assert_eq!(
            field(GoogleDetails::from_details(&moved)),
            "details.client_secret"
        );
        let other = merge_details(&stored, &json!({"client_id": "d"}));
        assert!(other.get("client_secret").is_none());
        // What a partial update leaves out is kept; null removes it.
        let restricted = json!({"issuer": GOOGLE_ISSUER, "client_id": "c",
                                "client_secret": "hunter2", "hosted_domains": ["corp.example"]});
        let partial = merge_details(
            &restricted,
            &json!({"issuer": GOOGLE_ISSUER, "client_id": "c"}),
        );
        assert_eq!(partial["hosted_domains"], json!(["corp.example"]));
        assert_eq!(partial["client_secret"], "hunter2");
        let cleared = merge_details(&restricted, &json!({"hosted_domains": null}));
        assert!(cleared.get("hosted_domains").is_none());
        // Not an object: unchanged, and validation reports it.
        assert_eq!(merge_details(&stored, &json!(3)), json!(3));
    }
}
