//! A node's closure: the newest epoch through which it will produce no
//! more primary results (`closed_through`, docs/CLUSTER.md, "The
//! gateway's contract"), read from the store
//! (`epochd_store::Store::closed_through`, which says why it is exact) a
//! few times a second and shared with every parts stream of the node.

use std::sync::Arc;
use std::time::Duration;

use epochd_store::Store;
use tokio::sync::watch;

/// How often the closure is read at most: a parts stream's `closed` lines
/// follow it, so it bounds how soon a gateway hears that an epoch is done
/// here (on average half of it is added to commit → merged result).
const POLL: Duration = Duration::from_millis(50);

/// The read walks the outbox, whose length is the daemon's backlog: the
/// pause after a read is at least this many times the CPU the read took,
/// so a node far behind spends at most a tenth of a core on it. CPU, not
/// wall time: the read waits for the store's seal lock while an epoch is
/// sealed, and that wait costs nothing (counting it made the pauses, and
/// commit → merged result, several times longer).
const POLL_COST_FACTOR: u32 = 10;

/// The longest pause between two reads, however slow they are.
const POLL_MAX: Duration = Duration::from_secs(1);

/// The node's `closed_through`, kept fresh by a background thread (the
/// read takes the store's seal lock and reads its outbox: blocking work).
pub struct Closure {
    rx: watch::Receiver<u64>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Closure {
    /// Starts reading `store`'s closure.
    pub fn start(store: &Arc<Store>) -> Closure {
        let (tx, rx) = watch::channel(store.closed_through());
        // Weak: the node closes its store by taking the last handle.
        let store = Arc::downgrade(store);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::Builder::new()
            .name("epochd-closure".into())
            .spawn(move || {
                let mut pause = POLL;
                while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(pause);
                    let cpu = crate::pipeline::thread_cpu_time();
                    let Some(through) = store.upgrade().map(|s| s.closed_through()) else {
                        return;
                    };
                    pause = (crate::pipeline::thread_cpu_time().saturating_sub(cpu)
                        * POLL_COST_FACTOR)
                        .clamp(POLL, POLL_MAX);
                    // Only forward: the clock bound can step back if the
                    // wall clock does, and what was said closed stays so.
                    tx.send_if_modified(|w| {
                        let moved = through > *w;
                        if moved {
                            *w = through;
                        }
                        moved
                    });
                }
            })
            .expect("the closure thread starts");
        Closure { rx, stop }
    }

    /// The closure now, and its changes.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.rx.clone()
    }
}

impl Drop for Closure {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
