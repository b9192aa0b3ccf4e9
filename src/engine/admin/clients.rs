//! Client rules (reference §2.6, §4): who may put themselves in a client's place.
//!
//! Some changes let the caller act as the client: a new or rotated secret (the caller then holds
//! it), redirect and post-logout URIs (codes and tokens then reach the caller), `trusted` (no
//! consent asked) and re-enabling. Each needs the caller to cover the client's **reach**: its
//! scope ceiling, which bounds every token the client can obtain. A trusted client obtains scopes
//! for other people without their consent, so for it a `me`-relative scope counts as its `user`
//! form (`AuthX:me:read` reaches every user's profile, as `AuthX:user:read` would).
//!
//! Switching a client off or deleting it ends its machine user's access, which must not remove
//! the last administrator ([`require_may_switch_off`]).

use crate::domain::client::Client;
use crate::engine::Engine;
use crate::engine::actor::Actor;
use crate::engine::admin::administrators::{self, Change};
use crate::engine::error::CommandError;
use crate::scopes::ScopeSet;

/// The scopes a client with ceiling `scopes` reaches; `trusted` turns the own realm's
/// `me`-relative scopes into their `user` form.
pub fn reach(scopes: &[String], trusted: bool, realm: &str) -> ScopeSet {
    let prefix = format!("{realm}:");
    let widened = scopes.iter().map(|scope| {
        if !trusted {
            return scope.clone();
        }
        let Some(rest) = scope.strip_prefix(&prefix) else {
            return scope.clone();
        };
        let (resource, action) = rest.split_once(':').unwrap_or((rest, ""));
        let resource = if resource == "me" {
            "user".to_owned()
        } else if let Some(kind) = resource.strip_suffix(".me") {
            format!("{kind}.user")
        } else {
            return scope.clone();
        };
        format!("{prefix}{resource}:{action}")
    });
    ScopeSet::parse(widened).unwrap_or_default()
}

/// Succeeds unless switching off or deleting `client` would take the last administrator with
/// it: its machine user acts only while the client is enabled, so for the lock-out rule
/// (`administrators`) the machine user is then gone.
pub async fn require_may_switch_off(engine: &Engine, client: &Client) -> Result<(), CommandError> {
    match &client.machine_user_id {
        Some(user_id) if client.enabled => {
            administrators::require_one_remains(engine, Change::UserGone(user_id)).await
        }
        _ => Ok(()),
    }
}

/// Succeeds when the caller covers the reach of a client with ceiling `scopes` and trust
/// `trusted` (the values the change leaves in force); otherwise 403 naming what is missing.
pub async fn require_may_act_as(
    engine: &Engine,
    actor: &Actor,
    scopes: &[String],
    trusted: bool,
    action: &str,
) -> Result<(), CommandError> {
    let reach = reach(scopes, trusted, &engine.config.realm);
    actor.require_covers(engine, &reach, action).await
}

#[cfg(test)]
mod tests {
    use super::reach;

    fn strings(set: crate::scopes::ScopeSet) -> Vec<String> {
        set.to_strings()
    }

    #[test]
    fn a_trusted_client_reaches_everyone_its_me_scopes_name() {
        let ceiling = [
            "AuthX:me:read".to_owned(),
            "AuthX:credential.*.me:*".to_owned(),
            "AuthX:apikey.me:create".to_owned(),
            "Shop:me:read".to_owned(),
            "Shop:orders:read".to_owned(),
        ];
        let trusted = strings(reach(&ceiling, true, "AuthX"));
        for expected in [
            "AuthX:user:read",
            "AuthX:credential.*.user:*",
            "AuthX:apikey.user:create",
            "Shop:me:read",
            "Shop:orders:read",
        ] {
            assert!(
                trusted.iter().any(|s| s == expected),
                "{expected}: {trusted:?}"
            );
        }
        assert!(!trusted.iter().any(|s| s == "AuthX:me:read"));
        let untrusted = strings(reach(&ceiling, false, "AuthX"));
        assert!(
            untrusted.iter().any(|s| s == "AuthX:me:read"),
            "{untrusted:?}"
        );
    }
}
