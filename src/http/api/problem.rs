//! Makes every error answer under the documented API a problem document, including the ones
//! poem and poem-openapi produce themselves before a handler runs: an unknown path (404), a wrong
//! method (405, which must carry `Allow`, RFC 9110 §15.5.6), a missing bearer credential (401).
//!
//! Handlers' own errors are already `application/problem+json` and pass through untouched.

use std::collections::BTreeMap;
use std::sync::Arc;

use poem::http::{HeaderValue, Method, StatusCode, header};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};

use crate::http::api::error::{ApiError, Problem};
use crate::http::api::request_check::{OperationInputs, first_violation};

/// One documented path template: its segments, the methods it accepts, and each operation's
/// inputs.
#[derive(Debug, Default)]
struct Template {
    segments: Vec<String>,
    methods: Vec<Method>,
    operations: Vec<(Method, OperationInputs)>,
}

/// The documented routes, read from our own OpenAPI document: the methods of each path template
/// (for `Allow`) and what each operation takes (to refuse unknown query parameters and to name the
/// field of a body that does not parse).
#[derive(Debug, Default)]
pub struct Routes {
    templates: Vec<Template>,
    doc: serde_json::Value,
}

impl Routes {
    /// Builds the table from an OpenAPI document.
    pub fn from_spec(spec: &serde_json::Value) -> Self {
        let mut templates = Vec::new();
        if let Some(paths) = spec.get("paths").and_then(|p| p.as_object()) {
            for (path, item) in paths {
                let mut template = Template {
                    segments: path.split('/').map(str::to_owned).collect(),
                    ..Template::default()
                };
                for (name, operation) in item.as_object().into_iter().flatten() {
                    let Ok(method) = Method::from_bytes(name.to_ascii_uppercase().as_bytes())
                    else {
                        continue;
                    };
                    template.methods.push(method.clone());
                    template
                        .operations
                        .push((method, OperationInputs::from_operation(operation)));
                }
                if template.methods.contains(&Method::GET) {
                    template.methods.push(Method::HEAD);
                }
                templates.push(template);
            }
        }
        Self {
            templates,
            doc: spec.clone(),
        }
    }

    fn template(&self, path: &str) -> Option<&Template> {
        let parts: Vec<&str> = path.split('/').collect();
        self.templates.iter().find(|t| {
            t.segments.len() == parts.len()
                && t.segments.iter().zip(&parts).all(|(t, p)| {
                    t == p || (t.starts_with('{') && t.ends_with('}') && !p.is_empty())
                })
        })
    }

    /// The methods allowed on `path`, if some template matches it.
    fn allowed(&self, path: &str) -> Option<&[Method]> {
        self.template(path).map(|t| t.methods.as_slice())
    }

    /// The inputs of the operation `method` on `path` (HEAD is GET's).
    fn operation(&self, method: &Method, path: &str) -> Option<&OperationInputs> {
        let method = if *method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        self.template(path)?
            .operations
            .iter()
            .find(|(m, _)| m == method)
            .map(|(_, inputs)| inputs)
    }
}

/// Middleware converting non-problem error answers into problem documents.
#[derive(Clone, Debug)]
pub struct ProblemMiddleware {
    routes: Arc<Routes>,
}

impl ProblemMiddleware {
    /// A middleware knowing the documented routes (for `Allow`).
    pub fn new(routes: Routes) -> Self {
        Self {
            routes: Arc::new(routes),
        }
    }
}

impl<E: Endpoint> Middleware<E> for ProblemMiddleware {
    type Output = ProblemEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        ProblemEndpoint {
            inner: ep,
            routes: self.routes.clone(),
        }
    }
}

/// The endpoint produced by [`ProblemMiddleware`].
pub struct ProblemEndpoint<E> {
    inner: E,
    routes: Arc<Routes>,
}

fn is_problem(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/problem+json"))
}

