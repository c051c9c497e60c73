//! The HTTP half of the relocator: one node's share, its chunks and then
//! its manifest, over the low-level ingest path (docs/API.md), each PUT
//! tried again after no answer or a 5xx (every one is idempotent).

use std::time::Duration;

use serde::Serialize;

use crate::relocator::{Outgoing, PlacedChunk};

/// The manifest format version the nodes read (docs/API.md).
pub(crate) const MANIFEST_VERSION: u16 = 1;
/// Tries of one request on a passing failure (no answer, a 5xx).
const HTTP_ATTEMPTS: u32 = 3;

/// A manifest's chunk entry, as docs/API.md gives it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Entry {
    #[serde(rename = "type")]
    pub(crate) event_type: String,
    pub(crate) subtype: Option<String>,
    pub(crate) chunk: u32,
    pub(crate) bytes: u64,
    pub(crate) raw_bytes: u64,
    pub(crate) events: u64,
    /// xxh3-64 of the stored bytes, 16 hex digits.
    pub(crate) checksum: String,
}

/// A manifest, as `PUT /v1/manifests/{epoch}/{dc}/{seq}` takes it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Manifest {
    pub(crate) version: u16,
    pub(crate) epoch: u64,
    pub(crate) dc: String,
    pub(crate) seq: u32,
    pub(crate) events: u64,
    pub(crate) chunks: Vec<Entry>,
}

/// One node's share on its way: HTTP to that node.
pub(crate) struct Sender {
    pub(crate) http: reqwest::Client,
    pub(crate) token: Option<String>,
    pub(crate) base: String,
}

impl Sender {
    /// PUTs every chunk of `share`, then the manifest listing them. The
    /// chunks placed and whether the manifest was new; what failed if not.
    pub(crate) async fn commit(
        &self,
        epoch: u64,
        dc: &str,
        seq: u32,
        share: Vec<Outgoing>,
    ) -> Result<(Vec<PlacedChunk>, bool), String> {
        let mut placed = Vec::with_capacity(share.len());
        let mut entries = Vec::with_capacity(share.len());
        for chunk in share {
            let p = &chunk.placed;
            let url = format!(
                "{}/v1/chunks/{epoch}/{dc}/{}/{}/{}",
                self.base,
                p.event_type,
                p.subtype.as_deref().unwrap_or("-"),
                p.chunk
            );
            self.put(&url, chunk.bytes, "application/zstd").await?;
            placed.push(chunk.placed);
            entries.push(chunk.entry);
        }
        let manifest = Manifest {
            version: MANIFEST_VERSION,
            epoch,
            dc: dc.to_owned(),
            seq,
            events: entries.iter().map(|e| e.events).sum(),
            chunks: entries,
        };
        let body = serde_json::to_vec(&manifest).expect("a manifest serialises");
        let url = format!("{}/v1/manifests/{epoch}/{dc}/{seq}", self.base);
        let status = self.put(&url, body, "application/json").await?;
        Ok((placed, status == 201))
    }

    /// PUTs `body`; the status if 200 or 201. Tries again after no answer
    /// or a 5xx (each PUT is idempotent); any other answer is the error.
    async fn put(&self, url: &str, body: Vec<u8>, content_type: &str) -> Result<u16, String> {
        let mut pause = Duration::from_millis(200);
        let mut attempt = 1;
        loop {
            let mut request = self
                .http
                .put(url)
                .header("content-type", content_type)
                .body(body.clone());
            if let Some(token) = &self.token {
                request = request.bearer_auth(token);
            }
            let why = match request.send().await {
                Ok(answer) if answer.status().is_success() => {
                    return Ok(answer.status().as_u16());
                }
                Ok(answer) => {
                    let status = answer.status();
                    let text = answer.text().await.unwrap_or_default();
                    let why = format!("PUT {url} answered {status}: {}", text.trim());
                    if !status.is_server_error() {
                        return Err(why);
                    }
                    why
                }
                Err(e) => format!("PUT {url}: no answer: {e}"),
            };
            if attempt >= HTTP_ATTEMPTS {
                return Err(why);
            }
            tracing::debug!(%why, attempt, "trying again");
            tokio::time::sleep(pause).await;
            pause *= 2;
            attempt += 1;
        }
    }
}
