//! `/metrics` in Prometheus text format.

use std::fmt::Write;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use std::sync::atomic::Ordering;

use epochd_store::{DiskUsage, StoreHealth, StoreStatsSnapshot};

use super::AppState;
use crate::pipeline::Daemon;
use crate::registry::Job;

/// The store's counters and gauges, the hook dispatcher's, then the
/// daemon's, for whichever this process runs.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut out = String::new();
    if let Some(store) = state.store.clone() {
        let (stats, disk, health, free) = tokio::task::spawn_blocking(move || {
            (
                store.stats(),
                store.disk_usage(),
                store.health(),
                store.free_disk_bytes().ok(),
            )
        })
        .await
        .expect("metrics task does not panic");
        write_store(&mut out, &stats, &disk);
        write_store_health(&mut out, &health, free);
    }
    write_process(&mut out);
    write_connections(&mut out, &state.connections);
    write_bytes_out(&mut out, &state.bytes_out);
    if let Some(jobs) = &state.cluster_jobs {
        metric(
            &mut out,
            "epochd_cluster_module_bytes_fetched_total",
            "counter",
            "Bytes of job modules fetched from other nodes.",
            &[("", jobs.bytes_fetched() as f64)],
        );
    }
    if let Some(hooks) = &state.hooks {
        hooks.snapshot().write_prometheus(&mut out);
    }
    if let Some(daemon) = &state.daemon {
        write_daemon(&mut out, daemon);
    }
    if let Some(gateway) = &state.gateway {
        gateway.stats().write_prometheus(&mut out);
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}

fn write_store(out: &mut String, stats: &StoreStatsSnapshot, disk: &DiskUsage) {
    let rows: [(&str, &str, &str, u64); 16] = [
        (
            "epochd_store_events_accepted_total",
            "counter",
            "Events accepted by high-level ingest.",
            stats.events_accepted,
        ),
        (
            "epochd_store_bytes_accepted_total",
            "counter",
            "MessagePack bytes accepted by high-level ingest.",
            stats.bytes_accepted,
        ),
        (
            "epochd_store_events_too_old_total",
            "counter",
            "Events refused as older than retention.",
            stats.events_too_old,
        ),
        (
            "epochd_store_batches_refused_total",
            "counter",
            "Ingest batches refused (invalid or overloaded).",
            stats.batches_refused,
        ),
        (
            "epochd_store_writes_refused_total",
            "counter",
            "Writes refused on a passing fault (full disk or below the reserve, no file descriptor, I/O error).",
            stats.writes_refused,
        ),
        (
            "epochd_store_commit_faults_total",
            "counter",
            "Commits that failed on a passing fault and were tried again.",
            stats.commit_faults,
        ),
        (
            "epochd_store_commits_total",
            "counter",
            "Commits made by both ingest paths.",
            stats.commits,
        ),
        (
            "epochd_store_supplementary_commits_total",
            "counter",
            "Commits of late events.",
            stats.supplementary_commits,
        ),
        (
            "epochd_store_bytes_stored_total",
            "counter",
            "Compressed chunk bytes written by high-level ingest.",
            stats.bytes_stored,
        ),
        (
            "epochd_store_epochs_swept_total",
            "counter",
            "Commits deleted by retention.",
            stats.epochs_swept,
        ),
        (
            "epochd_store_open_epochs",
            "gauge",
            "Epochs accepting events, not sealed yet.",
            stats.open_epochs as u64,
        ),
        (
            "epochd_store_buffered_bytes",
            "gauge",
            "Bytes of events waiting to be sealed.",
            stats.buffered_bytes as u64,
        ),
        (
            "epochd_store_hook_backlog",
            "gauge",
            "Commit notices not yet acknowledged by the daemon.",
            stats.hook_backlog as u64,
        ),
        (
            "epochd_store_wal_segments",
            "gauge",
            "Write-ahead log segments on disk.",
            stats.wal_segments as u64,
        ),
        (
            "epochd_store_db_bytes",
            "gauge",
            "Bytes of the sled database on disk.",
            disk.db,
        ),
        (
            "epochd_store_chunk_file_bytes",
            "gauge",
            "Bytes of chunk files on disk.",
            disk.chunks,
        ),
    ];
    for (name, kind, help, value) in rows {
        metric(out, name, kind, help, &[("", value as f64)]);
    }
    metric(
        out,
        "epochd_store_idempotent_replays_total",
        "counter",
        "Batches answered as a repeat of an earlier one with the same Idempotency-Key (nothing stored).",
        &[("", stats.idempotent_replays as f64)],
    );
    metric(
        out,
        "epochd_store_idempotency_keys",
        "gauge",
        "Idempotency keys remembered (oldest forgotten first past the cap).",
        &[("", stats.idempotency_keys as f64)],
    );
}

