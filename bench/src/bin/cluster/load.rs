//! The load generator: each second, the reference workload's events of that
//! second, each sent to a live node drawn at random (MessagePack, one batch
//! per node), a batch a node refuses or cannot take sent to the next live
//! node; and, for the measured epochs, the expected answers built from the
//! events the cluster acknowledged.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use epochd_store::clock::now_ms;
use epochd_workload::{Format, Workload, WorkloadConfig};

use crate::reference::Expected;

/// What the generator shares with the rest of the run.
#[derive(Default)]
pub struct Shared {
    /// Epoch → the expected answers (measured epochs only).
    pub expected: Mutex<BTreeMap<u64, Expected>>,
    /// Events acknowledged, in measured epochs.
    pub events: AtomicU64,
    /// Events no node acknowledged.
    pub lost: AtomicU64,
    /// Request body bytes acknowledged, in measured epochs.
    pub bytes: AtomicU64,
    /// The last epoch whose every batch has been answered.
    pub posted_through: AtomicU64,
}

/// The generator's settings.
pub struct Load {
    /// The nodes' client URLs.
    pub urls: Vec<String>,
    /// Which nodes take events now.
    pub alive: Arc<Vec<AtomicBool>>,
    /// Events per second.
    pub rate: usize,
    /// dcs of the reference mix used.
    pub dcs: usize,
    /// Seed.
    pub seed: u64,
    /// The bearer token.
    pub token: String,
}

/// The reference workload limited to its first `dcs` dcs.
pub fn workload(dcs: usize, seed: u64) -> Workload {
    let mut config = WorkloadConfig {
        seed,
        ..WorkloadConfig::default()
    };
    config.dcs.truncate(dcs.max(1));
    Workload::new(config)
}

impl Load {
    /// Sends epochs `from..to` in real time; expected answers for `measured`.
    pub async fn run(
        &self,
        client: &reqwest::Client,
        from: u64,
        to: u64,
        measured: std::ops::Range<u64>,
        shared: &Arc<Shared>,
    ) {
        let workload = Arc::new(workload(self.dcs, self.seed));
        let mut rng = 0x9e37_79b9_7f4a_7c15_u64 ^ self.seed;
        for epoch in from..to {
            let wait = (epoch * 1000).saturating_sub(now_ms());
            tokio::time::sleep(Duration::from_millis(wait)).await;
            let live: Vec<usize> = (0..self.urls.len())
                .filter(|i| self.alive[*i].load(Ordering::Relaxed))
                .collect();
            if live.is_empty() {
                shared.posted_through.store(epoch, Ordering::Relaxed);
                continue;
            }
            rng = rng.wrapping_add(epoch);
            let want = measured.contains(&epoch);
            let (bodies, events) = {
                let workload = workload.clone();
                let n = live.len();
                let rate = self.rate;
                tokio::task::spawn_blocking(move || split(&workload, epoch, rate, n, rng, want))
                    .await
                    .expect("the generator's thread")
            };
            let mut posts = tokio::task::JoinSet::new();
            for (k, (body, evs)) in bodies.into_iter().zip(events).enumerate() {
                let order: Vec<String> = (0..live.len())
                    .map(|j| self.urls[live[(k + j) % live.len()]].clone())
                    .collect();
                let client = client.clone();
                let token = self.token.clone();
                posts.spawn(async move {
                    let len = body.len() as u64;
                    let ok = post_somewhere(&client, &order, &token, body).await;
                    (ok, len, evs)
                });
            }
            while let Some(done) = posts.join_next().await {
                let Ok((ok, len, evs)) = done else { continue };
                if !ok {
                    shared.lost.fetch_add(evs.len() as u64, Ordering::Relaxed);
                    continue;
                }
                if want {
                    shared.events.fetch_add(evs.len() as u64, Ordering::Relaxed);
                    shared.bytes.fetch_add(len, Ordering::Relaxed);
                    let mut expected = shared.expected.lock().unwrap();
                    let e = expected.entry(epoch).or_default();
                    for (value, dc) in &evs {
                        e.add(value, dc);
                        e.saw_dc(dc);
                    }
                }
            }
            shared.posted_through.store(epoch, Ordering::Relaxed);
        }
    }
}

type Batch = Vec<(serde_json::Value, String)>;

/// One second's events split at random over `n` bodies; with each body its
/// events' JSON values and dcs when `want`.
fn split(
    workload: &Workload,
    epoch: u64,
    rate: usize,
    n: usize,
    mut rng: u64,
    want: bool,
) -> (Vec<Vec<u8>>, Vec<Batch>) {
    let mut bodies = vec![Vec::new(); n];
    let mut events: Vec<Batch> = vec![Vec::new(); n];
    let mut json = Vec::new();
    for event in workload.epoch(epoch, rate) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let to = (rng % n as u64) as usize;
        event.write(Format::MsgPack, &mut bodies[to]);
        if want {
            json.clear();
            event.write_json(&mut json);
            let value = serde_json::from_slice(&json).expect("the workload writes JSON");
            events[to].push((value, event.dc().to_owned()));
        }
    }
    (bodies, events)
}

/// Posts `body` to the first node of `order` that acknowledges it.
async fn post_somewhere(
    client: &reqwest::Client,
    order: &[String],
    token: &str,
    body: Vec<u8>,
) -> bool {
    for url in order {
        let answer = client
            .post(format!("{url}/v1/events"))
            .bearer_auth(token)
            .header("content-type", "application/msgpack")
            .timeout(Duration::from_secs(5))
            .body(body.clone())
            .send()
            .await;
        if answer.is_ok_and(|a| a.status().is_success()) {
            return true;
        }
    }
    false
}