impl<E: Endpoint> Endpoint for ProblemEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        let path = req.uri().path().to_owned();
        let method = req.method().clone();
        let inputs = path
            .starts_with("/api/")
            .then(|| self.routes.operation(&method, &path))
            .flatten();
        let mut body_copy = None;
        if let Some(inputs) = inputs {
            let unknown = inputs.unknown_query(req.uri().query().unwrap_or_default());
            if !unknown.is_empty() {
                return Ok(unknown_parameters(&unknown, &inputs.query));
            }
            if inputs.body.is_some() {
                // Kept so a body poem-openapi refuses can be explained field by field.
                let bytes = match req.take_body().into_bytes_limit(MAX_JSON_BODY).await {
                    Ok(bytes) => bytes,
                    Err(_) => return Ok(body_too_large()),
                };
                req.set_body(bytes.clone());
                body_copy = Some(bytes);
            }
        }
        // poem-openapi reports a body or parameter it cannot parse as an error whose text names
        // the field (an unknown field, a malformed enum value): keep that text for the problem.
        let (response, reason) = match self.inner.call(req).await {
            Ok(r) => (r.into_response(), None),
            Err(e) => {
                let text = e.to_string();
                (e.into_response(), Some(text))
            }
        };
        let status = response.status();
        // Only the admin API speaks problem+json; the operational endpoints document their own
        // bodies (a 503 from /readyz is a health status, not a problem). A wrong method still
        // gets its `Allow` header everywhere (RFC 9110 §15.5.6).
        if !path.starts_with("/api/") {
            return Ok(match (status, self.routes.allowed(&path)) {
                (StatusCode::METHOD_NOT_ALLOWED, Some(methods)) => method_not_allowed(methods),
                _ => response,
            });
        }
        if status.is_success()
            || status.is_redirection()
            || status.is_informational()
            || is_problem(&response)
        {
            return Ok(response);
        }
        let allowed = self.routes.allowed(&path);
        let mut converted = match (status, allowed) {
            (StatusCode::NOT_FOUND, Some(methods)) if !methods.contains(&method) => {
                method_not_allowed(methods)
            }
            (StatusCode::METHOD_NOT_ALLOWED, Some(methods)) => method_not_allowed(methods),
            (StatusCode::METHOD_NOT_ALLOWED, None) | (StatusCode::NOT_FOUND, _) => {
                ApiError::not_found(format!("no resource at {path}")).into_response()
            }
            (StatusCode::UNAUTHORIZED, _) => {
                ApiError::unauthenticated("send Authorization: Bearer <API key or access token>")
                    .into_response()
            }
            (StatusCode::BAD_REQUEST, _) => {
                let schema = inputs.and_then(|i| i.body.as_ref());
                explain_bad_request(&self.routes.doc, schema, body_copy.as_deref(), reason)
                    .into_response()
            }
            // Every body of this API is JSON; a missing or other body is a malformed request,
            // answered with the 400 every operation documents.
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, _) => {
                ApiError::invalid("the request body must be JSON (Content-Type: application/json)")
                    .into_response()
            }
            _ => generic(status),
        };
        // Keep the headers the inner layers set that still apply (request id is added outside).
        for name in [header::RETRY_AFTER] {
            if let Some(value) = response.headers().get(&name) {
                converted.headers_mut().insert(name, value.clone());
            }
        }
        Ok(converted)
    }
}

/// The largest JSON body the admin API reads (the biggest documented request, a role with 500
/// patterns or SAML metadata pasted into an authority, is far smaller).
pub const MAX_JSON_BODY: usize = 1024 * 1024;

/// 400 naming the unknown query parameters and the ones the operation takes.
fn unknown_parameters(unknown: &[String], known: &[String]) -> Response {
    let known = if known.is_empty() {
        "this operation takes no query parameters".to_owned()
    } else {
        format!("this operation takes: {}", known.join(", "))
    };
    let first = unknown.first().map(String::as_str).unwrap_or_default();
    let shown: Vec<String> = unknown.iter().map(|u| describe_parse_error(u)).collect();
    ApiError::invalid_field(
        describe_parse_error(first),
        format!("unknown query parameter ({}); {known}", shown.join(", ")),
    )
    .into_response()
}

