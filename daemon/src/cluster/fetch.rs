//! Getting a job's module: from this node's own store, or from a live
//! holder (`GET /v1/cluster/modules/{sha256}` on its API), checked against
//! its hash, kept, and this node announced as a holder too.

use epochd_cluster::check_module;

use super::{ClusterJobs, ClusterJobsError};

impl ClusterJobs {
    /// The module `sha`'s bytes, fetched from a live holder if this node
    /// does not hold it; once held, this node says so in etcd.
    pub(super) async fn module(&self, sha: &str) -> Result<Vec<u8>, ClusterJobsError> {
        let modules = self.modules.clone();
        let wanted = sha.to_owned();
        let held = tokio::task::spawn_blocking(move || modules.get(&wanted))
            .await
            .expect("reading a module does not panic");
        let bytes = match held {
            Some(bytes) => bytes,
            None => {
                let bytes = self.fetch(sha).await?;
                let modules = self.modules.clone();
                let (kept, wanted) = (bytes.clone(), sha.to_owned());
                tokio::task::spawn_blocking(move || modules.put(&wanted, &kept))
                    .await
                    .expect("storing a module does not panic")?;
                tracing::info!(
                    module = sha,
                    bytes = bytes.len(),
                    "job module fetched from a holder"
                );
                bytes
            }
        };
        self.holders.announce(sha, &self.node_id).await?;
        Ok(bytes)
    }

    /// Asks each live holder but this node in turn; what each answered if
    /// none gave the module.
    async fn fetch(&self, sha: &str) -> Result<Vec<u8>, ClusterJobsError> {
        let holders = self.holders.live_holders(sha).await?;
        let mut tried = Vec::new();
        for holder in holders.iter().filter(|h| h.node_id != self.node_id) {
            let url = format!(
                "{}/v1/cluster/modules/{sha}",
                holder.url.trim_end_matches('/')
            );
            match self.get(&url).await {
                Ok(bytes) => match check_module(sha, &bytes) {
                    Ok(()) => {
                        self.bytes_fetched
                            .fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::Relaxed);
                        return Ok(bytes);
                    }
                    Err(e) => tried.push(format!("{}: {e}", holder.node_id)),
                },
                Err(why) => tried.push(format!("{} ({url}): {why}", holder.node_id)),
            }
        }
        let reason = if tried.is_empty() {
            "no live node holds it (its holders are down, or none announced it)".to_owned()
        } else {
            tried.join("; ")
        };
        Err(ClusterJobsError::Fetch {
            sha: sha.to_owned(),
            reason,
        })
    }

    async fn get(&self, url: &str) -> Result<Vec<u8>, String> {
        let mut request = self.http.get(url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let answer = request.send().await.map_err(|e| e.to_string())?;
        let status = answer.status();
        if !status.is_success() {
            let body = answer.text().await.unwrap_or_default();
            return Err(format!("HTTP {status}: {body}"));
        }
        Ok(answer.bytes().await.map_err(|e| e.to_string())?.to_vec())
    }
}
