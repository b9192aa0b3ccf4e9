//! The start of an upstream login or account link (`GET /login/:id`, `GET /account/link/:id`):
//! the strategy's own start (an OpenID Connect authorization request, a SAML AuthnRequest), the
//! pending row and its cookie. What the callbacks share lives in [`super::upstream`].

use poem::http::StatusCode;
use poem::web::{Data, Path, Query};
use poem::{Request, Response, handler};

use crate::domain::authority::Strategy;
use crate::domain::now;
use crate::engine::Engine;
use crate::engine::upstream_login;
use crate::http::web::pages::errors::PageError;
use crate::http::web::pages::layout::see_other;
use crate::http::web::pages::login::LoginQuery;
use crate::http::web::pages::signed_in::signed_in;
use crate::http::web::pages::upstream::{
    Back, LINKED_RETURN_TO, PENDING_COOKIE, PENDING_COOKIE_PATH, PENDING_TTL_SECS, Refusal, fail,
    has_flow, pending_cookie_value,
};
use crate::http::web::pages::{upstream_oidc, upstream_saml};
use crate::http::web::return_to::safe_return_to;
use crate::http::web::session::cookie;

/// `GET /login/:authority_id?return_to=…`: starts a sign-in at the authority's provider.
#[handler]
pub async fn start_login(
    req: &Request,
    state: Data<&Engine>,
    Path(authority_id): Path<String>,
    Query(query): Query<LoginQuery>,
) -> Result<Response, PageError> {
    let return_to = safe_return_to(query.return_to.as_deref());
    start(&state, req, &authority_id, &return_to, None).await
}

/// `GET /account/link/:authority_id`: starts linking the authority to the signed-in user's
/// account (`credential.<id>.me:create`); the callback adds the credential.
#[handler]
pub async fn start_link(
    req: &Request,
    state: Data<&Engine>,
    Path(authority_id): Path<String>,
) -> Result<Response, PageError> {
    let Some(me) = signed_in(&state, req).await? else {
        return Ok(see_other("/login?return_to=/account", &[]));
    };
    me.require(&state, &format!("credential.{authority_id}.me"), "create")?;
    start(
        &state,
        req,
        &authority_id,
        LINKED_RETURN_TO,
        Some(&me.user.id),
    )
    .await
}

/// The common start: the strategy's redirect, the pending row, the cookie, the 303.
async fn start(
    state: &Engine,
    req: &Request,
    authority_id: &str,
    return_to: &str,
    linking_user_id: Option<&str>,
) -> Result<Response, PageError> {
    let Some(authority) = upstream_login::authority(state, authority_id).await? else {
        return Err(PageError::not_found());
    };
    if !has_flow(authority.strategy) {
        return Err(PageError::not_found());
    }
    let back = Back::new(return_to, linking_user_id.is_some());
    if !authority.enabled {
        let refusal = Refusal::new(
            StatusCode::FORBIDDEN,
            "authority_disabled",
            "This way of signing in is not available.",
        );
        return Ok(fail(
            state,
            req,
            &authority.id,
            linking_user_id,
            &back,
            refusal,
            Vec::new(),
        )
        .await);
    }
    let started = match authority.strategy {
        Strategy::Google => upstream_oidc::start(state, &authority).await,
        Strategy::Saml => upstream_saml::start(state, &authority).await,
        // `has_flow` admitted only the strategies above.
        Strategy::Password | Strategy::Email => {
            return Err(PageError::not_found());
        }
    };
    let started = match started {
        Ok(started) => started,
        Err(refusal) => {
            return Ok(fail(
                state,
                req,
                &authority.id,
                linking_user_id,
                &back,
                refusal,
                Vec::new(),
            )
            .await);
        }
    };
    // A pending login this browser abandoned is of no further use.
    let abandoned = pending_cookie_value(req);
    let attempt = upstream_login::Attempt {
        authority_id: &authority.id,
        data: started.data,
        request_id: started.request_id.as_deref(),
        return_to,
        linking_user_id,
        abandoned: abandoned.as_deref(),
    };
    let id = upstream_login::begin(state, attempt, now()).await?;
    let mut pending_cookie = cookie(state, PENDING_COOKIE, id);
    pending_cookie.set_path(PENDING_COOKIE_PATH);
    pending_cookie.set_max_age(std::time::Duration::from_secs(
        PENDING_TTL_SECS.unsigned_abs(),
    ));
    Ok(see_other(&started.url, &[pending_cookie]))
}
