//! What the harness asks of a node's API: membership, job submission and
//! deletion.

use std::time::Duration;

use anyhow::{ensure, Context as _, Result};
use epochd_store::clock::now_ms;

/// Waits until every node lists all of them live.
pub async fn wait_members(client: &reqwest::Client, urls: &[String], token: &str) -> Result<()> {
    let deadline = now_ms() + 60_000;
    for url in urls {
        loop {
            let live = match client
                .get(format!("{url}/v1/cluster"))
                .bearer_auth(token)
                .send()
                .await
            {
                Ok(a) => a
                    .json::<serde_json::Value>()
                    .await
                    .ok()
                    .and_then(|v| {
                        v["nodes"]
                            .as_array()
                            .map(|n| n.iter().filter(|x| x["state"] == "live").count())
                    })
                    .unwrap_or(0),
                Err(_) => 0,
            };
            if live == urls.len() {
                break;
            }
            ensure!(
                now_ms() < deadline,
                "{url}: not every node joined within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}

/// `POST /v1/jobs`: `wasm` as `name`, the default manifest.
pub async fn submit(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    name: &str,
    wasm: &std::path::Path,
) -> Result<()> {
    let bytes = std::fs::read(wasm)
        .with_context(|| format!("{}: build the jobs first (wasm-jobs/build)", wasm.display()))?;
    let manifest = serde_json::json!({ "name": name }).to_string();
    let form = reqwest::multipart::Form::new()
        .text("manifest", manifest)
        .part("wasm", reqwest::multipart::Part::bytes(bytes));
    let answer = client
        .post(format!("{url}/v1/jobs"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await?;
    ensure!(
        answer.status().is_success(),
        "job {name} refused: {}",
        answer.text().await?
    );
    Ok(())
}

/// Waits until every node lists at least `jobs` jobs.
pub async fn wait_jobs(
    client: &reqwest::Client,
    urls: &[String],
    token: &str,
    jobs: usize,
) -> Result<()> {
    let deadline = now_ms() + 120_000;
    for url in urls {
        loop {
            let n = match client
                .get(format!("{url}/v1/jobs"))
                .bearer_auth(token)
                .send()
                .await
            {
                Ok(a) => a
                    .json::<serde_json::Value>()
                    .await
                    .ok()
                    .and_then(|v| v["jobs"].as_array().map(Vec::len))
                    .unwrap_or(0),
                Err(_) => 0,
            };
            if n >= jobs {
                break;
            }
            ensure!(
                now_ms() < deadline,
                "{url}: {n} of {jobs} jobs arrived within 120 s"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    Ok(())
}

/// `DELETE /v1/jobs/{name}` of each job (a real cluster keeps no jobs of a
/// run after it); a job already gone is fine.
pub async fn delete_jobs(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    names: &[String],
) -> Result<()> {
    for name in names {
        let answer = client
            .delete(format!("{url}/v1/jobs/{name}"))
            .bearer_auth(token)
            .timeout(Duration::from_secs(10))
            .send()
            .await?;
        ensure!(
            answer.status().is_success() || answer.status() == reqwest::StatusCode::NOT_FOUND,
            "deleting job {name}: {}",
            answer.text().await?
        );
    }
    Ok(())
}
