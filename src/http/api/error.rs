//! The one place errors become HTTP answers on the admin API: RFC 9457 problem details
//! (`application/problem+json`) with a stable `type` per kind of problem.
//!
//! Expected outcomes (not found, conflict, forbidden…) are variants, so they appear in the OpenAPI
//! document of every operation. A 500 carries no internal text: the cause chain goes to the log
//! with the request id, and the body says only that something failed.

use poem::http::StatusCode;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};

use crate::engine::error::CommandError;
use crate::store::StoreError;
use crate::telemetry::ErrorChain;

/// Prefix of every problem `type`: a URN, stable across deployments and versions.
pub const TYPE_PREFIX: &str = "urn:authx:problem:";

/// An RFC 9457 problem details object.
#[derive(Object, Debug, Clone, PartialEq)]
#[oai(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct Problem {
    /// Identifies the kind of problem: `urn:authx:problem:<kind>`. Stable; match on it.
    #[oai(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong in this occurrence, for a person to read.
    #[oai(skip_serializing_if_is_none)]
    pub detail: Option<String>,
    /// Invalid fields of the request, when the problem is a validation error.
    #[oai(default, skip_serializing_if_is_empty)]
    pub errors: Vec<FieldError>,
    /// The scopes the caller lacks, when the problem is a refused authorization.
    #[oai(default, skip_serializing_if_is_empty)]
    pub missing_scopes: Vec<String>,
}

/// One invalid field of a request.
#[derive(Object, Debug, Clone, PartialEq, Eq)]
#[oai(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct FieldError {
    /// The field, as a JSON pointer-like path (`scopes/2`) or a parameter name.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl Problem {
    fn new(kind: &str, title: &str, status: StatusCode, detail: Option<String>) -> Self {
        Self {
            kind: format!("{TYPE_PREFIX}{kind}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail,
            errors: Vec::new(),
            missing_scopes: Vec::new(),
        }
    }
}

/// Every error answer of the admin API.
#[derive(ApiResponse, Debug)]
#[oai(bad_request_handler = "bad_request_handler")]
pub enum ApiError {
    /// The request is malformed or a field is invalid (`invalid-request`).
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// No valid credentials were presented (`unauthenticated`).
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>, #[oai(header = "WWW-Authenticate")] String),
    /// The caller's scopes do not allow this (`forbidden`); `missing_scopes` says which.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// No such resource, or the caller may not know whether it exists (`not-found`).
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// The request clashes with existing data (`conflict`).
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// Something failed inside authx (`internal`); details are in the server log only.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
    /// The database is unreachable (`unavailable`); retry after the `Retry-After` seconds.
    #[oai(status = 503, content_type = "application/problem+json")]
    Unavailable(Json<Problem>),
}

/// Turns poem-openapi's own request-parsing failures (bad path parameter, malformed JSON, missing
/// field) into our 400 problem, naming the parameter or field as poem-openapi reports it.
fn bad_request_handler(error: poem::Error) -> ApiError {
    ApiError::invalid(error.to_string())
}

