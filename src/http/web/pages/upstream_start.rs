//! The start of an upstream login or account link (`GET /login/:id`, `GET /account/link/:id`):
//! the strategy's own start (an OpenID Connect authorization request, a SAML AuthnRequest), the
//! pending row and its cookie. What the callbacks share lives in [`super::upstream`].

use poem::http::StatusCode;
use poem::web::{Data, Path, Query};
use poem::{Request, Response, handler};

use crate::domain::authority::Strategy;
use crate::domain::now;
use crate::engine::Engine;
use crate::http::web::pages::errors::PageError;
use crate::http::web::pages::layout::see_other;
use crate::http::web::pages::login::LoginQuery;
use crate::http::web::pages::signed_in::signed_in;
use crate::http::web::pages::upstream::{
    Back, LINKED_RETURN_TO, PENDING_COOKIE, PENDING_COOKIE_PATH, PENDING_ID_PREFIX,
    PENDING_TTL_SECS, Refusal, fail, has_flow, pending_cookie_value,
};
use crate::http::web::pages::{upstream_oidc, upstream_saml};
use crate::http::web::return_to::safe_return_to;
use crate::http::web::session::cookie;
use crate::secret;
use crate::store::NewUpstreamLogin;

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
    let Some(authority) = state.store.get_authority(authority_id).await? else {
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
    if let Some(old) = pending_cookie_value(req)
        && let Err(error) = state
            .store
            .consume_upstream_login(&secret::hash(&old), now())
            .await
    {
        tracing::warn!(%error, "could not drop an abandoned upstream login");
    }
    let id = secret::generate(PENDING_ID_PREFIX);
    state
        .store
        .create_upstream_login(NewUpstreamLogin {
            id_hash: secret::hash(&id),
            authority_id: authority.id.clone(),
            request_hash: started.request_id.as_deref().map(secret::hash),
            data: started.data,
            return_to: Some(return_to.to_owned()),
            linking_user_id: linking_user_id.map(str::to_owned),
            expires_at: now().saturating_add(PENDING_TTL_SECS),
        })
        .await?;
    let mut pending_cookie = cookie(state, PENDING_COOKIE, id);
    pending_cookie.set_path(PENDING_COOKIE_PATH);
    pending_cookie.set_max_age(std::time::Duration::from_secs(
        PENDING_TTL_SECS.unsigned_abs(),
    ));
    Ok(see_other(&started.url, &[pending_cookie]))
}
