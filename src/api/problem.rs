//! Makes every error answer under the documented API a problem document, including the ones
//! poem and poem-openapi produce themselves before a handler runs: an unknown path (404), a wrong
//! method (405, which must carry `Allow`, RFC 9110 §15.5.6), a missing bearer credential (401).
//!
//! Handlers' own errors are already `application/problem+json` and pass through untouched.

use std::collections::BTreeMap;
use std::sync::Arc;

use poem::http::{HeaderValue, Method, StatusCode, header};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};

use crate::api::error::{ApiError, Problem};

/// The methods each documented path template accepts, read from our own OpenAPI document.
#[derive(Debug, Default)]
pub struct Routes {
    templates: Vec<(Vec<String>, Vec<Method>)>,
}

impl Routes {
    /// Builds the table from the `paths` object of an OpenAPI document.
    pub fn from_spec(spec: &serde_json::Value) -> Self {
        let mut templates = Vec::new();
        if let Some(paths) = spec.get("paths").and_then(|p| p.as_object()) {
            for (path, item) in paths {
                let mut methods: Vec<Method> = item
                    .as_object()
                    .map(|ops| {
                        ops.keys()
                            .filter_map(|m| {
                                Method::from_bytes(m.to_ascii_uppercase().as_bytes()).ok()
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                if methods.contains(&Method::GET) {
                    methods.push(Method::HEAD);
                }
                let segments = path.split('/').map(str::to_owned).collect();
                templates.push((segments, methods));
            }
        }
        Self { templates }
    }

    /// The methods allowed on `path`, if some template matches it.
    fn allowed(&self, path: &str) -> Option<&[Method]> {
        let parts: Vec<&str> = path.split('/').collect();
        self.templates
            .iter()
            .find(|(segments, _)| {
                segments.len() == parts.len()
                    && segments.iter().zip(&parts).all(|(t, p)| {
                        t == p || (t.starts_with('{') && t.ends_with('}') && !p.is_empty())
                    })
            })
            .map(|(_, methods)| methods.as_slice())
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

    async fn call(&self, req: Request) -> Result<Self::Output> {
        let path = req.uri().path().to_owned();
        let method = req.method().clone();
        let response = match self.inner.call(req).await {
            Ok(r) => r.into_response(),
            Err(e) => e.into_response(),
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
                ApiError::invalid("the request is malformed").into_response()
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
        kind: format!("{}{kind}", crate::api::error::TYPE_PREFIX),
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
