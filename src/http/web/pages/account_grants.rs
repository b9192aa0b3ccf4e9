//! The "Applications" part of `/account` (reference §6): the clients the user authorized (their grants)
//! with what each may do, and a button that withdraws the consent.
//!
//! Withdrawing deletes the grant: its authorization codes and refresh tokens go with it and the
//! access tokens issued through it are listed as revoked, so introspection, userinfo and the admin
//! API refuse them at once (offline verifiers until they expire). The next authorization request
//! of that client asks for consent again. Scopes: `grant.<client>.me:read` to see a grant,
//! `grant.<client>.me:delete` to withdraw it (the `default` role grants both).

use maud::{Markup, html};
use poem::web::{Data, Form, Path};
use poem::{Request, Response, handler};

use super::consent::{describe_oidc, describe_pattern};
use super::signed_in::{SignedIn, begin};
use crate::domain::token::is_oidc_scope;
use crate::engine::Engine;
use crate::http::web::pages::Fields;
use crate::http::web::pages::errors::PageError;
use crate::http::web::pages::layout::{csrf_field, datetime, see_other};

/// The section listing the user's grants.
pub(super) async fn section(
    state: &Engine,
    me: &SignedIn,
    csrf: &str,
) -> Result<Markup, PageError> {
    let mut rows = Vec::new();
    for (grant, name) in crate::engine::self_service::grants(state, &me.user.id).await? {
        let resource = format!("grant.{}.me", grant.client_id);
        if !me.may(state, &resource, "read") {
            continue;
        }
        let may_revoke = me.may(state, &resource, "delete");
        rows.push((grant, name, may_revoke));
    }
    Ok(html! {
        section aria-labelledby="grants-heading" {
            h2 #grants-heading { "Applications" }
            @if rows.is_empty() {
                p { "You have not authorized any application." }
            } @else {
                table {
                    thead { tr { th scope="col" { "Application" } th scope="col" { "May" }
                        th scope="col" { "Since" } th scope="col" { span.muted { "Action" } } } }
                    tbody {
                        @for (grant, name, may_revoke) in &rows {
                            tr {
                                td { (name) br; span.muted { code { (grant.client_id) } } }
                                td {
                                    ul {
                                        @for scope in &grant.scopes {
                                            @if is_oidc_scope(scope) {
                                                li { (describe_oidc(scope)) }
                                            } @else {
                                                li { (describe_pattern(scope)) }
                                            }
                                        }
                                    }
                                }
                                td { (datetime(grant.created_at)) }
                                td {
                                    @if *may_revoke {
                                        form.inline method="post"
                                            action={ "/account/grants/" (grant.id) "/revoke" } {
                                            (csrf_field(csrf))
                                            button.danger type="submit"
                                                aria-label={ "Withdraw access of " (name) } { "Withdraw access" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    })
}

/// `POST /account/grants/{id}/revoke` (form: `csrf_token`).
#[handler]
pub async fn revoke_grant(
    req: &Request,
    state: Data<&Engine>,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let fields = Fields(fields);
    let me = match begin(&state, req, &fields).await? {
        Ok(me) => me,
        Err(redirect) => return Ok(redirect),
    };
    let actor = me.actor(&state, req).await?;
    crate::engine::admin::grants::delete_own(&state, &actor, &id).await?;
    Ok(see_other("/account?notice=grant_revoked", &[]))
}
