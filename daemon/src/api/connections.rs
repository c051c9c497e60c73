//! Serving HTTP connections with limits, so idle or slow clients cannot take
//! a node down.
//!
//! Found under attack (issue 10.3): a thousand idle TCP connections used up
//! the process's file descriptors, and the next chunk file the store opened
//! failed. So:
//! - **A connection cap.** At most `max_connections` are served at once.
//!   At the cap, a newcomer takes the place of the connection that has been
//!   waiting longest without sending a single request (idle connections
//!   cannot crowd out producers); if every connection has sent one, the
//!   newcomer is answered `503` with a one-line JSON error and closed at
//!   once (its descriptor is back within a second, whatever it does).
//!   The cap is also kept below the process's descriptor limit minus
//!   [`RESERVED_FDS`], which the store, the database, the hook socket and
//!   the jobs need: clients cannot exhaust what the node writes with.
//! - **A header timeout**, which is also the idle timeout: a connection must
//!   send a request's headers within `header_timeout` of connecting or of
//!   its previous answer, or it is closed (slowloris, idle keep-alives).
//! - **A body timeout** (in the handlers that read bodies, see
//!   `api::store_routes::read_body`): a body that does not arrive within
//!   `body_timeout` is answered 408.
//! - **The descriptor limit raised** to its hard maximum at start
//!   ([`raise_fd_limit`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Semaphore};

/// Descriptors kept out of the connection cap for the node's own files and
/// sockets: WAL segments, chunk bucket files, the database, the hook socket,
/// job modules, cgroup files, outgoing HTTP in split mode.
pub const RESERVED_FDS: u64 = 256;

/// Limits of the HTTP server.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Connections served at once (lowered to fit the descriptor limit).
    pub max_connections: usize,
    /// Longest a connection may take to send a request's headers, counted
    /// from when it connected or got its previous answer.
    pub header_timeout: Duration,
    /// Longest a request body may take to arrive.
    pub body_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_connections: 4096,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(60),
        }
    }
}

/// Counters of the HTTP server, for /metrics.
#[derive(Debug, Default)]
pub struct ConnectionStats {
    /// Connections being served now.
    pub open: AtomicU64,
    /// Connections accepted and served, in all.
    pub accepted: AtomicU64,
    /// Connections refused because the cap was reached.
    pub refused: AtomicU64,
    /// Connections closed at the cap because they had sent no request.
    pub evicted: AtomicU64,
    /// The cap in force.
    pub cap: AtomicU64,
}

/// Raises the soft limit of open files to the hard limit and returns the
/// soft limit now in force (a node serving hundreds of subscribers needs
/// more than the usual 1024, and the hard limit is what the operator allows).
pub fn raise_fd_limit() -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let limit = getrlimit(Resource::Nofile);
    let current = limit.current.unwrap_or(u64::MAX);
    if limit.current == limit.maximum {
        return current;
    }
    let raised = rustix::process::Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => limit.maximum.unwrap_or(u64::MAX),
        Err(e) => {
            tracing::warn!(error = %e, soft = current, "could not raise the open-file limit");
            current
        }
    }
}

/// The connection cap for a descriptor limit: the configured cap, or fewer
/// so that [`RESERVED_FDS`] stay for the node itself (at least 16).
pub fn connection_cap(configured: usize, fd_limit: u64) -> usize {
    let room = fd_limit.saturating_sub(RESERVED_FDS).max(16);
    configured.min(usize::try_from(room).unwrap_or(usize::MAX))
}

/// The answer to a connection over the cap.
fn refusal() -> Vec<u8> {
    let body = "{\"error\":\"too_many_connections\",\"message\":\"this node serves its most connections at once: retry in a moment\"}\n";
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Serves `app` on `listener` until `shutdown` resolves; then stops
/// accepting and gives open connections `drain` to finish before they are
/// dropped.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    stats: Arc<ConnectionStats>,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
    on_accept: impl Fn(&TcpStream),
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    stats
        .cap
        .store(limits.max_connections as u64, Ordering::Relaxed);
    let silent = Silent::default();
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    let mut next_id = 0u64;
    loop {
        let tcp = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    // EMFILE and the like: the descriptors come back as
                    // connections close; do not spin meanwhile.
                    tracing::debug!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let permit = match slots.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) if silent.evict_oldest() => {
                stats.evicted.fetch_add(1, Ordering::Relaxed);
                tokio::time::timeout(EVICTION_WAIT, slots.clone().acquire_owned())
                    .await
                    .ok()
                    .and_then(Result::ok)
            }
            Err(_) => None,
        };
        let Some(permit) = permit else {
            stats.refused.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(refuse(tcp));
            continue;
        };
        on_accept(&tcp);
        stats.accepted.fetch_add(1, Ordering::Relaxed);
        stats.open.fetch_add(1, Ordering::Relaxed);
        next_id += 1;
        let id = next_id;
        let evicted = silent.insert(id);
        let service = {
            let silent = silent.clone();
            let app = TowerToHyperService::new(app.clone());
            // Only the first request takes the shared lock.
            let spoke = std::cell::Cell::new(false);
            hyper::service::service_fn(move |request| {
                if !spoke.replace(true) {
                    silent.spoke(id);
                }
                hyper::service::Service::call(&app, request)
            })
        };
        let conn = graceful.watch(http.serve_connection(TokioIo::new(tcp), service));
        let stats = stats.clone();
        let silent = silent.clone();
        tokio::spawn(async move {
            tokio::select! {
                ended = conn => if let Err(e) = ended {
                    tracing::debug!(error = %e, "connection ended with an error");
                },
                // Dropping the connection closes its socket. (A dropped
                // sender, once the connection spoke, is not an eviction.)
                Ok(()) = evicted => tracing::debug!("closed a silent connection to make room"),
            }
            silent.spoke(id);
            stats.open.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "connections still open {} s after shutdown began; closing them",
            drain.as_secs()
        );
    }
}

/// How long a newcomer waits for the room an eviction makes.
const EVICTION_WAIT: Duration = Duration::from_millis(200);

/// Connections that have not sent a request yet, oldest first, each with
/// the switch that closes it.
#[derive(Clone, Default)]
struct Silent(Arc<parking_lot::Mutex<BTreeMap<u64, oneshot::Sender<()>>>>);

impl Silent {
    fn insert(&self, id: u64) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        self.0.lock().insert(id, tx);
        rx
    }

    /// The connection sent a request (or ended): it is no longer evicted.
    fn spoke(&self, id: u64) {
        self.0.lock().remove(&id);
    }

    /// Closes the oldest silent connection; false if there is none.
    fn evict_oldest(&self) -> bool {
        let oldest = self.0.lock().pop_first();
        oldest.is_some_and(|(_, close)| close.send(()).is_ok())
    }
}

/// Answers a connection over the cap and closes it, within a second.
async fn refuse(mut tcp: TcpStream) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = tcp.write_all(&refusal()).await;
        let _ = tcp.shutdown().await;
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_descriptors_for_the_node() {
        assert_eq!(connection_cap(4096, 1024), 1024 - RESERVED_FDS as usize);
        assert_eq!(connection_cap(100, 1_000_000), 100);
        assert_eq!(connection_cap(4096, 10), 16, "never below 16");
    }

    #[test]
    fn the_refusal_is_well_formed_http() {
        let bytes = refusal();
        let text = std::str::from_utf8(&bytes).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(body.len(), length);
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"], "too_many_connections");
    }
}
