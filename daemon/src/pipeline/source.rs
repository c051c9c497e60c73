//! Where the daemon reads a commit: the local store in embedded mode, the
//! store process's read API in split mode.

use std::sync::Arc;

use epochd_hooks::CommitNotice;
use epochd_store::{CommitSummary, Manifest, ManifestKey, Store};

/// Why a commit could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The store failed; it may pass (an I/O error, no file descriptor
    /// left): try again later.
    #[error("reading the commit from the store: {0}")]
    Store(#[from] epochd_store::StoreError),
    /// The store process did not answer as expected; it may pass (it is
    /// unreachable, restarting, or answered 5xx): try again later.
    #[error("reading the commit over HTTP: {0}")]
    Http(String),
    /// A chunk of the commit is stored, but its bytes are wrong (checksum
    /// mismatch, truncated or missing bucket file): reading it again gives
    /// the same answer, so the commit is recorded as an error, not retried.
    #[error("chunk {chunk} is corrupt: {reason}")]
    Corrupt {
        /// The commit's manifest, read fine: which jobs the commit was for.
        manifest: Box<Manifest>,
        /// The first damaged chunk's key.
        chunk: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// A commit's manifest and its chunk blobs, in manifest order.
pub struct CommitData {
    /// The manifest.
    pub manifest: Manifest,
    /// The chunks' stored (compressed) bytes.
    pub blobs: Vec<Vec<u8>>,
}

/// The store the daemon reads from.
#[derive(Clone)]
pub enum Source {
    /// The store in this process.
    Local(Arc<Store>),
    /// A store process on this node, through its HTTP read API.
    Http {
        /// Its base URL, e.g. `http://127.0.0.1:8790`.
        url: String,
        /// The client.
        client: reqwest::Client,
        /// The store's admin token (its raw reads need it), if it has one.
        token: Option<String>,
    },
}

impl Source {
    /// Reads the commit a notice names. `None` when it is gone (deleted by
    /// retention) or is not the commit the notice describes.
    pub async fn read(&self, notice: &CommitNotice) -> Result<Option<CommitData>, SourceError> {
        let key = ManifestKey {
            epoch: notice.epoch,
            dc: notice.dc.clone(),
            seq: notice.seq,
        };
        match self.read_key(key).await {
            Ok(data) => Ok(data.filter(|d| d.manifest.digest() == notice.manifest_digest)),
            // Damaged chunks of another commit than the notice's: that one is gone.
            Err(SourceError::Corrupt { manifest, .. })
                if manifest.digest() != notice.manifest_digest =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Reads the commit stored under `key`, whichever it is. `None` when
    /// it is gone.
    pub async fn read_key(&self, key: ManifestKey) -> Result<Option<CommitData>, SourceError> {
        match self {
            Source::Local(store) => {
                let store = store.clone();
                tokio::task::spawn_blocking(move || read_local(&store, &key))
                    .await
                    .map_err(|e| SourceError::Http(format!("reader task failed: {e}")))?
            }
            Source::Http { url, client, token } => {
                read_http(url, &Client { client, token }, &key).await
            }
        }
    }

    /// The commits stored for `from <= epoch <= to`, in (epoch, dc, seq)
    /// order.
    pub async fn commits(&self, from: u64, to: u64) -> Result<Vec<ManifestKey>, SourceError> {
        let summaries: Vec<CommitSummary> = match self {
            Source::Local(store) => {
                let store = store.clone();
                tokio::task::spawn_blocking(move || store.commits(from, to, None))
                    .await
                    .map_err(|e| SourceError::Http(format!("reader task failed: {e}")))??
            }
            Source::Http { url, client, token } => {
                #[derive(serde::Deserialize)]
                struct Commits {
                    commits: Vec<CommitSummary>,
                }
                let http = |e: reqwest::Error| SourceError::Http(e.to_string());
                let answer: Commits = Client { client, token }
                    .get(format!("{url}/v1/commits?from={from}&to={to}"))
                    .send()
                    .await
                    .map_err(http)?
                    .error_for_status()
                    .map_err(http)?
                    .json()
                    .await
                    .map_err(http)?;
                answer.commits
            }
        };
        Ok(summaries
            .into_iter()
            .map(|c| ManifestKey {
                epoch: c.epoch,
                dc: c.dc,
                seq: c.seq,
            })
            .collect())
    }
}

/// The HTTP client with the store's token.
struct Client<'a> {
    client: &'a reqwest::Client,
    token: &'a Option<String>,
}

impl Client<'_> {
    fn get(&self, url: String) -> reqwest::RequestBuilder {
        let request = self.client.get(url);
        match self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }
}

fn read_local(store: &Store, key: &ManifestKey) -> Result<Option<CommitData>, SourceError> {
    let Some(manifest) = store.manifest(key)? else {
        return Ok(None);
    };
    let mut blobs = Vec::with_capacity(manifest.chunks.len());
    for entry in &manifest.chunks {
        match store.chunk(&manifest.chunk_key(entry)) {
            Ok(Some(blob)) => blobs.push(blob),
            Ok(None) => return Ok(None),
            Err(epochd_store::StoreError::CorruptChunk { key, reason }) => {
                return Err(SourceError::Corrupt {
                    manifest: Box::new(manifest),
                    chunk: key.to_string(),
                    reason,
                })
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Some(CommitData { manifest, blobs }))
}

/// The JSON error body of the store's API.
#[derive(serde::Deserialize)]
struct ErrorBody {
    error: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    details: serde_json::Value,
}

async fn read_http(
    url: &str,
    client: &Client<'_>,
    key: &ManifestKey,
) -> Result<Option<CommitData>, SourceError> {
    let http = |e: reqwest::Error| SourceError::Http(e.to_string());
    let answer = client
        .get(format!("{url}/v1/manifests/{key}"))
        .send()
        .await
        .map_err(http)?;
    if answer.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    let manifest: Manifest = answer
        .error_for_status()
        .map_err(http)?
        .json()
        .await
        .map_err(http)?;
    let mut blobs = Vec::with_capacity(manifest.chunks.len());
    for entry in &manifest.chunks {
        let chunk = manifest.chunk_key(entry);
        let answer = client
            .get(format!("{url}/v1/chunks/{chunk}"))
            .send()
            .await
            .map_err(http)?;
        if answer.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if answer.status() == reqwest::StatusCode::INTERNAL_SERVER_ERROR {
            // 500 `corrupt_chunk` (docs/API.md) is damage that asking again
            // will not cure; any other 5xx, or a body that is not the
            // store's JSON, may pass.
            let status = answer.status();
            let body = answer.bytes().await.map_err(http)?;
            return Err(match serde_json::from_slice::<ErrorBody>(&body) {
                Ok(e) if e.error == "corrupt_chunk" => SourceError::Corrupt {
                    manifest: Box::new(manifest),
                    chunk: chunk.to_string(),
                    reason: e.details["reason"]
                        .as_str()
                        .map_or(e.message, str::to_owned),
                },
                Ok(e) => SourceError::Http(format!(
                    "GET chunk {chunk}: {status} {}: {}",
                    e.error, e.message
                )),
                Err(_) => SourceError::Http(format!("GET chunk {chunk}: {status}")),
            });
        }
        blobs.push(
            answer
                .error_for_status()
                .map_err(http)?
                .bytes()
                .await
                .map_err(http)?
                .to_vec(),
        );
    }
    Ok(Some(CommitData { manifest, blobs }))
}