/// The process's CPU time and peak memory, from `/proc/self`: what the
/// cluster benchmark reads of a node on a real cluster, where it cannot
/// put the node in a cgroup of its own.
fn write_process(out: &mut String) {
    if let Some(cpu) = super::proc_self::cpu_seconds() {
        metric(
            out,
            "epochd_process_cpu_seconds_total",
            "counter",
            "CPU time of the whole process (user and system, every thread, jobs included).",
            &[("", cpu)],
        );
    }
    if let Some(peak) = super::proc_self::peak_resident_bytes() {
        metric(
            out,
            "epochd_process_peak_resident_bytes",
            "gauge",
            "Most resident memory the process has held since it started (VmHWM).",
            &[("", peak as f64)],
        );
    }
}

/// Response body bytes, by who asked (docs/CLUSTER.md, "What crosses the
/// network").
fn write_bytes_out(out: &mut String, bytes: &super::BytesOut) {
    let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed) as f64;
    metric(
        out,
        "epochd_http_response_bytes_total",
        "counter",
        "Response body bytes served, by peer: client, node (another node of the cluster) or self.",
        &[
            ("peer=\"client\"", get(&bytes.client)),
            ("peer=\"node\"", get(&bytes.node)),
            ("peer=\"self\"", get(&bytes.own)),
        ],
    );
}

/// The HTTP server's connections and its cap.
fn write_connections(out: &mut String, c: &super::connections::ConnectionStats) {
    let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed) as f64;
    let rows = [
        (
            "epochd_http_connections_open",
            "gauge",
            "HTTP connections being served.",
            get(&c.open),
        ),
        (
            "epochd_http_connection_cap",
            "gauge",
            "HTTP connections served at most at once.",
            get(&c.cap),
        ),
        (
            "epochd_http_connections_accepted_total",
            "counter",
            "HTTP connections accepted.",
            get(&c.accepted),
        ),
        (
            "epochd_http_connections_refused_total",
            "counter",
            "HTTP connections answered 503 at the cap.",
            get(&c.refused),
        ),
        (
            "epochd_http_connections_evicted_total",
            "counter",
            "Silent HTTP connections closed at the cap to make room.",
            get(&c.evicted),
        ),
    ];
    for (name, kind, help, value) in rows {
        metric(out, name, kind, help, &[("", value)]);
    }
}

/// Whether the store takes writes: 1 for the state it is in (ok, degraded
/// with its fault, failed), and the free disk bytes under its data directory.
fn write_store_health(out: &mut String, health: &StoreHealth, free: Option<u64>) {
    let labels = match health {
        StoreHealth::Ok => "state=\"ok\"".to_owned(),
        StoreHealth::Degraded { fault, .. } => format!("state=\"degraded\",fault=\"{fault}\""),
        StoreHealth::Failed { .. } => "state=\"failed\"".to_owned(),
    };
    metric(
        out,
        "epochd_store_health",
        "gauge",
        "1 for the store's state: ok, degraded (a passing fault; it recovers by itself) or failed (needs a restart).",
        &[(&labels, 1.0)],
    );
    if let Some(free) = free {
        metric(
            out,
            "epochd_store_disk_free_bytes",
            "gauge",
            "Bytes free on the file system of the data directory.",
            &[("", free as f64)],
        );
    }
}

