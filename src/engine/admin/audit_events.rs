//! Reading the audit log (`audit:read`): events filtered by actor, target, action and time, newest
//! first, a page at a time. Reading is not itself audited, except when it is refused.

use crate::domain::Page;
use crate::domain::audit::{AuditEvent, AuditFilter};
use crate::engine::Engine;
use crate::engine::actor::Actor;
use crate::engine::error::CommandError;

/// The page of events `filter` selects, and the cursor of the next page.
pub async fn list(
    engine: &Engine,
    actor: &Actor,
    filter: &AuditFilter,
    page: &Page,
) -> Result<(Vec<AuditEvent>, Option<String>), CommandError> {
    actor
        .require(engine, &actor.scope("audit", "read"), "audit.list")
        .await?;
    let events = engine.store.list_audit(filter, page).await?;
    let next = crate::engine::listing::next_cursor(&events, page, |e| &e.id);
    Ok((events, next))
}
