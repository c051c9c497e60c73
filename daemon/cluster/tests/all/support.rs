//! What the etcd-backed tests share: clients and bounded waits on watches.

use std::time::{Duration, Instant};

use epochd_cluster::JobEvent;
use tokio::sync::mpsc::Receiver;

use crate::etcd::Etcd;

/// A client of `etcd`, as cluster mode connects.
pub async fn client(etcd: &Etcd) -> etcd_client::Client {
    client_at(&etcd.endpoint()).await
}

/// A client of the etcd at `endpoint`, retried for up to 30 s (a restarted
/// etcd takes a moment to answer).
pub async fn client_at(endpoint: &str) -> etcd_client::Client {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match epochd_cluster::connect(&[endpoint.to_owned()]).await {
            Ok(client) => return client,
            Err(e) => assert!(Instant::now() < deadline, "etcd at {endpoint}: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The next event of `watch`, `Synced` included, within `secs`.
pub async fn next_event(watch: &mut Receiver<JobEvent>, secs: u64) -> JobEvent {
    match tokio::time::timeout(Duration::from_secs(secs), watch.recv()).await {
        Ok(Some(event)) => event,
        Ok(None) => panic!("the watch ended"),
        Err(_) => panic!("no event within {secs} s"),
    }
}

/// The next event of `watch` that is not `Synced`, within `secs` in all.
pub async fn next_change(watch: &mut Receiver<JobEvent>, secs: u64) -> JobEvent {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, watch.recv()).await {
            Ok(Some(JobEvent::Synced { .. })) => continue,
            Ok(Some(event)) => return event,
            Ok(None) => panic!("the watch ended"),
            Err(_) => panic!("no change within {secs} s"),
        }
    }
}

/// Unix milliseconds now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}
