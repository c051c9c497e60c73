//! `/metrics` in Prometheus text format.

use std::fmt::Write;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::AppState;

/// Store counters and gauges, then the hook dispatcher's.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let store = state.store.clone();
    let (stats, disk) = tokio::task::spawn_blocking(move || (store.stats(), store.disk_usage()))
        .await
        .expect("metrics task does not panic");
    let mut out = String::new();
    let rows: [(&str, &str, &str, u64); 14] = [
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
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    }
    if let Some(hooks) = &state.hooks {
        hooks.snapshot().write_prometheus(&mut out);
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}
