//! `/api/v1/authorities`: configured ways to log in (reference §1, §3, §2.6).
//!
//! The rules are the commands' in [`crate::engine::admin::authorities`]. Scopes:
//! `AuthX:authority:create`, `AuthX:authority.<id>:read|update|delete`. Lists show only the
//! authorities the caller may read. `details` are validated and redacted by the strategy's crate
//! (`crate::engine::strategies`); secret fields (google's `client_secret`)
//! are write-only: answers say `client_secret_set` instead, and an update that omits the secret
//! keeps the stored one only while the issuer and client id stay the same
//! ([`authx_strategy_google::merge_details`]: a secret must never travel to another provider).
//!
//! A `saml` authority whose IdP metadata comes by URL is checked online when it is saved enabled
//! (created enabled, or updated with new details or `enabled: true`): the metadata is fetched and
//! must yield a signing certificate, else the answer is a 400 naming `details.idp_metadata_url`.
//! Pasted metadata is checked the same way by the strategy's validation. What was fetched primes
//! this node's metadata cache (`crate::engine::saml_metadata`), which re-checks on every refresh.

use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use serde_json::Value;

use crate::domain::authority::{Authority, Strategy};
use crate::engine::Engine;
use crate::engine::admin::authorities;
use crate::http::api::common::{Tag, timestamp};
use crate::http::api::error::ApiError;
use crate::http::api::security::BearerAuth;

/// The strategy of an authority.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[oai(rename_all = "lowercase")]
pub enum StrategyDto {
    /// bcrypt-protected passwords.
    Password,
    /// One-time links sent by email.
    Email,
    /// OpenID Connect (Google presets).
    Google,
    /// A SAML 2.0 identity provider.
    Saml,
}

/// A configured way to log in.
#[derive(Object, Debug, Clone)]
#[oai(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct AuthorityDto {
    /// Id (slug).
    pub id: String,
    /// The strategy (immutable).
    pub strategy: StrategyDto,
    /// Display name.
    pub name: String,
    /// Whether logins through it are possible.
    pub enabled: bool,
    /// Strategy settings; secret fields are replaced by `<field>_set: true`.
    pub details: Value,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

/// A page of authorities.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct AuthorityList {
    /// The authorities of this page.
    pub items: Vec<AuthorityDto>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A new authority.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct CreateAuthorityRequest {
    /// Id: `[a-z0-9][a-z0-9_-]{0,62}`.
    pub id: String,
    /// The strategy; cannot change later.
    pub strategy: StrategyDto,
    /// Display name.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: String,
    /// Enabled (default true).
    pub enabled: Option<bool>,
    /// Strategy settings (a JSON object; default `{}`).
    pub details: Option<Value>,
}

/// Changes to an authority; absent fields stay as they are.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct UpdateAuthorityRequest {
    /// Display name.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: Option<String>,
    /// Enabled.
    pub enabled: Option<bool>,
    /// The whole settings object (replaces the stored one). An omitted `client_secret` is kept
    /// as long as `issuer` and `client_id` stay the same; a new issuer or client id needs its own
    /// secret.
    pub details: Option<Value>,
}

#[derive(ApiResponse)]
enum Created {
    /// The authority was created.
    #[oai(status = 201)]
    Created(Json<AuthorityDto>),
}

#[derive(ApiResponse)]
enum Deleted {
    /// The authority is gone.
    #[oai(status = 204)]
    Deleted,
}

/// The authorities resource.
pub struct AuthoritiesApi;

#[OpenApi(prefix_path = "/api/v1", tag = "Tag::Authorities")]
impl AuthoritiesApi {
    /// List the authorities the caller may read (`authority.<id>:read`), ordered by id.
    #[oai(
        path = "/authorities",
        method = "get",
        operation_id = "listAuthorities"
    )]
    async fn list(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
        /// Page size, 1–100 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<AuthorityList>, ApiError> {
        let page = crate::http::api::common::page(limit.0, cursor.0);
        let (items, next_cursor) = authorities::list(&state, &auth.0, &page).await?;
        Ok(Json(AuthorityList {
            items: items.into_iter().map(authority_to_dto).collect(),
            next_cursor,
        }))
    }

    /// Create an authority (`authority:create`).
    #[oai(
        path = "/authorities",
        method = "post",
        operation_id = "createAuthority"
    )]
    async fn create(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
        body: Json<CreateAuthorityRequest>,
    ) -> Result<Created, ApiError> {
        let body = body.0;
        let input = authorities::AuthorityInput {
            id: body.id,
            strategy: strategy_from_dto(body.strategy),
            name: body.name,
            enabled: body.enabled,
            details: body.details,
        };
        let authority = authorities::create(&state, &auth.0, input).await?;
        Ok(Created::Created(Json(authority_to_dto(authority))))
    }

    /// Get an authority (`authority.<id>:read`).
    #[oai(
        path = "/authorities/:id",
        method = "get",
        operation_id = "getAuthority"
    )]
    async fn get(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> Result<Json<AuthorityDto>, ApiError> {
        Ok(Json(authority_to_dto(
            authorities::get(&state, &auth.0, &id.0).await?,
        )))
    }

    /// Change an authority's name, enabled flag or settings (`authority.<id>:update`). `details`
    /// is a JSON merge patch (RFC 7396) on the stored settings: keys it leaves out are kept, and a
    /// `null` removes one.
    #[oai(
        path = "/authorities/:id",
        method = "patch",
        operation_id = "updateAuthority"
    )]
    async fn update(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
        id: Path<String>,
        body: Json<UpdateAuthorityRequest>,
    ) -> Result<Json<AuthorityDto>, ApiError> {
        let body = body.0;
        let change = authorities::AuthorityChange {
            name: body.name,
            enabled: body.enabled,
            details: body.details,
        };
        let authority = authorities::update(&state, &auth.0, &id.0, change).await?;
        Ok(Json(authority_to_dto(authority)))
    }

    /// Delete an authority (`authority.<id>:delete`); refused (409) while credentials use it.
    #[oai(
        path = "/authorities/:id",
        method = "delete",
        operation_id = "deleteAuthority"
    )]
    async fn delete(
        &self,
        state: Data<&Engine>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> Result<Deleted, ApiError> {
        authorities::delete(&state, &auth.0, &id.0).await?;
        Ok(Deleted::Deleted)
    }
}

