//! Response body bytes, by who asked: another node of the cluster, this node
//! itself, or a client. A node asking names itself in [`NODE_HEADER`] (the
//! gateway reading parts streams, a module fetch). These are the node's own
//! figures of "bytes served to clients" and "bytes sent to other nodes"
//! (`epochd_http_response_bytes_total{peer}`), which the cluster benchmark
//! reads in place of interface counters on a real cluster. Bodies only:
//! headers, chunk framing and TCP/IP overhead are not counted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};

pub use crate::cluster::NODE_HEADER;

/// Body bytes served, per kind of peer.
#[derive(Debug, Default)]
pub struct BytesOut {
    /// To clients: anyone who did not name a node.
    pub client: AtomicU64,
    /// To other nodes of the cluster.
    pub node: AtomicU64,
    /// To this node itself (its gateway reading its own parts).
    pub own: AtomicU64,
}

/// What the counting layer needs: the counters and this node's id.
#[derive(Clone)]
pub struct Counting {
    /// The counters.
    pub bytes: Arc<BytesOut>,
    /// This node's id in the cluster, if it is in one.
    pub own_id: Option<String>,
}

/// Counts each response's body bytes as they are sent, under the peer the
/// request named.
pub async fn count(State(counting): State<Counting>, request: Request, next: Next) -> Response {
    let peer = request
        .headers()
        .get(NODE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|node| Some(node) == counting.own_id.as_deref());
    let response = next.run(request).await;
    let bytes = counting.bytes.clone();
    response.map(move |inner| Body::new(Counted { inner, bytes, peer }))
}

/// A response body that adds each data frame's length to its peer's
/// counter, and keeps the inner body's size hint (so a response of known
/// length still goes out with `Content-Length`, not chunked).
struct Counted {
    inner: Body,
    bytes: Arc<BytesOut>,
    /// None: a client; Some(false): another node; Some(true): this node.
    peer: Option<bool>,
}

impl http_body::Body for Counted {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                let counter = match self.peer {
                    None => &self.bytes.client,
                    Some(false) => &self.bytes.node,
                    Some(true) => &self.bytes.own,
                };
                counter.fetch_add(data.len() as u64, Ordering::Relaxed);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
