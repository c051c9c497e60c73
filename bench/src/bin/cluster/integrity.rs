//! Each run's answers against the independent computation: the gateway's
//! versions (near-data, per-job decode) or the external consumers' own
//! answers, every (job, epoch) of the window; and the fault's timeline.

use std::collections::BTreeMap;

use epochd_bench::cluster::result::*;

use crate::external;
use crate::reference::Expected;
use crate::run::RunSpec;
use crate::subscribe::{self, Seen};

pub fn all_final(
    seen: &Seen,
    jobs: &[(String, String)],
    subs: usize,
    window: &std::ops::Range<u64>,
) -> bool {
    let seen = seen.lock().unwrap();
    jobs.iter().all(|(name, _)| {
        (0..subs).all(|s| {
            seen.get(&(name.clone(), s)).is_some_and(|epochs| {
                window.clone().all(|e| {
                    epochs
                        .get(&e)
                        .and_then(|v| v.last())
                        .is_some_and(|g| g.complete)
                })
            })
        })
    })
}

pub type Checked = (Integrity, Vec<f64>, Option<Timeline>);

pub fn gateway_integrity(
    jobs: &[(String, String)],
    spec: &RunSpec<'_>,
    expected: &mut BTreeMap<u64, Expected>,
    seen: &BTreeMap<(String, usize), BTreeMap<u64, Vec<subscribe::Got>>>,
    window: &std::ops::Range<u64>,
) -> Checked {
    let mut integrity = Integrity::default();
    let mut latency = Vec::new();
    let mut timeline = Timeline {
        faults: Vec::new(),
        job: jobs.first().map(|j| j.0.clone()).unwrap_or_default(),
        epochs: Vec::new(),
    };
    for (name, kind) in jobs {
        for s in 0..spec.subscribers.max(1) {
            let got = seen.get(&(name.clone(), s));
            for epoch in window.clone() {
                integrity.expected += 1;
                let versions: &[subscribe::Got] =
                    got.and_then(|g| g.get(&epoch)).map_or(&[], Vec::as_slice);
                let Some(want) = expected.get_mut(&epoch) else {
                    integrity.missing += 1;
                    continue;
                };
                // Each complete version checked once: `Some(verdict)`.
                let verdicts: Vec<Option<Result<(), String>>> = versions
                    .iter()
                    .map(|v| v.complete.then(|| want.check(kind, &v.merged)))
                    .collect();
                if versions.first().is_some_and(|v| !v.complete) {
                    integrity.partial += 1;
                    if versions.last().is_some_and(|v| v.complete) {
                        integrity.corrected += 1;
                    }
                }
                // A complete version must be right; a partial one must say
                // who is missing.
                for (v, verdict) in versions.iter().zip(&verdicts) {
                    let short = match verdict {
                        Some(verdict) => verdict.is_err(),
                        None => v.missing.is_empty(),
                    };
                    integrity.silently_short += u64::from(short);
                }
                match verdicts.iter().rposition(Option::is_some) {
                    None => integrity.missing += 1,
                    Some(last) => {
                        integrity.compared += 1;
                        if let Some(Err(why)) = &verdicts[last] {
                            integrity.mismatches += 1;
                            if integrity.examples.len() < 5 {
                                integrity
                                    .examples
                                    .push(format!("{name} epoch {epoch}: {why}"));
                            }
                        }
                        // Latency of epochs complete at once (a correction's
                        // time says when the node came back, not how fast).
                        if let [only] = versions {
                            latency.push(only.received_ms.saturating_sub(only.committed_ms) as f64);
                        }
                    }
                }
                if *name == timeline.job && s == 0 {
                    let final_matches = matches!(verdicts.last(), Some(Some(Ok(()))));
                    timeline.epochs.push(TimelineEpoch {
                        epoch,
                        versions: versions
                            .iter()
                            .map(|v| VersionSeen {
                                version: v.version,
                                complete: v.complete,
                                after_ms: v.received_ms as i64 - ((epoch + 1) * 1000) as i64,
                                parts_received: v.parts.0,
                                parts_expected: v.parts.1,
                                missing: v.missing.clone(),
                            })
                            .collect(),
                        final_matches,
                    });
                }
            }
        }
    }
    latency.sort_by(f64::total_cmp);
    (integrity, latency, Some(timeline))
}

pub fn external_integrity(
    jobs: &[(String, String)],
    expected: &mut BTreeMap<u64, Expected>,
    answers: &BTreeMap<String, BTreeMap<u64, external::Answer>>,
    window: &std::ops::Range<u64>,
) -> Checked {
    let mut integrity = Integrity::default();
    let mut latency = Vec::new();
    for (name, kind) in jobs {
        for epoch in window.clone() {
            integrity.expected += 1;
            let (Some(want), Some(answer)) = (
                expected.get(&epoch),
                answers.get(name).and_then(|a| a.get(&epoch)),
            ) else {
                integrity.missing += 1;
                continue;
            };
            integrity.compared += 1;
            let verdict = answer
                .summary
                .as_ref()
                .map_err(Clone::clone)
                .and_then(|s| want.check_summary(kind, s));
            if let Err(why) = verdict {
                integrity.mismatches += 1;
                if integrity.examples.len() < 5 {
                    integrity
                        .examples
                        .push(format!("{name} epoch {epoch}: {why}"));
                }
            }
            latency.push(answer.done_ms.saturating_sub((epoch + 1) * 1000) as f64);
        }
    }
    latency.sort_by(f64::total_cmp);
    (integrity, latency, None)
}
