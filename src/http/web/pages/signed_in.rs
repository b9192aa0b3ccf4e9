//! The signed-in user of an account page: who they are, what they may do (the same scopes as the
//! admin API, reference §2.6), and the start every account form shares (CSRF, then the session).

use poem::http::StatusCode;
use poem::{Request, Response};

use crate::domain::access::Access;
use crate::domain::user::User;
use crate::engine::Engine;
use crate::engine::actor::Actor;
use crate::http::web::pages::Fields;
use crate::http::web::pages::errors::PageError;
use crate::http::web::pages::layout::see_other;
use crate::http::web::session::{Session, current_session};

/// Where a request without a session is sent.
pub(super) const LOGIN_REDIRECT: &str = "/login?return_to=/account";

/// The signed-in user of a request.
pub(super) struct SignedIn {
    pub(super) session: Session,
    pub(super) user: User,
    pub(super) access: Access,
}

impl SignedIn {
    pub(super) fn may(&self, state: &Engine, resource: &str, action: &str) -> bool {
        self.access
            .allows_str(&format!("{}:{resource}:{action}", state.config.realm))
    }

    pub(super) fn require(
        &self,
        state: &Engine,
        resource: &str,
        action: &str,
    ) -> Result<(), PageError> {
        if self.may(state, resource, action) {
            Ok(())
        } else {
            Err(PageError::new(
                StatusCode::FORBIDDEN,
                "Not allowed",
                "Your access does not include this action. Ask your administrator.",
            ))
        }
    }

    /// The signed-in user as the actor of an engine command.
    pub(super) async fn actor(&self, state: &Engine, req: &Request) -> Result<Actor, PageError> {
        Ok(Actor::for_session(state, &self.user.id, &crate::http::context(req)).await?)
    }
}

/// The signed-in user, or `None` (the caller redirects to the login page).
pub(super) async fn signed_in(
    state: &Engine,
    req: &Request,
) -> Result<Option<SignedIn>, PageError> {
    let Some(session) = current_session(state, req).await? else {
        return Ok(None);
    };
    let Some((user, access)) = crate::engine::session::holder(state, &session).await? else {
        return Ok(None);
    };
    Ok(Some(SignedIn {
        session,
        user,
        access,
    }))
}

/// The handlers' common start: the form's CSRF check, then the signed-in user (`Err(redirect)`
/// when there is none).
pub(super) async fn begin(
    state: &Engine,
    req: &Request,
    fields: &Fields,
) -> Result<Result<SignedIn, Response>, PageError> {
    fields.check_csrf(req)?;
    Ok(match signed_in(state, req).await? {
        Some(me) => Ok(me),
        None => Err(see_other(LOGIN_REDIRECT, &[])),
    })
}
