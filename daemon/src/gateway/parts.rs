//! The parts stream (`GET /v1/cluster/parts?from=E`, NDJSON): every result
//! record of every job from epoch E as it is stored on this node (the
//! "parts" a gateway merges), first from storage, then live, with
//! `{"type":"closed","through":W}` lines whenever this node's closure
//! moves and at least every second.
//!
//! A `closed` line comes only after every record of an epoch at or before
//! it: the closure is read before the records published so far are
//! drained, and a record is published before its commit is acknowledged,
//! which comes before the closure can pass its epoch. A reader that falls
//! too far behind gets an `end` line and resumes from its last closure.

use std::time::Duration;

use base64::Engine;
use epochd_jobs::ErrorKind;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc, watch};

use crate::results::{Outcome, ResultRecord, Results};

/// Records read from storage at a time while a stream catches up.
const CATCH_UP_PAGE: usize = 512;

/// A `closed` line goes out at least this often, so a reader tells a quiet
/// node from a dead connection.
pub const CLOSED_EVERY: Duration = Duration::from_secs(1);

/// A failed run, on the wire.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartError {
    /// Its kind.
    pub kind: ErrorKind,
    /// What happened.
    pub message: String,
}

/// One line of a parts stream.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PartsLine {
    /// A result record of this node.
    Part {
        /// The node that stored it.
        node: String,
        /// Its job.
        job: String,
        /// Its epoch.
        epoch: u64,
        /// Its dc.
        dc: String,
        /// Its commit's seq.
        seq: u32,
        /// `ok` or `error`.
        status: String,
        /// The result's bytes, standard base64 (ok runs).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        result_base64: Option<String>,
        /// Why the run failed (error runs).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<PartError>,
        /// Wall time of the run, microseconds.
        wall_us: u64,
        /// CPU time of the run, microseconds.
        cpu_us: u64,
        /// When it was stored, unix ms.
        stored_at_ms: u64,
        /// When its commit was made, unix ms.
        committed_at_ms: u64,
    },
    /// The node will produce no more primary results for epochs up to
    /// `through`.
    Closed {
        /// The newest closed epoch.
        through: u64,
    },
    /// The stream ends; resume from `resume_from`.
    End {
        /// Why.
        reason: String,
        /// Where to resume.
        resume_from: u64,
    },
}

impl PartsLine {
    /// A record of `node` as a part line.
    pub fn part(node: &str, r: &ResultRecord) -> PartsLine {
        let (status, result_base64, error) = match &r.outcome {
            Outcome::Ok { result } => (
                "ok",
                Some(base64::engine::general_purpose::STANDARD.encode(result)),
                None,
            ),
            Outcome::Error { kind, message } => (
                "error",
                None,
                Some(PartError {
                    kind: *kind,
                    message: message.clone(),
                }),
            ),
        };
        PartsLine::Part {
            node: node.to_owned(),
            job: r.job.clone(),
            epoch: r.epoch,
            dc: r.dc.clone(),
            seq: r.seq,
            status: status.into(),
            result_base64,
            error,
            wall_us: r.wall_us,
            cpu_us: r.cpu_us,
            stored_at_ms: r.stored_at_ms,
            committed_at_ms: r.committed_at_ms,
        }
    }

    /// The line as NDJSON.
    pub fn ndjson(&self) -> String {
        let mut line = serde_json::to_string(self).expect("a parts line serialises");
        line.push('\n');
        line
    }
}

/// A part line back into (node, record); `None` for other lines or a part
/// whose bytes do not decode.
pub fn record_of(line: PartsLine) -> Option<(String, ResultRecord)> {
    let PartsLine::Part {
        node,
        job,
        epoch,
        dc,
        seq,
        result_base64,
        error,
        wall_us,
        cpu_us,
        stored_at_ms,
        committed_at_ms,
        ..
    } = line
    else {
        return None;
    };
    let outcome = match (result_base64, error) {
        (_, Some(e)) => Outcome::Error {
            kind: e.kind,
            message: e.message,
        },
        (Some(b), None) => Outcome::Ok {
            result: base64::engine::general_purpose::STANDARD.decode(b).ok()?,
        },
        (None, None) => return None,
    };
    Some((
        node,
        ResultRecord {
            job,
            epoch,
            dc,
            seq,
            outcome,
            wall_us,
            cpu_us,
            stored_at_ms,
            committed_at_ms,
            logs: Vec::new(),
            logs_dropped: 0,
        },
    ))
}

