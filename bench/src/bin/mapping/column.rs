//! The scanned column: found once in the decoded epoch (the FlatBuffer), where
//! its values lie in the epoch's bytes, their sum, and the native scan (the
//! floor: a Rust loop over the values in the host's own mapping of the epoch).

use anyhow::{bail, ensure, Context, Result};
use epochd_bench::Stopwatch;
use epochd_decode::{SharedEpoch, ValueType};

use crate::measure::{self, Instance};

/// An `INT` column of the epoch.
#[derive(Debug, Clone)]
pub struct IntColumn {
    /// Its path.
    pub path: String,
    /// Number of values.
    pub count: usize,
    /// Byte offset of the first value in the epoch's FlatBuffer (8-byte aligned).
    pub offset: usize,
    /// The sum of the values (wrapping, as `i64.add`).
    pub sum: i64,
    /// Whether every row holds a value.
    pub dense: bool,
}

/// Where an `INT` column's values lie in the epoch's FlatBuffer: byte offset
/// (8-byte aligned) and number of values; and whether it is dense.
pub fn locate(epoch: &SharedEpoch, path: &str) -> Result<(usize, usize, bool)> {
    let view = epoch.view();
    let columns = view.columns().context("the epoch has no columns")?;
    let Some(column) = columns
        .iter()
        .find(|c| c.path() == Some(path) && c.type_() == ValueType::Int)
    else {
        bail!("the epoch has no INT column at {path:?}: pick another with --column");
    };
    let ints = column.ints().context("an INT column without values")?;
    let offset = ints.bytes().as_ptr() as usize - epoch.bytes().as_ptr() as usize;
    ensure!(
        offset % 8 == 0,
        "the values of {path} are not 8-byte aligned"
    );
    Ok((offset, ints.len(), column.dense()))
}

impl IntColumn {
    /// Finds the `INT` column at `path`, and sums it.
    pub fn find(epoch: &SharedEpoch, path: &str) -> Result<IntColumn> {
        let (offset, count, dense) = locate(epoch, path)?;
        let sum = native_sum(&epoch.bytes()[offset..offset + count * 8]);
        Ok(IntColumn {
            path: path.to_string(),
            count,
            offset,
            sum,
            dense,
        })
    }

    /// Bytes of the values.
    pub fn bytes(&self) -> usize {
        self.count * 8
    }

    /// The values, in the host's own mapping of the epoch.
    pub fn values<'a>(&self, epoch: &'a SharedEpoch) -> &'a [u8] {
        &epoch.bytes()[self.offset..self.offset + self.bytes()]
    }
}

/// The wrapping sum of little-endian `i64`s.
pub fn native_sum(bytes: &[u8]) -> i64 {
    bytes
        .chunks_exact(8)
        .map(|v| i64::from_le_bytes(v.try_into().expect("8 bytes")))
        .fold(0i64, i64::wrapping_add)
}

/// The floor: one native scan of the values, timed like an instance (no setup).
pub fn native(epoch: &SharedEpoch, column: &IntColumn) -> Result<(Instance, i64)> {
    measure::instance(|sample| {
        let watch = Stopwatch::start();
        let sum = native_sum(std::hint::black_box(column.values(epoch)));
        sample.scan = watch.secs();
        Ok(sum)
    })
}