impl ApiError {
    /// 400 with a free-text detail.
    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::BadRequest(Json(Problem::new(
            "invalid-request",
            "Invalid request",
            StatusCode::BAD_REQUEST,
            Some(detail.into()),
        )))
    }

    /// 400 naming one field.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        let message = message.into();
        let mut problem = Problem::new(
            "invalid-request",
            "Invalid request",
            StatusCode::BAD_REQUEST,
            Some(format!("{field}: {message}")),
        );
        problem.errors.push(FieldError { field, message });
        Self::BadRequest(Json(problem))
    }

    /// 401 with the bearer challenge (RFC 6750 §3).
    pub fn unauthenticated(detail: impl Into<String>) -> Self {
        Self::Unauthorized(
            Json(Problem::new(
                "unauthenticated",
                "Authentication required",
                StatusCode::UNAUTHORIZED,
                Some(detail.into()),
            )),
            "Bearer realm=\"authx\"".to_owned(),
        )
    }

    /// 403 listing the scopes the caller lacks.
    pub fn forbidden(missing: Vec<String>) -> Self {
        let detail = if missing.is_empty() {
            "your access does not allow this".to_owned()
        } else {
            format!("missing scope(s): {}", missing.join(" "))
        };
        let mut problem = Problem::new(
            "forbidden",
            "Forbidden",
            StatusCode::FORBIDDEN,
            Some(detail),
        );
        problem.missing_scopes = missing;
        Self::Forbidden(Json(problem))
    }

    /// 403 for an action the caller may not take this way; `reason` says what to do instead.
    pub fn refused(reason: impl Into<String>) -> Self {
        Self::Forbidden(Json(Problem::new(
            "forbidden",
            "Forbidden",
            StatusCode::FORBIDDEN,
            Some(reason.into()),
        )))
    }

    /// 404 naming what was not found.
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound(Json(Problem::new(
            "not-found",
            "Not found",
            StatusCode::NOT_FOUND,
            Some(what.into()),
        )))
    }

    /// 409 naming what clashed.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::Conflict(Json(Problem::new(
            "conflict",
            "Conflict",
            StatusCode::CONFLICT,
            Some(detail.into()),
        )))
    }

    /// 409 naming what clashed, and the field it is about when there is one (`errors[0].field`).
    pub fn conflict_on(field: Option<&str>, message: &str) -> Self {
        let mut error = Self::conflict(message);
        if let (Some(field), Self::Conflict(problem)) = (field, &mut error) {
            problem.errors.push(FieldError {
                field: field.to_owned(),
                message: message.to_owned(),
            });
        }
        error
    }

    /// 500 with an opaque body; `cause` goes to the log only.
    pub fn internal(cause: &(dyn std::error::Error + 'static)) -> Self {
        tracing::error!(error = %ErrorChain(cause), "internal error");
        Self::Internal(Json(Problem::new(
            "internal",
            "Internal error",
            StatusCode::INTERNAL_SERVER_ERROR,
            Some("the server failed to handle the request; it has been logged".to_owned()),
        )))
    }

    /// 503: the database does not answer.
    pub fn unavailable(cause: &(dyn std::error::Error + 'static)) -> Self {
        tracing::warn!(error = %ErrorChain(cause), "database unavailable");
        Self::Unavailable(Json(Problem::new(
            "unavailable",
            "Service unavailable",
            StatusCode::SERVICE_UNAVAILABLE,
            Some("the database is not reachable; retry later".to_owned()),
        )))
    }

    /// The problem body, whatever the variant.
    pub fn problem(&self) -> &Problem {
        match self {
            Self::BadRequest(p)
            | Self::Unauthorized(p, _)
            | Self::Forbidden(p)
            | Self::NotFound(p)
            | Self::Conflict(p)
            | Self::Internal(p)
            | Self::Unavailable(p) => &p.0,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match &error {
            StoreError::NotFound => Self::not_found("no such resource"),
            // The store's messages name the clashing or missing thing and never carry driver text.
            StoreError::Conflict(clash) => Self::conflict_on(clash.key.field(), &clash.message),
            StoreError::Reference(what) => Self::invalid(what.clone()),
            StoreError::InvalidValue(why) => Self::invalid(why.clone()),
            StoreError::Unavailable(_) => Self::unavailable(&error),
            _ => Self::internal(&error),
        }
    }
}

impl From<CommandError> for ApiError {
    fn from(error: CommandError) -> Self {
        match error {
            CommandError::Invalid {
                field: Some(field),
                message,
            } => Self::invalid_field(field, message),
            CommandError::Invalid {
                field: None,
                message,
            } => Self::invalid(message),
            CommandError::Forbidden(missing) => Self::forbidden(missing),
            CommandError::Refused(reason) => Self::refused(reason),
            CommandError::NotFound(what) => Self::not_found(what),
            CommandError::Conflict { field, message } => Self::conflict_on(field, &message),
            CommandError::Store(error) => error.into(),
            CommandError::Internal(cause) => Self::internal(&*cause),
        }
    }
}
