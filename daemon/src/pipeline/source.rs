//! Where the daemon reads a commit: the local store in embedded mode, the
//! store process's read API in split mode.

use std::sync::Arc;

use epochd_hooks::CommitNotice;
use epochd_store::{Manifest, ManifestKey, Store};

/// Why a commit could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The store failed.
    #[error("reading the commit from the store: {0}")]
    Store(#[from] epochd_store::StoreError),
    /// The store process did not answer as expected.
    #[error("reading the commit over HTTP: {0}")]
    Http(String),
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
        let data = match self {
            Source::Local(store) => {
                let store = store.clone();
                tokio::task::spawn_blocking(move || read_local(&store, &key))
                    .await
                    .map_err(|e| SourceError::Http(format!("reader task failed: {e}")))??
            }
            Source::Http { url, client } => read_http(url, client, &key).await?,
        };
        Ok(data.filter(|d| d.manifest.digest() == notice.manifest_digest))
    }
}

fn read_local(store: &Store, key: &ManifestKey) -> Result<Option<CommitData>, SourceError> {
    let Some(manifest) = store.manifest(key)? else {
        return Ok(None);
    };
    let mut blobs = Vec::with_capacity(manifest.chunks.len());
    for entry in &manifest.chunks {
        match store.chunk(&manifest.chunk_key(entry))? {
            Some(blob) => blobs.push(blob),
            None => return Ok(None),
        }
    }
    Ok(Some(CommitData { manifest, blobs }))
}

async fn read_http(
    url: &str,
    client: &reqwest::Client,
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
        let answer = client
            .get(format!("{url}/v1/chunks/{}", manifest.chunk_key(entry)))
            .send()
            .await
            .map_err(http)?;
        if answer.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
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