/// One metric: its help and type, then one sample per label set
/// (`labels` is the text inside the braces, or empty).
fn metric(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(&str, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (labels, value) in samples {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
}

fn write_daemon(out: &mut String, daemon: &Daemon) {
    let stats = &daemon.stats();
    metric(
        out,
        "epochd_daemon_commits_decoded_total",
        "counter",
        "Commits decoded.",
        &[("", stats.decoded.load(Ordering::Relaxed) as f64)],
    );
    metric(
        out,
        "epochd_daemon_decode_seconds_total",
        "counter",
        "Time spent decoding commits.",
        &[("", stats.decode_us.load(Ordering::Relaxed) as f64 / 1e6)],
    );
    metric(
        out,
        "epochd_daemon_decode_cpu_seconds_total",
        "counter",
        "CPU time of the threads decoding commits.",
        &[("", daemon.decode_cpu_time().as_secs_f64())],
    );
    metric(
        out,
        "epochd_daemon_decoded_bytes_held",
        "gauge",
        "Bytes of the decode budget held by decoded epochs (raw size of the commits in flight).",
        &[("", daemon.budget_held() as f64)],
    );
    let room = daemon.run_room();
    metric(
        out,
        "epochd_daemon_run_memory_held_bytes",
        "gauge",
        "Bytes of the run memory budget held by runs (the sum of the running jobs' memory caps).",
        &[("", room.memory_held() as f64)],
    );
    metric(
        out,
        "epochd_daemon_run_memory_budget_bytes",
        "gauge",
        "The run memory budget: the sum of the running jobs' memory caps stays within it.",
        &[("", room.memory_total() as f64)],
    );
    metric(
        out,
        "epochd_daemon_runs_in_progress",
        "gauge",
        "Runs holding a job thread (running, or about to).",
        &[("", room.running() as f64)],
    );
    metric(
        out,
        "epochd_daemon_newest_epoch",
        "gauge",
        "Epoch of the newest commit received.",
        &[("", daemon.newest_epoch() as f64)],
    );
    metric(
        out,
        "epochd_daemon_commits_waiting",
        "gauge",
        "Commits received and not yet done (acknowledged): waiting for a worker, in flight, or waiting to be tried again.",
        &[("", stats.waiting.load(Ordering::Relaxed) as f64)],
    );
    metric(
        out,
        "epochd_daemon_commits_in_flight",
        "gauge",
        "Commits being read, decoded or run now.",
        &[("", stats.in_flight.load(Ordering::Relaxed) as f64)],
    );
    metric(
        out,
        "epochd_daemon_commits_retrying",
        "gauge",
        "Commits waiting to be tried again after a failure that may pass (the store unreachable, an I/O error).",
        &[("", stats.retrying.load(Ordering::Relaxed) as f64)],
    );
    metric(
        out,
        "epochd_daemon_commits_corrupt_total",
        "counter",
        "Commits with a corrupt chunk, recorded as an error of kind corrupt for each matching job.",
        &[("", stats.corrupt.load(Ordering::Relaxed) as f64)],
    );
    metric(
        out,
        "epochd_daemon_subscribers",
        "gauge",
        "Live result streams (SSE and NDJSON).",
        &[("", daemon.streams().subscribers() as f64)],
    );
    let renders = daemon.streams().renders();
    metric(
        out,
        "epochd_daemon_epoch_renders_total",
        "counter",
        "Epochs of a job rendered for its streams and range queries (each runs the job's merge).",
        &[("", renders.rendered as f64)],
    );
    metric(
        out,
        "epochd_daemon_epoch_render_cache_hits_total",
        "counter",
        "Renderings served from the cache of rendered epochs instead (no merge run).",
        &[("", renders.cache_hits as f64)],
    );
    metric(
        out,
        "epochd_daemon_epoch_render_cache_bytes",
        "gauge",
        "Bytes (as JSON) of the rendered epochs cached.",
        &[("", renders.cache_bytes as f64)],
    );
    let jobs = daemon.registry().list();
    let labels: Vec<String> = jobs
        .iter()
        .map(|j| format!("job=\"{}\"", j.manifest.name))
        .collect();
    let per_job = |f: &dyn Fn(&Job) -> f64| -> Vec<(&str, f64)> {
        jobs.iter()
            .zip(&labels)
            .map(|(j, l)| (l.as_str(), f(j)))
            .collect()
    };
    metric(
        out,
        "epochd_job_runs_total",
        "counter",
        "Runs of each job (results and errors).",
        &per_job(&|j| j.stats.runs.load(Ordering::Relaxed) as f64),
    );
    metric(
        out,
        "epochd_job_errors_total",
        "counter",
        "Runs of each job that ended in an error.",
        &per_job(&|j| j.stats.errors.load(Ordering::Relaxed) as f64),
    );
    metric(
        out,
        "epochd_job_cpu_seconds_total",
        "counter",
        "CPU time of each job's runs.",
        &per_job(&|j| j.stats.cpu_us.load(Ordering::Relaxed) as f64 / 1e6),
    );
    metric(
        out,
        "epochd_job_paused",
        "gauge",
        "1 while the job is paused.",
        &per_job(&|j| f64::from(u8::from(j.paused().is_some()))),
    );
    metric(
        out,
        "epochd_job_runs_queued",
        "gauge",
        "Runs of each job waiting in its lane, the one in progress included.",
        &per_job(&|j| daemon.lane(&j.manifest.name).queued as f64),
    );
    metric(
        out,
        "epochd_job_lag_seconds",
        "gauge",
        "How long each job's oldest unfinished run has waited (a job that falls behind is paused).",
        &per_job(&|j| daemon.lane(&j.manifest.name).lag_secs),
    );
    metric(
        out,
        "epochd_job_results_refused_total",
        "counter",
        "Results of each job not stored because of its quotas (results_rate, results_quota).",
        &per_job(&|j| j.stats.results_refused.load(Ordering::Relaxed) as f64),
    );
    let stored = daemon.results().stored_bytes_by_job();
    metric(
        out,
        "epochd_job_results_stored_bytes",
        "gauge",
        "Bytes of each job's results stored (within results retention; the per-job quota bounds it).",
        &per_job(&|j| stored.get(&j.manifest.name).copied().unwrap_or(0) as f64),
    );
}
