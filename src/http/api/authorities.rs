//! `/api/v1/authorities`: configured ways to log in (reference §1, §3, §2.6).
//!
//! Scopes: `AuthX:authority:create`, `AuthX:authority.<id>:read|update|delete`. Lists show only
//! the authorities the caller may read. `details` are validated and redacted by the strategy's
//! crate ([`validate_details`], `crate::engine::strategies`); secret fields (google's `client_secret`)
//! are write-only: answers say `client_secret_set` instead, and an update that omits the secret
//! keeps the stored one only while the issuer and client id stay the same
//! ([`authx_strategy_google::merge_details`]: a secret must never travel to another provider).
//!
//! A `saml` authority whose IdP metadata comes by URL is checked online when it is saved enabled
//! (created enabled, or updated with new details or `enabled: true`): the metadata is fetched and
//! must yield a signing certificate, else the answer is a 400 naming `details.idp_metadata_url`.
//! Pasted metadata is checked the same way by the strategy's validation. What was fetched primes
//! this node's metadata cache (`crate::engine::saml_metadata`), which re-checks on every refresh.

use authx_strategy_saml::{IdentityProvider, MetadataSource, SamlDetails};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use serde_json::{Map, Value};

use crate::domain::audit::Outcome;
use crate::domain::authority::{Authority, AuthorityPatch, NewAuthority, Strategy};
use crate::domain::id::is_valid_slug;
use crate::engine::Engine;
use crate::engine::admin::authorities;
use crate::engine::saml_metadata::MetadataCache;
use crate::http::api::common::{Tag, timestamp};
use crate::http::api::error::ApiError;
use crate::http::api::security::BearerAuth;
use crate::store::StoreError;

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
        let p = &auth.0;
        let any = p.scope("authority.*", "read");
        if !p.may_some(&any) {
            p.refuse(&state, vec![any], "authority.list").await?;
        }
        let page = crate::http::api::common::page(limit.0, cursor.0);
        let limit = page.clamped_limit() as usize;
        let mut items: Vec<Authority> = state
            .store
            .list_authorities()
            .await?
            .into_iter()
            .filter(|a| page.after.as_ref().is_none_or(|after| a.id > *after))
            .filter(|a| p.may(&p.scope_on("authority", &a.id, "read")))
            .take(limit + 1)
            .collect();
        let next_cursor = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|a| a.id.clone())
        } else {
            None
        };
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
        let p = &auth.0;
        p.require(&state, &p.scope("authority", "create"), "authority.create")
            .await?;
        let body = body.0;
        if !is_valid_slug(&body.id) {
            return Err(ApiError::invalid_field(
                "id",
                "must be 1–63 characters of a-z, 0-9, '_' or '-', starting with a letter or digit",
            ));
        }
        let strategy = strategy_from_dto(body.strategy);
        if matches!(strategy, Strategy::Google | Strategy::Saml)
            && RESERVED_LOGIN_IDS.contains(&body.id.as_str())
        {
            return Err(ApiError::invalid_field(
                "id",
                "is reserved: /login/<id> is the sign-in page's own route for this id",
            ));
        }
        let details = body.details.unwrap_or_else(|| Value::Object(Map::new()));
        let details = validate_details(strategy, &details)?;
        authorities::require_may_configure(
            &state,
            p,
            authorities::Configure {
                id: &body.id,
                strategy,
                before: None,
                after: &details,
            },
            "authority.create",
        )
        .await?;
        let enabled = body.enabled.unwrap_or(true);
        let fetched = if enabled {
            check_upstream(&state, strategy, &details).await?
        } else {
            None
        };
        let authority = state
            .store
            .create_authority(NewAuthority {
                id: body.id,
                strategy,
                name: body.name,
                enabled,
                details,
            })
            .await?;
        state.saml_metadata.forget(&authority.id);
        if let Some((source, idp)) = fetched {
            state.saml_metadata.remember(&authority.id, &source, idp);
        }
        crate::engine::audit::record(
            &state,
            p.audit_event("authority.create", Outcome::Success)
                .target("authority", &authority.id),
        )
        .await;
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
        let p = &auth.0;
        p.require(
            &state,
            &p.scope_on("authority", &id.0, "read"),
            "authority.read",
        )
        .await?;
        let authority = load(&state, &id.0).await?;
        Ok(Json(authority_to_dto(authority)))
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
        let p = &auth.0;
        let id = id.0;
        p.require(
            &state,
            &p.scope_on("authority", &id, "update"),
            "authority.update",
        )
        .await?;
        let current = load(&state, &id).await?;
        let body = body.0;
        // `details` is a JSON merge patch (RFC 7396) on the stored details: what it leaves out is
        // kept, so a partial update cannot silently drop a restriction such as `hosted_domains`.
        let details = match body.details {
            Some(patch) => {
                let merged = if current.strategy == Strategy::Google {
                    authx_strategy_google::merge_details(&current.details, &patch)
                } else {
                    authx_strategy_core::details::merge_patch(&current.details, &patch)
                };
                Some(validate_details(current.strategy, &merged)?)
            }
            None => None,
        };
        // New settings, or switching it back on, put them in force (again).
        let switching_on = body.enabled == Some(true) && !current.enabled;
        if details.is_some() || switching_on {
            authorities::require_may_configure(
                &state,
                p,
                authorities::Configure {
                    id: &id,
                    strategy: current.strategy,
                    before: (!switching_on).then_some(&current.details),
                    after: details.as_ref().unwrap_or(&current.details),
                },
                "authority.update",
            )
            .await?;
        }
        // An authority left enabled is checked when its settings change or it is switched on; a
        // rename or a switch-off does not depend on the IdP being reachable.
        let enabled = body.enabled.unwrap_or(current.enabled);
        let fetched = if enabled && (details.is_some() || body.enabled == Some(true)) {
            let in_force = details.as_ref().unwrap_or(&current.details);
            check_upstream(&state, current.strategy, in_force).await?
        } else {
            None
        };
        let authority = state
            .store
            .update_authority(
                &id,
                AuthorityPatch {
                    name: body.name,
                    enabled: body.enabled,
                    details,
                },
            )
            .await
            .map_err(|e| match e {
                StoreError::NotFound => ApiError::not_found(format!("no authority '{id}'")),
                e => e.into(),
            })?;
        state.saml_metadata.forget(&id);
        if let Some((source, idp)) = fetched {
            state.saml_metadata.remember(&id, &source, idp);
        }
        crate::engine::audit::record(
            &state,
            p.audit_event("authority.update", Outcome::Success)
                .target("authority", &id),
        )
        .await;
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
        let p = &auth.0;
        let id = id.0;
        p.require(
            &state,
            &p.scope_on("authority", &id, "delete"),
            "authority.delete",
        )
        .await?;
        state
            .store
            .delete_authority(&id)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => ApiError::not_found(format!("no authority '{id}'")),
                StoreError::Reference(_) => ApiError::conflict("authority has credentials"),
                e => e.into(),
            })?;
        state.saml_metadata.forget(&id);
        crate::engine::audit::record(
            &state,
            p.audit_event("authority.delete", Outcome::Success)
                .target("authority", &id),
        )
        .await;
        Ok(Deleted::Deleted)
    }
}

