//! An epoch's merged result: the job's own `merge` folded over the
//! epoch's successful results, in (dc, seq) order, so that every node and
//! every replay folds the same way (sdk/ABI.md, "Merging").

use epochd_decode::EpochMeta;

use super::{Outcome, ResultRecord};
use crate::registry::Job;

/// Folds `records` (one epoch of `job`, sorted by dc then seq) with the
/// job's `merge`. `None` when the job exports no merge or there is nothing
/// to merge; an error, said for a person, when a run of the epoch failed
/// (a merge of the others would look whole and not be) or the merge did.
pub fn merge_epoch(
    job: &Job,
    epoch: u64,
    records: &[ResultRecord],
) -> Option<Result<Vec<u8>, String>> {
    if !job.module.has_merge() {
        return None;
    }
    let mut ok = Vec::with_capacity(records.len());
    for r in records {
        match &r.outcome {
            Outcome::Ok { result } => ok.push(result),
            Outcome::Error { kind, .. } => {
                return Some(Err(format!(
                    "not merged: the run on dc {} (seq {}) failed ({kind})",
                    r.dc, r.seq
                )))
            }
        }
    }
    let (first, rest) = ok.split_first()?;
    let limits = job.manifest.limits();
    let meta = EpochMeta {
        epoch,
        dc: String::new(),
        seq: 0,
    };
    let mut acc = (*first).clone();
    for next in rest {
        let report = job
            .module
            .merge(&limits, &meta, &acc, next, job.manifest.config.as_bytes());
        match report.outcome {
            Ok(merged) => acc = merged,
            Err(e) => return Some(Err(format!("the job's merge failed: {e}"))),
        }
    }
    Some(Ok(acc))
}
