//! The wall clock, as the daemon reads it, and the one bound it puts on
//! epochs: no commit may make "now" (the newest epoch that streams, lag and
//! the web page are measured against) jump past what the clock allows.

/// The store's reading of the clock: the daemon and the store agree on
/// what "now" is.
pub use epochd_store::clock::{now_ms, now_secs, since_epoch};

/// Whether `epoch` lies further ahead of the clock than the store accepts
/// events ([`epochd_store::DEFAULT_MAX_FUTURE_SECS`]). The store refuses
/// such commits on both ingest paths; a daemon fed by an older store, or
/// reopening results stored before that check, still must not let one
/// such epoch move its newest epoch or a stream's position: it is
/// processed, and its results are published as late, never as "now".
pub fn beyond_clock(epoch: u64) -> bool {
    epoch > now_secs() + epochd_store::DEFAULT_MAX_FUTURE_SECS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_epoch_is_beyond_the_clock_only_past_the_stores_bound() {
        let now = now_secs();
        assert!(!beyond_clock(now));
        assert!(!beyond_clock(
            now + epochd_store::DEFAULT_MAX_FUTURE_SECS - 5
        ));
        assert!(beyond_clock(now + 100_000));
        assert!(!beyond_clock(0));
    }
}