fn strategy_from_dto(s: StrategyDto) -> Strategy {
    match s {
        StrategyDto::Password => Strategy::Password,
        StrategyDto::Email => Strategy::Email,
        StrategyDto::Google => Strategy::Google,
        StrategyDto::Saml => Strategy::Saml,
    }
}

fn strategy_to_dto(s: Strategy) -> StrategyDto {
    match s {
        Strategy::Password => StrategyDto::Password,
        Strategy::Email => StrategyDto::Email,
        Strategy::Google => StrategyDto::Google,
        Strategy::Saml => StrategyDto::Saml,
    }
}

/// A stored authority as the API shows it (secrets redacted, by the strategy crate where there is
/// one).
pub fn authority_to_dto(a: Authority) -> AuthorityDto {
    let details = crate::engine::strategies::strategy(a.strategy).redact_details(&a.details);
    AuthorityDto {
        details,
        id: a.id,
        strategy: strategy_to_dto(a.strategy),
        name: a.name,
        enabled: a.enabled,
        created_at: timestamp(a.created_at),
        updated_at: timestamp(a.updated_at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::admin::authorities::validate_details;
    use serde_json::json;

    fn field_of(e: crate::engine::error::CommandError) -> String {
        ApiError::from(e).problem().errors[0].field.clone()
    }

    #[test]
    fn details_per_strategy() {
        assert_eq!(
            validate_details(Strategy::Password, &json!({})).ok(),
            Some(json!({}))
        );
        assert!(validate_details(Strategy::Password, &json!({"min_length": 12})).is_ok());
        let e = validate_details(Strategy::Password, &json!({"min_length": 73})).err();
        assert_eq!(e.map(field_of).as_deref(), Some("details.min_length"));
        let e = validate_details(Strategy::Email, &json!({"token_ttl_secs": 10})).err();
        assert_eq!(e.map(field_of).as_deref(), Some("details.token_ttl_secs"));
        let e = validate_details(Strategy::Email, &json!({"nope": 1})).err();
        assert_eq!(e.map(field_of).as_deref(), Some("details.nope"));
        let e = validate_details(Strategy::Google, &json!({"client_secret": "s"})).err();
        assert_eq!(e.map(field_of).as_deref(), Some("details.client_id"));
        let ok = validate_details(
            Strategy::Google,
            &json!({"client_id": "c", "client_secret": "s", "role_ids": ["staff"]}),
        )
        .ok();
        assert_eq!(
            ok.as_ref().and_then(|v| v["issuer"].as_str()),
            Some(authx_strategy_google::GOOGLE_ISSUER)
        );
        let e = validate_details(
            Strategy::Google,
            &json!({"client_id": "c", "client_secret": "s", "issuer": "http://x.example"}),
        )
        .err();
        assert_eq!(e.map(field_of).as_deref(), Some("details.issuer"));
        let e = validate_details(Strategy::Saml, &json!({"sp_entity_id": "sp"})).err();
        assert_eq!(e.map(field_of).as_deref(), Some("details.idp_metadata_xml"));
        let e = validate_details(
            Strategy::Saml,
            &json!({"sp_entity_id": "sp", "idp_metadata_xml": "<x/>", "idp_metadata_url": "https://idp.example/m"}),
        )
        .err();
        assert_eq!(e.map(field_of).as_deref(), Some("details.idp_metadata_url"));
        assert!(
            validate_details(
                Strategy::Saml,
                &json!({"sp_entity_id": "sp", "idp_metadata_url": "https://idp.example/m", "allowed_clock_skew_secs": 60})
            )
            .is_ok()
        );
        let e = validate_details(
            Strategy::Saml,
            &json!({"sp_entity_id": "sp", "idp_metadata_xml": "<x/>"}),
        )
        .err();
        assert_eq!(e.map(field_of).as_deref(), Some("details.idp_metadata_xml"));
        let e = validate_details(Strategy::Saml, &json!([])).err();
        assert_eq!(e.map(field_of).as_deref(), Some("details"));
    }
}
