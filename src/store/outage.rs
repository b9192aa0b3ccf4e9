//! Failing fast while the database is known to be down.
//!
//! Without this, every request that needs the database waits the pool's whole acquire timeout
//! (5 s) during an outage before it is told 503: clients pile up, and so do their retries. Each
//! backend keeps one [`Outage`]: the first connection that cannot be had marks the database down,
//! and from then on requests are refused at once ([`Outage::admit`] says no) while one background
//! probe per backend tries to connect every [`Outage::PROBE_EVERY`]; the first connection it has
//! marks the database up again. No request ever waits for a probe.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The known state of one database.
#[derive(Debug, Default)]
pub struct Outage {
    /// Whether the database is down; read on every request without a lock.
    down: AtomicBool,
    /// When it went down (for the log).
    since: Mutex<Option<Instant>>,
}

impl Outage {
    /// How often the probe tries to connect while the database is down.
    pub const PROBE_EVERY: Duration = Duration::from_secs(1);
    /// How long one probe waits for a connection.
    pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

    /// Whether a request may go to the database now.
    pub fn admit(&self) -> bool {
        !self.down.load(Ordering::Acquire)
    }

    /// A connection was had: the database is up.
    pub fn reached(&self) {
        if self.down.swap(false, Ordering::AcqRel)
            && let Some(since) = self
                .since
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
        {
            tracing::info!(
                down_for_ms = since.elapsed().as_millis(),
                "the database answers again"
            );
        }
    }

    /// No connection could be had: the database is down. `true` when it was up until now (the
    /// caller then starts the probe).
    pub fn unreachable(&self) -> bool {
        let went_down = !self.down.swap(true, Ordering::AcqRel);
        if went_down {
            *self.since.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
            tracing::warn!(
                "the database is unreachable: refusing requests at once, probing it every second"
            );
        }
        went_down
    }

    /// Whether the database is known to be down.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_refuses_until_reached_and_starts_one_probe() {
        let outage = Outage::default();
        assert!(outage.admit());
        assert!(outage.unreachable(), "the first failure starts the probe");
        assert!(!outage.unreachable(), "later ones do not");
        assert!(!outage.admit() && outage.is_down());
        outage.reached();
        assert!(outage.admit() && !outage.is_down());
        assert!(outage.unreachable(), "a new outage, a new probe");
    }
}