/// Writes a parts stream into `tx` (one NDJSON line per item) until the
/// reader goes, falls behind, or `stopping` turns true.
pub async fn feed(
    results: Results,
    mut closure: watch::Receiver<u64>,
    node: String,
    from: u64,
    tx: mpsc::Sender<String>,
    mut stopping: watch::Receiver<bool>,
) {
    // Subscribed before the catch-up reads storage: a record stored in
    // between is in one or the other (or both: a reader keeps one per key).
    let mut live = results.subscribe();
    let mut after: Option<Vec<u8>> = None;
    loop {
        let (r, a) = (results.clone(), after.clone());
        let page =
            tokio::task::spawn_blocking(move || r.page(from, a.as_deref(), CATCH_UP_PAGE)).await;
        let (records, last) = match page {
            Ok(Ok(page)) => page,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "a parts stream could not read stored results");
                let _ = tx.send(end("error", from)).await;
                return;
            }
            Err(_) => return,
        };
        for r in &records {
            if tx.send(PartsLine::part(&node, r).ndjson()).await.is_err() {
                return;
            }
        }
        match last {
            Some(last) if records.len() == CATCH_UP_PAGE => after = Some(last),
            _ => break,
        }
    }
    let mut said: Option<u64> = None;
    let mut every = tokio::time::interval(CLOSED_EVERY);
    loop {
        tokio::select! {
            got = live.recv() => match got {
                Ok(r) => {
                    if r.epoch >= from && tx.send(PartsLine::part(&node, &r).ndjson()).await.is_err() {
                        return;
                    }
                    continue;
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let _ = tx.send(end("lagging", resume(said, from))).await;
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = closure.changed() => {}
            _ = every.tick() => {}
            () = tx.closed() => return,
            _ = stopping.changed() => {
                let _ = tx.send(end("shutting_down", resume(said, from))).await;
                return;
            }
        }
        // The closure first, then every record published before it.
        let through = *closure.borrow_and_update();
        loop {
            match live.try_recv() {
                Ok(r) => {
                    if r.epoch >= from
                        && tx.send(PartsLine::part(&node, &r).ndjson()).await.is_err()
                    {
                        return;
                    }
                }
                Err(broadcast::error::TryRecvError::Empty) => break,
                Err(broadcast::error::TryRecvError::Lagged(_)) => {
                    let _ = tx.send(end("lagging", resume(said, from))).await;
                    return;
                }
                Err(broadcast::error::TryRecvError::Closed) => return,
            }
        }
        if tx
            .send(PartsLine::Closed { through }.ndjson())
            .await
            .is_err()
        {
            return;
        }
        said = Some(through);
    }
}

fn resume(said: Option<u64>, from: u64) -> u64 {
    said.map_or(from, |w| w + 1).max(from)
}

fn end(reason: &str, resume_from: u64) -> String {
    PartsLine::End {
        reason: reason.into(),
        resume_from,
    }
    .ndjson()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_goes_over_the_wire_and_back_whole() {
        let r = ResultRecord::ok_for_test("count", 7, "ams4", &[0, 1, 255]);
        let line = PartsLine::part("n1", &r).ndjson();
        let back: PartsLine = serde_json::from_str(line.trim_end()).unwrap();
        let (node, got) = record_of(back).unwrap();
        assert_eq!(node, "n1");
        assert_eq!(got, r);
        let closed: PartsLine = serde_json::from_str(r#"{"type":"closed","through":9}"#).unwrap();
        assert!(matches!(closed, PartsLine::Closed { through: 9 }));
    }
}
