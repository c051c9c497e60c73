//! Built-in generated traffic for the first run: the reference workload,
//! ingested in-process at a steady rate, each second's events in batches
//! under the store's body limit (at most [`DEMO_BATCH_BYTES`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use epochd_store::{Format, Store};

use epochd_workload::{Format as WorkloadFormat, Workload, WorkloadConfig};

use crate::clock::{now_secs, since_epoch};

/// A thread ingesting `rate` events per second until dropped.
pub struct DemoTraffic {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl DemoTraffic {
    /// Starts ingesting into `store`.
    pub fn start(store: Arc<Store>, rate: u32) -> DemoTraffic {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("epochd-demo-traffic".into())
            .spawn(move || {
                let workload = Workload::new(WorkloadConfig::default());
                tracing::info!(rate, "generating Booking-like demo traffic");
                while !flag.load(Ordering::Relaxed) {
                    let epoch = now_secs();
                    ingest_epoch(&store, &workload, epoch, rate as usize);
                    // Sleep to the start of the next second.
                    let left = Duration::from_secs(epoch + 1).saturating_sub(since_epoch());
                    std::thread::sleep(left);
                }
            })
            .expect("spawning the demo traffic thread");
        DemoTraffic {
            stop,
            thread: Some(thread),
        }
    }
}

/// Largest demo batch, bytes: far under the default body limit (64 MiB), so
/// a batch's parse and fsync stay short even at 150,000 events/s and more.
pub const DEMO_BATCH_BYTES: usize = 4 << 20;

/// Ingests `rate` events of `epoch` in batches under the store's body limit
/// (and [`DEMO_BATCH_BYTES`]); returns the events acknowledged. A refused
/// batch is logged with how many events it held.
pub fn ingest_epoch(store: &Store, workload: &Workload, epoch: u64, rate: usize) -> usize {
    // Events are ~600 bytes; one more may follow the check below.
    let limit = (store.config().max_body_bytes / 2).clamp(1 << 10, DEMO_BATCH_BYTES);
    let mut acked = 0;
    let mut body = Vec::with_capacity(limit + 4096);
    let mut in_body = 0;
    let mut send = |body: &mut Vec<u8>, in_body: &mut usize| {
        match store.ingest(body, Format::MsgPack) {
            Ok(receipt) => acked += receipt.accepted,
            Err(e) => {
                tracing::warn!(error = %e, epoch, events = *in_body, "demo traffic batch refused")
            }
        }
        body.clear();
        *in_body = 0;
    };
    for event in workload.epoch(epoch, rate) {
        event.write(WorkloadFormat::MsgPack, &mut body);
        in_body += 1;
        if body.len() >= limit {
            send(&mut body, &mut in_body);
        }
    }
    if in_body > 0 {
        send(&mut body, &mut in_body);
    }
    acked
}

impl Drop for DemoTraffic {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use epochd_store::StoreConfig;

    use super::*;

    /// Regression: at 150,000 events/s a second of demo traffic (~90 MB)
    /// was one batch over the body limit, refused whole every second.
    #[test]
    fn a_second_larger_than_the_body_limit_is_sent_in_batches_under_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(StoreConfig {
            max_body_bytes: 64 << 10,
            max_event_bytes: 16 << 10,
            ..StoreConfig::new(dir.path())
        })
        .unwrap();
        let workload = Workload::new(WorkloadConfig::default());
        let epoch = now_secs();
        // ~1.2 MB of events: about 40 batches of at most 32 KiB.
        assert_eq!(ingest_epoch(&store, &workload, epoch, 2000), 2000);
        let stats = store.stats();
        assert_eq!(stats.events_accepted, 2000);
        assert_eq!(stats.batches_refused, 0);
    }
}
