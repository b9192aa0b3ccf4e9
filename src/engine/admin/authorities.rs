//! Authority rules (reference §2.6, §3): an authority is a path into accounts, so whoever
//! configures it must already hold what it bestows. The roles named in its `role_ids` (given to
//! every user it creates) must be covered by the caller's access; otherwise anyone allowed to
//! edit one authority could create an account holding `root`.

use serde_json::Value;

use crate::engine::Engine;
use crate::engine::actor::Actor;
use crate::engine::error::CommandError;
use crate::scopes::ScopeSet;

/// Succeeds when the caller covers every scope of the roles `details.role_ids` names (the
/// validated details about to be in force); otherwise 403 naming what is missing. Roles that do
/// not exist bestow nothing (sign-up skips them).
pub async fn require_may_configure(
    engine: &Engine,
    actor: &Actor,
    details: &Value,
    action: &str,
) -> Result<(), CommandError> {
    let role_ids = details
        .get("role_ids")
        .and_then(Value::as_array)
        .map(|ids| ids.iter().filter_map(Value::as_str).collect::<Vec<_>>())
        .unwrap_or_default();
    let mut bestowed = Vec::new();
    for role_id in role_ids {
        if let Some(role) = engine.store.get_role(role_id).await? {
            bestowed.extend(role.scopes);
        }
    }
    let bestowed = ScopeSet::parse(bestowed.iter().map(String::as_str)).unwrap_or_default();
    actor.require_covers(engine, &bestowed, action).await
}
