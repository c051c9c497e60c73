//! Results retention: a thread that deletes results older than the
//! retention, every so often, until dropped.

use std::sync::Arc;

use super::Results;

/// Deletes old results in the background until dropped.
pub struct Sweeper {
    stop: Arc<(parking_lot::Mutex<bool>, parking_lot::Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sweeper {
    /// Starts the thread: every `every_secs`, results of epochs older than
    /// `retention_secs` are deleted.
    pub fn start(results: Results, retention_secs: u64, every_secs: u64) -> Sweeper {
        let stop = Arc::new((parking_lot::Mutex::new(false), parking_lot::Condvar::new()));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("epochd-results-retention".into())
            .spawn(move || loop {
                {
                    let mut stopped = flag.0.lock();
                    if !*stopped {
                        flag.1.wait_for(
                            &mut stopped,
                            std::time::Duration::from_secs(every_secs.max(1)),
                        );
                    }
                    if *stopped {
                        return;
                    }
                }
                let now = crate::clock::now_secs();
                match results.sweep_before(now.saturating_sub(retention_secs)) {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(results = n, "results retention"),
                    Err(e) => tracing::error!(error = %e, "results retention failed; will retry"),
                }
            })
            .expect("spawning the results retention thread");
        Sweeper {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Sweeper {
    fn drop(&mut self) {
        *self.stop.0.lock() = true;
        self.stop.1.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
