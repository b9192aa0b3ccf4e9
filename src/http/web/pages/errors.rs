//! Errors of the browser pages: each renders as a small HTML page with its status (never a JSON
//! problem, never internal details).

use maud::html;
use poem::error::ResponseError;
use poem::http::StatusCode;
use poem::http::header::RETRY_AFTER;
use poem::{IntoResponse, Response};

use crate::engine::error::CommandError;
use crate::http::web::pages::layout::{html_response, page};
use crate::store::StoreError;
use crate::telemetry::ErrorChain;

/// A page-level failure: a status, a title and a message safe to show.
#[derive(Debug, thiserror::Error)]
#[error("{title}: {message}")]
pub struct PageError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The page title.
    pub title: String,
    /// What the person is told.
    pub message: String,
    /// For 429: seconds to wait (sent as `Retry-After`).
    pub retry_after: Option<u64>,
}

impl PageError {
    /// A page error with `status`.
    pub fn new(status: StatusCode, title: &str, message: &str) -> Self {
        Self {
            status,
            title: title.to_owned(),
            message: message.to_owned(),
            retry_after: None,
        }
    }

    /// 403: the form's CSRF token is missing or wrong.
    pub fn csrf() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Form expired",
            "This form has expired or did not come from this site. Go back, reload the page and try again.",
        )
    }

    /// 404.
    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Page not found",
            "There is nothing at this address. Check the link, or start again from the beginning.",
        )
    }

    /// 429 with `Retry-After`.
    pub fn too_many(retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts",
                &format!("Too many attempts. Try again in {retry_after} seconds."),
            )
        }
    }

    /// 500 (logged; the page says nothing internal).
    pub fn internal(error: &(dyn std::error::Error + 'static)) -> Self {
        tracing::error!(error = %ErrorChain(error), "page failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "Something went wrong on our side. Try again in a moment.",
        )
    }
}

impl From<CommandError> for PageError {
    /// A command's refusal as a page; the pages that expect a particular refusal (a policy
    /// message beside a form) match it before this.
    fn from(error: CommandError) -> Self {
        match error {
            CommandError::Forbidden(_) => Self::new(
                StatusCode::FORBIDDEN,
                "Not allowed",
                "Your access does not include this action. Ask your administrator.",
            ),
            CommandError::Refused(reason) => {
                Self::new(StatusCode::FORBIDDEN, "Not allowed", &reason)
            }
            CommandError::NotFound(_) => Self::not_found(),
            CommandError::Invalid { .. } => {
                Self::new(StatusCode::BAD_REQUEST, "Not accepted", &error.to_string())
            }
            CommandError::Conflict { message, .. } => {
                Self::new(StatusCode::CONFLICT, "Not possible", &message)
            }
            CommandError::Store(error) => error.into(),
            CommandError::Internal(cause) => Self::internal(&*cause),
        }
    }
}

impl From<StoreError> for PageError {
    /// The database being away is a 503 the person can wait out (the server adds `Retry-After`);
    /// anything else is ours, a 500.
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) => {
                tracing::warn!(error = %ErrorChain(&error), "page: database unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Temporarily unavailable",
                    "This service is briefly unavailable. Try again in a few seconds.",
                )
            }
            error => Self::internal(&error),
        }
    }
}

/// The page for an address that matches nothing (any method).
#[poem::handler]
pub fn not_found() -> PageError {
    PageError::not_found()
}

impl ResponseError for PageError {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn as_response(&self) -> Response {
        let body = html! {
            p role="alert" { (self.message) }
            p { a href="/" { "Back to the start" } }
        };
        let mut response = html_response(self.status, page(&self.title, None, body), &[]);
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(RETRY_AFTER, poem::http::HeaderValue::from(secs));
        }
        response
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        self.as_response()
    }
}
