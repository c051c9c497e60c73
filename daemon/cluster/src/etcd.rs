//! What every part of the crate does with etcd the same way: connecting,
//! naming a failed request, retrying with backoff.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use etcd_client::{Client, ConnectOptions};

use crate::ClusterError;

/// The first wait before trying etcd again; doubles up to [`MAX_BACKOFF`].
pub(crate) const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// The longest wait between tries.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How many times a read-modify-write of one key (a compare on its
/// revision) is tried before [`ClusterError::Conflict`]: a conflict means
/// another writer won, and is rare, so a few tries are plenty.
pub(crate) const CAS_ATTEMPTS: u32 = 8;

/// Connects to etcd with the options cluster mode relies on: bounded
/// connects and requests, and a gRPC keep-alive of 2 s so a dead
/// connection (etcd killed, a network cut) is noticed within a lease and a
/// watch stream breaks instead of hanging.
pub async fn connect(endpoints: &[String]) -> Result<Client, ClusterError> {
    let options = ConnectOptions::new()
        .with_connect_timeout(Duration::from_secs(3))
        .with_timeout(Duration::from_secs(5))
        .with_keep_alive(Duration::from_secs(2), Duration::from_secs(2));
    Client::connect(endpoints, Some(options))
        .await
        .map_err(|source| ClusterError::Etcd {
            endpoints: endpoints.join(","),
            source,
        })
}

/// A failed request, named by what it was for.
pub(crate) fn failed(what: impl Into<String>) -> impl FnOnce(etcd_client::Error) -> ClusterError {
    let what = what.into();
    move |source| ClusterError::EtcdRequest { what, source }
}

/// Whether etcd refused a read or a watch because the revision asked for
/// is compacted away (or not yet written): its status message is the only
/// mark (`mvcc: required revision has been compacted`, `... is a future
/// revision`), stable since etcd 3.0.
pub(crate) fn revision_unavailable(error: &etcd_client::Error) -> bool {
    match error {
        etcd_client::Error::GRpcStatus(status) => status.message().contains("required revision"),
        _ => false,
    }
}

/// Unix milliseconds now.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
