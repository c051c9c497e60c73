//! What every subscriber must have received: each epoch of its job once, in order,
//! with no gap, the same bytes as every other subscriber of the job, and every
//! epoch of the measured window (unless storage says the epoch has no results).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::subscriber::Record;

/// Per job: every stored epoch of the span the subscribers saw, with how many
/// results storage has for it (every dc and seq, late ones included).
pub type Stored = BTreeMap<u64, usize>;

/// The measured epochs: `from..to` (unix seconds).
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// First measured epoch.
    pub from: u64,
    /// One past the last.
    pub to: u64,
}

impl Window {
    /// Whether `epoch` is measured.
    pub fn contains(self, epoch: u64) -> bool {
        (self.from..self.to).contains(&epoch)
    }
}

/// What the checks found for one job.
#[derive(Debug, Default)]
pub struct JobCheck {
    /// Subscribers of the job.
    pub subscribers: usize,
    /// Measured epochs every subscriber received.
    pub epochs: BTreeSet<u64>,
    /// Measured epochs storage has no result for (not sent, rightly).
    pub empty: Vec<u64>,
    /// Measured epochs whose event held fewer results than storage has now (the
    /// rest came as `late` events).
    pub partial: Vec<(u64, usize, usize)>,
    /// Results per measured epoch event, smallest and largest; and dcs likewise.
    pub results: (usize, usize),
    /// Distinct dcs per measured epoch event, smallest and largest.
    pub dcs: (usize, usize),
}

/// Every finding: violations fail the benchmark.
#[derive(Debug, Default)]
pub struct Checks {
    /// Per job.
    pub jobs: BTreeMap<String, JobCheck>,
    /// What broke the requirement.
    pub violations: Vec<String>,
}

/// Runs every check.
pub fn check(records: &[Record], stored: &HashMap<String, Stored>, window: Window) -> Checks {
    let mut checks = Checks::default();
    let mut by_job: BTreeMap<&str, Vec<&Record>> = BTreeMap::new();
    for r in records {
        by_job.entry(&r.job).or_default().push(r);
    }
    for (job, subs) in by_job {
        let empty_stored = Stored::new();
        let stored = stored.get(job).unwrap_or(&empty_stored);
        let mut jc = JobCheck {
            subscribers: subs.len(),
            results: (usize::MAX, 0),
            dcs: (usize::MAX, 0),
            ..JobCheck::default()
        };
        jc.empty = (window.from..window.to)
            .filter(|e| !stored.contains_key(e))
            .collect();
        // The hash of each epoch's data, as the first subscriber to have it saw it.
        let mut hashes: BTreeMap<u64, (u64, usize)> = BTreeMap::new();
        let mut reference: Option<(usize, BTreeSet<u64>)> = None;
        for sub in &subs {
            let v = &mut checks.violations;
            let who = format!("subscriber {} ({job})", sub.id);
            let seen: Vec<u64> = sub.deliveries.iter().map(|d| d.epoch).collect();
            for pair in seen.windows(2) {
                if pair[1] == pair[0] {
                    v.push(format!("{who}: epoch {} twice in a row", pair[0]));
                } else if pair[1] < pair[0] {
                    v.push(format!(
                        "{who}: epoch {} after epoch {} (out of order)",
                        pair[1], pair[0]
                    ));
                }
            }
            let set: BTreeSet<u64> = seen.iter().copied().collect();
            if set.len() != seen.len() {
                v.push(format!(
                    "{who}: {} duplicate epoch events",
                    seen.len() - set.len()
                ));
            }
            let (Some(&first), Some(&last)) = (set.first(), set.last()) else {
                v.push(format!("{who}: received no epoch at all"));
                continue;
            };
            // No gap: every stored epoch between its first and last.
            let missing: Vec<u64> = stored
                .range(first..=last)
                .map(|(&e, _)| e)
                .filter(|e| !set.contains(e))
                .collect();
            if !missing.is_empty() {
                v.push(format!(
                    "{who}: {} epochs with stored results never arrived between {first} and \
                     {last}: {}",
                    missing.len(),
                    list(&missing)
                ));
            }
            let unknown: Vec<u64> = set
                .iter()
                .copied()
                .filter(|e| !stored.contains_key(e))
                .collect();
            if !unknown.is_empty() {
                v.push(format!(
                    "{who}: received epochs storage has no results for: {}",
                    list(&unknown)
                ));
            }
            // The whole window.
            if first > window.from || last + 1 < window.to {
                v.push(format!(
                    "{who}: saw epochs {first}..={last}, which does not cover the measured \
                     window {}..={}",
                    window.from,
                    window.to - 1
                ));
            }
            let in_window: BTreeSet<u64> = set
                .iter()
                .copied()
                .filter(|&e| window.contains(e))
                .collect();
            match &reference {
                None => reference = Some((sub.id, in_window.clone())),
                Some((other, theirs)) if *theirs != in_window => v.push(format!(
                    "{who}: measured epochs differ from subscriber {other}'s: only here {}; \
                     only there {}",
                    list(&in_window.difference(theirs).copied().collect::<Vec<_>>()),
                    list(&theirs.difference(&in_window).copied().collect::<Vec<_>>()),
                )),
                Some(_) => {}
            }
            // The same bytes as every other subscriber.
            for d in &sub.deliveries {
                match hashes.get(&d.epoch) {
                    None => {
                        hashes.insert(d.epoch, (d.hash, sub.id));
                    }
                    Some(&(hash, other)) if hash != d.hash => v.push(format!(
                        "{who}: epoch {} differs from subscriber {other}'s copy",
                        d.epoch
                    )),
                    Some(_) => {}
                }
                if window.contains(d.epoch) {
                    jc.results.0 = jc.results.0.min(d.results);
                    jc.results.1 = jc.results.1.max(d.results);
                    jc.dcs.0 = jc.dcs.0.min(d.dcs);
                    jc.dcs.1 = jc.dcs.1.max(d.dcs);
                }
            }
        }
        jc.epochs = reference.map(|(_, set)| set).unwrap_or_default();
        // Epochs whose event had fewer results than storage has: per the first
        // subscriber's copy (every copy is the same bytes, checked above).
        if let Some(sub) = subs.first() {
            for d in sub.deliveries.iter().filter(|d| window.contains(d.epoch)) {
                let now = stored.get(&d.epoch).copied().unwrap_or(0);
                if d.results < now {
                    jc.partial.push((d.epoch, d.results, now));
                }
            }
        }
        if jc.results.0 == usize::MAX {
            jc.results.0 = 0;
            jc.dcs.0 = 0;
        }
        checks.jobs.insert(job.to_owned(), jc);
    }
    checks
}