async fn load(state: &Engine, id: &str) -> Result<Authority, ApiError> {
    state
        .store
        .get_authority(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no authority '{id}'")))
}

/// Ids an upstream (google, saml) authority may not take: its sign-in starts at `/login/<id>`,
/// where these name the password and email forms' own routes.
const RESERVED_LOGIN_IDS: &[&str] = &["password", "email"];

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

/// Validates the `details` of an authority of `strategy` with the strategy's crate and returns
/// their normal form (defaults filled in). Errors name the bad field as `details.<key>`; unknown
/// keys are refused.
pub fn validate_details(strategy: Strategy, details: &Value) -> Result<Value, ApiError> {
    crate::engine::strategies::strategy(strategy)
        .validate_details(details)
        .map_err(|e| match e {
            authx_strategy_core::StrategyError::InvalidDetails { field, message } => {
                ApiError::invalid_field(field, message)
            }
            other => ApiError::invalid_field("details", other.to_string()),
        })
}

/// Checks the upstream an enabled authority with validated `details` will talk to. A `google`
/// issuer must be an address the outbound policy permits and (unless it is Google's own) serve a
/// discovery document that names it exactly (a 400 naming `details.issuer`). For a
/// `saml` authority whose metadata comes by URL, the metadata is fetched and checked now
/// (permitted, reachable, an IdP, a signing certificate), refusing with a 400 naming
/// `details.idp_metadata_url`; what was fetched is returned for the metadata cache once the
/// authority is saved. `None` for everything else (validation checked pasted metadata).
async fn check_upstream(
    state: &Engine,
    strategy: Strategy,
    details: &Value,
) -> Result<Option<(MetadataSource, IdentityProvider)>, ApiError> {
    if strategy == Strategy::Google {
        let issuer = details
            .get("issuer")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if let Ok(url) = reqwest::Url::parse(issuer) {
            state.config.outbound.check_url(&url).map_err(|refused| {
                ApiError::invalid_field("details.issuer", refused.to_string())
            })?;
        }
        // A typo in a custom issuer (a trailing slash, a wrong path) would make every login
        // fail; its discovery document says so now. Google's own issuer is known to be right.
        if issuer != authx_strategy_google::GOOGLE_ISSUER {
            state.oidc.discover(issuer).await.map_err(|error| {
                ApiError::invalid_field(
                    "details.issuer",
                    format!("the issuer's discovery document cannot be used: {error}"),
                )
            })?;
        }
        return Ok(None);
    }
    if strategy != Strategy::Saml {
        return Ok(None);
    }
    let cache: &MetadataCache = &state.saml_metadata;
    let saml = SamlDetails::from_details(details)
        .map_err(|e| ApiError::invalid_field("details", e.to_string()))?;
    let MetadataSource::Url(url) = &saml.metadata else {
        return Ok(None);
    };
    match cache.fetch(url).await {
        Ok(idp) => Ok(Some((saml.metadata, idp))),
        Err(error) => Err(ApiError::invalid_field(
            "details.idp_metadata_url",
            error.to_string(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field_of(e: ApiError) -> String {
        e.problem().errors[0].field.clone()
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
