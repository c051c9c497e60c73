//! Replaying the write-ahead log at open: every record after the highest
//! replay mark is parsed again and its events put back into the open
//! epochs, except those of an (epoch, dc) whose mark says they are already
//! committed; the idempotency keys in the records are remembered again.
//!
//! Guarantees: an event acknowledged before a crash is either committed
//! (its (epoch, dc) mark is at or past its record, and it is skipped) or
//! back in the open epochs, never both, so it is committed exactly once.
//! A record that does not parse, or a mark that cannot be read, fails the
//! open instead of dropping events.

use std::collections::HashMap;

use crate::batch::{parse_batch, BatchRules, Format};
use crate::clock;
use crate::config::StoreConfig;
use crate::error::StoreError;
use crate::idempotency::{split_record, Keys};
use crate::key::epoch_dc_prefix;
use crate::open_epochs::{EpochDc, OpenEpochs};
use crate::wal::{Lsn, Wal};

/// The highest WAL position any replay mark names (0 when none).
fn highest_mark(marks: &sled::Tree) -> Result<Lsn, StoreError> {
    let mut highest = 0;
    for value in marks.iter().values() {
        let value = value?;
        let lsn = value
            .as_ref()
            .try_into()
            .map(u64::from_be_bytes)
            .map_err(|_| {
                StoreError::Corrupt(format!("a WAL mark has {} bytes, not 8", value.len()))
            })?;
        highest = highest.max(lsn);
    }
    Ok(highest)
}

/// Opens the write-ahead log in `config.data_dir` and replays it into new
/// open epochs, skipping what `marks` says is committed, and adds the
/// idempotency keys of its records to `keys`.
pub(super) fn replay_wal(
    config: &StoreConfig,
    marks: &sled::Tree,
    keys: &Keys,
) -> Result<(Wal, OpenEpochs), StoreError> {
    let mut open = OpenEpochs::default();
    let replay_rules = BatchRules {
        default_dc: config.default_dc.clone(),
        max_event_bytes: usize::MAX,
        clock: None,
    };
    let mut mark_cache: HashMap<EpochDc, Lsn> = HashMap::new();
    let mut replayed = 0usize;
    let wal = Wal::open(
        &config.data_dir.join("wal"),
        config.wal_segment_bytes,
        highest_mark(marks)? + 1,
        |lsn, payload| {
            let (key, payload) = split_record(payload, lsn)?;
            if let Some(key) = key {
                keys.replayed(key, clock::now_secs());
            }
            let batch = parse_batch(payload, Format::MsgPack, &replay_rules).map_err(|r| {
                StoreError::Corrupt(format!(
                    "WAL record {lsn} does not parse: {}",
                    r.rejections
                        .first()
                        .map(ToString::to_string)
                        .unwrap_or_default()
                ))
            })?;
            let mut lookup_error = None;
            open.insert(&batch, lsn, config.chunk_target_bytes, |epoch, dc| {
                let mark = *mark_cache
                    .entry((epoch, dc.to_owned()))
                    .or_insert_with(|| match marks.get(epoch_dc_prefix(epoch, dc)) {
                        Ok(v) => v.map_or(0, |v| {
                            u64::from_be_bytes(v.as_ref().try_into().unwrap_or([0; 8]))
                        }),
                        Err(e) => {
                            lookup_error = Some(e);
                            0
                        }
                    });
                mark >= lsn
            });
            if let Some(e) = lookup_error {
                return Err(e.into());
            }
            replayed += batch.event_count();
            Ok(())
        },
    )?;
    if replayed > 0 {
        tracing::info!(
            events = replayed,
            open_epochs = open.len(),
            "replayed the write-ahead log"
        );
    }
    Ok((wal, open))
}