/// At most 10 epochs, then how many more.
fn list(epochs: &[u64]) -> String {
    let shown: Vec<String> = epochs.iter().take(10).map(u64::to_string).collect();
    let more = epochs.len().saturating_sub(10);
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else if shown.is_empty() {
        "none".into()
    } else {
        shown.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subscriber::Delivery;

    fn sub(id: usize, epochs: &[u64]) -> Record {
        Record {
            id,
            job: "count".into(),
            deliveries: epochs
                .iter()
                .map(|&epoch| Delivery {
                    epoch,
                    received_ms: 0.0,
                    committed_ms: 0,
                    emitted_ms: 0,
                    first_commit_ms: 0,
                    stored_ms: 0,
                    results: 4,
                    dcs: 4,
                    hash: epoch,
                })
                .collect(),
            ..Record::default()
        }
    }

    fn stored(epochs: impl IntoIterator<Item = u64>) -> HashMap<String, Stored> {
        HashMap::from([("count".into(), epochs.into_iter().map(|e| (e, 4)).collect())])
    }

    const W: Window = Window { from: 10, to: 14 };

    #[test]
    fn complete_ordered_streams_pass() {
        let records = [sub(0, &[9, 10, 11, 12, 13, 14]), sub(1, &[10, 11, 12, 13])];
        let c = check(&records, &stored(8..=15), W);
        assert!(c.violations.is_empty(), "{:?}", c.violations);
        assert_eq!(c.jobs["count"].epochs.len(), 4);
    }

    #[test]
    fn an_epoch_with_no_results_is_no_gap() {
        let records = [sub(0, &[10, 11, 13])];
        let c = check(&records, &stored([10, 11, 13]), W);
        assert!(c.violations.is_empty(), "{:?}", c.violations);
        assert_eq!(c.jobs["count"].empty, vec![12]);
    }

    #[test]
    fn gaps_duplicates_disorder_and_short_coverage_are_violations() {
        let c = check(&[sub(0, &[10, 11, 13])], &stored(10..=13), W);
        assert_eq!(c.violations.len(), 1, "{:?}", c.violations);
        assert!(c.violations[0].contains("never arrived"));
        let c = check(&[sub(0, &[10, 11, 11, 12, 13])], &stored(10..=13), W);
        assert!(c.violations.iter().any(|v| v.contains("twice")));
        let c = check(&[sub(0, &[10, 12, 11, 13])], &stored(10..=13), W);
        assert!(c.violations.iter().any(|v| v.contains("out of order")));
        let c = check(&[sub(0, &[11, 12, 13])], &stored(10..=13), W);
        assert!(c.violations.iter().any(|v| v.contains("does not cover")));
    }

    #[test]
    fn subscribers_must_agree() {
        let mut other = sub(1, &[10, 11, 12, 13]);
        other.deliveries[2].hash = 99;
        let c = check(&[sub(0, &[10, 11, 12, 13]), other], &stored(10..=13), W);
        assert!(c.violations.iter().any(|v| v.contains("differs")));
    }
}
