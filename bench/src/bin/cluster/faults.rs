//! The fault schedule of a run on the emulation: `kill -9` of a node and
//! its restart on its data, a node's cluster link down and up, each at its
//! second (mid-second, when that second's batches are acknowledged).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use epochd_bench::cluster::workload::{Fault, FaultKind};
use epochd_store::clock::now_ms;

use crate::emulation::Emulated;

/// Applies `faults`, timed from epoch `start`; `alive` tells the load
/// generator which nodes take events.
pub async fn apply_faults(
    faults: Vec<Fault>,
    start: u64,
    cluster: Arc<Mutex<Emulated>>,
    alive: Arc<Vec<AtomicBool>>,
) -> Result<()> {
    // (time ms, fault, begins)
    let mut steps: Vec<(u64, Fault, bool)> = Vec::new();
    for f in faults {
        // Mid-second: the second's batches are acknowledged by then.
        steps.push(((start + f.at) * 1000 + 500, f.clone(), true));
        steps.push(((start + f.until) * 1000 + 500, f, false));
    }
    steps.sort_by_key(|s| s.0);
    for (at, fault, begins) in steps {
        tokio::time::sleep(Duration::from_millis(at.saturating_sub(now_ms()))).await;
        let cluster = cluster.clone();
        let alive = alive.clone();
        tokio::task::spawn_blocking(move || -> Result<()> {
            let mut c = cluster.lock().unwrap();
            match (fault.kind, begins) {
                (FaultKind::Kill, true) => {
                    alive[fault.node].store(false, Ordering::Relaxed);
                    c.nodes[fault.node].kill();
                    eprintln!("   fault: n{} killed (kill -9)", fault.node);
                }
                (FaultKind::Kill, false) => {
                    c.nodes[fault.node].restart()?;
                    alive[fault.node].store(true, Ordering::Relaxed);
                    eprintln!("   fault: n{} restarted on its data", fault.node);
                }
                (FaultKind::LinkDown, begins) => {
                    c.topology.set_cluster_link(fault.node, !begins)?;
                    eprintln!(
                        "   fault: n{} cluster link {}",
                        fault.node,
                        if begins { "down" } else { "up" }
                    );
                }
            }
            Ok(())
        })
        .await??;
    }
    Ok(())
}
