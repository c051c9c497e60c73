//! Built-in generated traffic for the first run: the reference workload,
//! ingested in-process at a steady rate, one batch per second.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use epochd_store::{Format, Store};
use epochd_workload::{Format as WorkloadFormat, Workload, WorkloadConfig};

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
                    let now = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .unwrap_or_default();
                    let epoch = now.as_secs();
                    let body = workload.encode_epoch(epoch, rate as usize, WorkloadFormat::MsgPack);
                    if let Err(e) = store.ingest(&body, Format::MsgPack) {
                        tracing::warn!(error = %e, "demo traffic batch refused");
                    }
                    // Sleep to the start of the next second.
                    let left = Duration::from_secs(epoch + 1).saturating_sub(
                        SystemTime::now()
                            .duration_since(UNIX_EPOCH)
                            .unwrap_or_default(),
                    );
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

impl Drop for DemoTraffic {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
