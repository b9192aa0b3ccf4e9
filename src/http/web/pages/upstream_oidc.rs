//! The `google` strategy's pages (reference §3): sign-in through any OpenID Connect provider, with the
//! `authx-strategy-google` crate doing the protocol and [`super::upstream`] the browser and the
//! server side.
//!
//! [`start`] builds the authorization request (discovery, code flow with PKCE S256, fresh
//! `state` and `nonce`) for `upstream::start_login`, which stores the three secrets in the
//! pending row bound to the browser. [`callback`] (`GET /login/:id/callback`, the redirect URI to
//! register at the provider: `{issuer}/login/{id}/callback`) takes that row back — deleting it —
//! and checks, in order: that it was started for this authority, that the authority is still an
//! enabled `google` one, the callback's `state` against the stored one, then lets the crate
//! exchange the code and verify the id_token (`iss`, `aud`, `exp`, `nonce`, signature against the
//! provider's keys; `hd` restriction). Any failure is an [`OidcError`], shown with its
//! `user_message()` and audited with its `reason()`.

use authx_strategy_google::{
    CallbackParams, GoogleDetails, OidcError, PendingLogin, redirect_uri, state_matches,
};
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{Request, Response, handler};

use crate::domain::authority::{Authority, Strategy};
use crate::domain::id::is_valid_slug;
use crate::engine::Engine;
use crate::http::web::pages::errors::PageError;
use crate::http::web::pages::upstream::{
    Back, Refusal, Started, complete, fail, removal_cookie, take_pending,
};

/// Starts a login at `authority`'s provider: the URL to send the browser to and the secrets to
/// keep for the callback.
pub async fn start(state: &Engine, authority: &Authority) -> Result<Started, Refusal> {
    let details = details(authority)?;
    let redirect = redirect_uri(&state.config.issuer_url(), &authority.id);
    let request = state
        .oidc
        .start(&details, &redirect)
        .await
        .map_err(|e| refusal(&e))?;
    let data = serde_json::to_value(request.pending())
        .map_err(|e| Refusal::internal("internal", format!("cannot store the attempt: {e}")))?;
    Ok(Started {
        url: request.url,
        data,
        request_id: None,
    })
}

/// `GET /login/:authority_id/callback`: where the provider sends the browser back.
#[handler]
pub async fn callback(
    req: &Request,
    state: Data<&Engine>,
    Path(authority_id): Path<String>,
) -> Result<Response, PageError> {
    // Anything else is no authority's callback (and is kept out of the audit trail).
    if !is_valid_slug(&authority_id) {
        return Err(PageError::not_found());
    }
    Ok(handle_callback(&state, req, &authority_id).await)
}

/// The callback of a well-formed authority id: the attempt taken back, checked, finished.
async fn handle_callback(state: &Engine, req: &Request, authority_id: &str) -> Response {
    // Whatever happens, the attempt is over: the browser forgets its cookie.
    let cookies = vec![removal_cookie(state)];
    let pending = match take_pending(state, req).await {
        Ok(Some(pending)) => pending,
        Ok(None) => {
            let back = Back::login();
            return fail(
                state,
                req,
                authority_id,
                None,
                &back,
                Refusal::no_pending(),
                cookies,
            )
            .await;
        }
        Err(error) => {
            let back = Back::login();
            return fail(state, req, authority_id, None, &back, error.into(), cookies).await;
        }
    };
    let linking = pending.login.linking_user_id.clone();
    let back = Back::of(&pending.login);
    let checked = async {
        if pending.login.authority_id != *authority_id {
            // A callback for another authority than the one this browser started with: a
            // mix-up, or two attempts in two tabs. Either way this attempt is spent.
            return Err(Refusal::no_pending().with_detail(format!(
                "the pending login is for authority {:?}",
                pending.login.authority_id
            )));
        }
        let authority = match crate::engine::upstream_login::authority(state, authority_id).await? {
            Some(a) if a.enabled && a.strategy == Strategy::Google => a,
            _ => {
                return Err(Refusal::new(
                    StatusCode::FORBIDDEN,
                    "authority_disabled",
                    "This way of signing in is not available.",
                ));
            }
        };
        let details = details(&authority)?;
        let secrets: PendingLogin = serde_json::from_value(pending.login.data.clone())
            .map_err(|e| Refusal::internal("corrupt_pending_login", e))?;
        let params = CallbackParams::from_query(req.uri().query().unwrap_or_default())
            .map_err(|e| refusal(&e))?;
        // The crate compares too; the server does it before anything reaches the provider.
        if !params
            .state
            .as_deref()
            .is_some_and(|received| state_matches(&secrets.state, received))
        {
            return Err(refusal(&OidcError::StateMismatch));
        }
        let redirect = redirect_uri(&state.config.issuer_url(), &authority.id);
        let identity = state
            .oidc
            .finish(&authority.id, &details, &redirect, &secrets, &params)
            .await
            .map_err(|e| refusal(&e))?;
        Ok((authority, identity))
    };
    match checked.await {
        Ok((authority, identity)) => {
            complete(state, req, &authority, Some(&pending), identity, cookies).await
        }
        Err(refusal) => {
            fail(
                state,
                req,
                authority_id,
                linking.as_deref(),
                &back,
                refusal,
                cookies,
            )
            .await
        }
    }
}

/// The authority's stored details, parsed (the admin API stored them validated; a failure here
/// is a configuration problem on our side).
fn details(authority: &Authority) -> Result<GoogleDetails, Refusal> {
    GoogleDetails::from_details(&authority.details)
        .map_err(|e| Refusal::internal("invalid_config", e))
}

/// What the person sees and the audit records for an [`OidcError`]: its `user_message()` and its
/// `reason()`, with the detail for the log.
fn refusal(error: &OidcError) -> Refusal {
    let status = if error.is_local() {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        match error {
            OidcError::HostedDomainNotAllowed { .. } | OidcError::AccessDenied { .. } => {
                StatusCode::FORBIDDEN
            }
            _ => StatusCode::BAD_REQUEST,
        }
    };
    Refusal::new(status, error.reason(), error.user_message()).with_detail(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_keep_the_detail_out_of_the_message() {
        let error = OidcError::IssuerMismatch {
            expected: "https://good.example".into(),
            found: "https://evil.example".into(),
        };
        let r = refusal(&error);
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        assert_eq!(r.reason, "iss_mismatch");
        assert!(!r.message.contains("evil"), "{}", r.message);
        assert!(r.detail.unwrap_or_default().contains("evil"));
        let r = refusal(&OidcError::HostedDomainNotAllowed {
            hd: Some("other.example".into()),
        });
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(r.message, "This account may not log in here.");
        let r = refusal(&OidcError::Internal("x".into()));
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    }
}
