//! Delivery counters, readable from any thread for /metrics.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::Outbox;

/// Live counters of one [`crate::Dispatcher`]. Cheap to clone; every clone reads the same
/// counters. Counters start at zero with each dispatcher (they are not persisted).
///
/// It holds the outbox's sled tree (to count the backlog), which keeps the db open:
/// drop it with the dispatcher before reopening the db.
#[derive(Clone, Debug)]
pub struct DispatchStats {
    counters: Arc<Counters>,
    outbox: Outbox,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) sent: AtomicU64,
    pub(crate) acked: AtomicU64,
    pub(crate) redelivered: AtomicU64,
    pub(crate) released: AtomicU64,
    pub(crate) skipped: AtomicU64,
    pub(crate) in_flight: AtomicU64,
    pub(crate) sessions: AtomicU64,
    pub(crate) connected: AtomicBool,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// The counters at one instant; see [`DispatchStats::snapshot`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatsSnapshot {
    /// Notices sent to a receiver, redeliveries included.
    pub sent: u64,
    /// Outbox entries removed by an acknowledgement (a repeated ack is not counted).
    pub acked: u64,
    /// Notices sent again after a receiver went away without acknowledging them
    /// (counted within this dispatcher's life; after a store restart the backlog counts
    /// as plain `sent`).
    pub redelivered: u64,
    /// Notices the receiver dropped without acknowledging them; they stay in the outbox
    /// until the next session.
    pub released: u64,
    /// Outbox entries skipped because they cannot be read (see [`crate::HookError::BadEntry`]).
    pub skipped: u64,
    /// Notices sent in the current session and not yet acknowledged or released.
    pub in_flight: u64,
    /// Entries in the outbox: committed and not yet acknowledged.
    pub backlog: u64,
    /// Whether a receiver is connected now.
    pub connected: bool,
    /// Receiver sessions started so far.
    pub sessions: u64,
}

impl DispatchStats {
    pub(crate) fn new(outbox: Outbox) -> DispatchStats {
        DispatchStats {
            counters: Arc::default(),
            outbox,
        }
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Reads every counter. `backlog` counts the outbox, which sled does in O(backlog):
    /// fine for a scrape every few seconds, not for a hot loop.
    pub fn snapshot(&self) -> StatsSnapshot {
        let c = &self.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StatsSnapshot {
            sent: load(&c.sent),
            acked: load(&c.acked),
            redelivered: load(&c.redelivered),
            released: load(&c.released),
            skipped: load(&c.skipped),
            in_flight: load(&c.in_flight),
            backlog: self.outbox.len() as u64,
            connected: c.connected.load(Ordering::Relaxed),
            sessions: load(&c.sessions),
        }
    }
}

impl StatsSnapshot {
    /// Appends the counters in Prometheus text format, named `epochd_hook_*`.
    pub fn write_prometheus(&self, out: &mut String) {
        let rows: [(&str, &str, &str, u64); 9] = [
            (
                "notices_sent_total",
                "counter",
                "Commit notices sent to the daemon, redeliveries included.",
                self.sent,
            ),
            (
                "notices_acked_total",
                "counter",
                "Commit notices acknowledged and removed from the outbox.",
                self.acked,
            ),
            (
                "notices_redelivered_total",
                "counter",
                "Commit notices sent again after the daemon went away without acknowledging them.",
                self.redelivered,
            ),
            (
                "notices_released_total",
                "counter",
                "Commit notices the daemon dropped without acknowledging them.",
                self.released,
            ),
            (
                "entries_skipped_total",
                "counter",
                "Outbox entries skipped because they cannot be read.",
                self.skipped,
            ),
            (
                "sessions_total",
                "counter",
                "Daemon sessions started.",
                self.sessions,
            ),
            (
                "in_flight",
                "gauge",
                "Commit notices sent and not yet acknowledged.",
                self.in_flight,
            ),
            (
                "backlog",
                "gauge",
                "Commit notices in the outbox (committed, not yet acknowledged).",
                self.backlog,
            ),
            (
                "receiver_connected",
                "gauge",
                "1 when a daemon is connected.",
                u64::from(self.connected),
            ),
        ];
        for (name, kind, help, value) in rows {
            // Writing into a String cannot fail.
            let _ = writeln!(out, "# HELP epochd_hook_{name} {help}");
            let _ = writeln!(out, "# TYPE epochd_hook_{name} {kind}");
            let _ = writeln!(out, "epochd_hook_{name} {value}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_has_help_type_and_value_for_each_counter() {
        let snap = StatsSnapshot {
            sent: 5,
            backlog: 3,
            connected: true,
            ..StatsSnapshot::default()
        };
        let mut out = String::new();
        snap.write_prometheus(&mut out);
        assert!(out.contains(
            "# TYPE epochd_hook_notices_sent_total counter\nepochd_hook_notices_sent_total 5\n"
        ));
        assert!(out.contains("epochd_hook_backlog 3\n"));
        assert!(out.contains("epochd_hook_receiver_connected 1\n"));
        assert_eq!(out.lines().filter(|l| l.starts_with("# HELP")).count(), 9);
    }
}
