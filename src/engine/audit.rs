//! Recording audit events (reference §8), and the request context every event carries.
//!
//! Recording is best effort: a failure to write the event is logged loudly but does not turn a
//! completed action into an error for the caller (the action already happened; failing the request
//! would only invite a retry that repeats it). The one exception is issuing an access token: its
//! `oauth2.token.issue` event travels with the token's record (`NewAccessToken::issued`) and is
//! written in the same transaction, so no token is answered whose issuance is not audited.

use crate::domain::audit::NewAuditEvent;
use crate::engine::Engine;
use crate::telemetry::ErrorChain;

/// Appends `event`, logging (not returning) a failure.
///
/// A successful action recorded here may have changed what a token check answers (a revocation,
/// a role, a key, a user's status), so this is also where the node drops its short-lived
/// token-check decisions (`check_cache`): the node that made a change never answers from before
/// it. Actions that change nothing a check depends on say so by calling [`record_unchanged`].
pub async fn record(state: &Engine, event: NewAuditEvent) {
    if event.outcome == crate::domain::audit::Outcome::Success {
        state.checks.clear();
    }
    append(state, event).await;
}

/// Appends the `event` of an action that changes nothing a token check depends on: signing in or
/// out, linking a sign-in to an account, issuing an authorization code. It keeps the check caches,
/// which the sign-in and authorization endpoints would otherwise empty on every request.
pub async fn record_unchanged(state: &Engine, event: NewAuditEvent) {
    append(state, event).await;
}

async fn append(state: &Engine, event: NewAuditEvent) {
    let action = event.action.clone();
    if let Err(error) = state.store.append_audit(event).await {
        tracing::error!(%action, error = %ErrorChain(&error), "could not record an audit event");
    }
}

/// Where a request came from, as the adapter saw it: what every audit event records besides who
/// did what.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// The client's IP address.
    pub ip: Option<String>,
    /// Its `User-Agent`, shortened.
    pub user_agent: Option<String>,
    /// The request id (`x-request-id`).
    pub request_id: Option<String>,
}

impl Context {
    /// An event by `actor_type`/`actor_id` (a user, a client, `anonymous`) in this context.
    pub fn event(&self, actor_type: &str, actor_id: Option<&str>, action: &str) -> NewAuditEvent {
        let mut event = NewAuditEvent::new(actor_type, actor_id, action);
        event.ip = self.ip.clone();
        event.user_agent = self.user_agent.clone();
        event.request_id = self.request_id.clone();
        event
    }

    /// An event with the client `client_id` as the actor (the OAuth 2.0 endpoints).
    pub fn client_event(&self, client_id: &str, action: &str) -> NewAuditEvent {
        self.event("client", Some(client_id), action)
    }
}
