//! What the harness asks of a node's API: membership, job submission and
//! deletion.

use std::time::Duration;

use anyhow::{ensure, Context as _, Result};
use epochd_store::clock::now_ms;

/// Waits until every node lists all of them live.
pub async fn wait_members(client: &reqwest::Client, urls: &[String], token: &str) -> Result<()> {
    let want = urls.len();
    wait_until(client, urls, token, "/v1/cluster", 60, |v| {
        let live = v["nodes"]
            .as_array()
            .map_or(0, |n| n.iter().filter(|x| x["state"] == "live").count());
        (live < want).then(|| format!("{live} of {want} nodes live"))
    })
    .await
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
    wait_until(client, urls, token, "/v1/jobs", 120, |v| {
        let n = v["jobs"].as_array().map_or(0, Vec::len);
        (n < jobs).then(|| format!("{n} of {jobs} jobs arrived"))
    })
    .await
}

/// Polls `GET {url}{path}` of each node until `short` finds nothing
/// missing in its answer (it says what is, otherwise), for `secs` at most.
async fn wait_until(
    client: &reqwest::Client,
    urls: &[String],
    token: &str,
    path: &str,
    secs: u64,
    short: impl Fn(&serde_json::Value) -> Option<String>,
) -> Result<()> {
    let deadline = now_ms() + secs * 1000;
    for url in urls {
        loop {
            let answer = match client
                .get(format!("{url}{path}"))
                .bearer_auth(token)
                .send()
                .await
            {
                Ok(a) => a.json::<serde_json::Value>().await.ok(),
                Err(_) => None,
            };
            let missing = match &answer {
                Some(v) => short(v),
                None => Some("no answer".into()),
            };
            let Some(missing) = missing else { break };
            ensure!(now_ms() < deadline, "{url}{path}: {missing} after {secs} s");
            tokio::time::sleep(Duration::from_millis(200)).await;
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