/// 413 for a body larger than [`MAX_JSON_BODY`].
pub fn body_too_large() -> Response {
    problem_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload-too-large",
        "Payload too large",
        format!("the body may be at most {MAX_JSON_BODY} bytes"),
    )
}

/// The 408 for a body that did not arrive within the deadline.
pub fn body_too_slow(detail: String) -> Response {
    problem_response(
        StatusCode::REQUEST_TIMEOUT,
        "request-timeout",
        "Request timeout",
        detail,
    )
}

/// The 400 for a request poem-openapi could not parse: the field that breaks the documented body
/// schema when one can be found, else poem-openapi's own words.
fn explain_bad_request(
    doc: &serde_json::Value,
    schema: Option<&serde_json::Value>,
    body: Option<&[u8]>,
    reason: Option<String>,
) -> ApiError {
    let payload_error = reason
        .as_deref()
        .is_some_and(|r| r.starts_with("parse request payload error"));
    if let (true, Some(schema), Some(body)) = (payload_error, schema, body) {
        match serde_json::from_slice::<serde_json::Value>(body) {
            Err(error) => return ApiError::invalid(format!("the body is not valid JSON: {error}")),
            Ok(value) => {
                if let Some((field, message)) = first_violation(doc, schema, &value) {
                    return ApiError::invalid_field(describe_parse_error(&field), message);
                }
            }
        }
    }
    ApiError::invalid(
        reason
            .as_deref()
            .map(describe_parse_error)
            .unwrap_or_else(|| "the request is malformed".to_owned()),
    )
}

/// poem-openapi's text for a request it could not parse, for a person: control characters and
/// excess length dropped (the text may quote the caller's input).
fn describe_parse_error(text: &str) -> String {
    let clean: String = text.chars().filter(|c| !c.is_control()).take(300).collect();
    if clean.trim().is_empty() {
        "the request is malformed".to_owned()
    } else {
        clean
    }
}

fn method_not_allowed(methods: &[Method]) -> Response {
    let allow: BTreeMap<&str, ()> = methods.iter().map(|m| (m.as_str(), ())).collect();
    let allow = allow.keys().copied().collect::<Vec<_>>().join(", ");
    let mut response = problem_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "Method not allowed",
        format!("allowed methods: {allow}"),
    );
    if let Ok(value) = HeaderValue::from_str(&allow) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}

fn generic(status: StatusCode) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    let kind = title.to_ascii_lowercase().replace(' ', "-");
    problem_response(status, &kind, title, title.to_owned())
}

fn problem_response(status: StatusCode, kind: &str, title: &str, detail: String) -> Response {
    let problem = Problem {
        kind: format!("{}{kind}", crate::http::api::error::TYPE_PREFIX),
        title: title.to_owned(),
        status: status.as_u16(),
        detail: Some(detail),
        errors: Vec::new(),
        missing_scopes: Vec::new(),
    };
    let body = serde_json::json!({
        "type": problem.kind,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
    });
    Response::builder()
        .status(status)
        .content_type("application/problem+json")
        .body(body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_methods_by_template() {
        let spec = serde_json::json!({"paths": {
            "/api/v1/users/{id}": {"get": {}, "patch": {}, "delete": {}},
            "/api/v1/users": {"get": {}, "post": {}}
        }});
        let routes = Routes::from_spec(&spec);
        let m = routes.allowed("/api/v1/users/abc").unwrap();
        assert!(m.contains(&Method::PATCH) && m.contains(&Method::HEAD));
        assert!(routes.allowed("/api/v1/users/").is_none());
        assert!(routes.allowed("/api/v1/nothing").is_none());
        assert_eq!(routes.allowed("/api/v1/users").unwrap().len(), 3);
    }
}
