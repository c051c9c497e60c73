//! Containers: maps whose keys vary from event to event, and arrays.

use std::ops::Range;

use crate::buffer::BLOCK;
use crate::column::{BoolColumn, Column, FloatColumn, IntColumn, RawColumn, ScalarColumn};
use crate::host;
use crate::{ContainerKind, StrColumn, ValueType};

/// A map container (a map with more than 64 distinct keys under one path,
/// e.g. `experiments`) or a list container (every array).
///
/// Each holding row has a run of *entries*; the entries' keys (maps) and
/// values are columns over the entries, in which "row" means entry number.
/// Entries of the `i`-th holding row are `offsets[i]..offsets[i + 1]`.
///
/// ```no_run
/// # fn f(epoch: &epochd_job::Epoch) {
/// // Count events per experiment name.
/// let mut per_key = std::collections::HashMap::<Vec<u8>, u64>::new();
/// if let Some(experiments) = epoch.map("experiments") {
///     let keys = experiments.keys().expect("a map has keys");
///     keys.for_each(|_entry, key| *per_key.entry(key.to_vec()).or_default() += 1);
/// }
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Container {
    handle: i32,
    kind: ContainerKind,
    len: u32,
}

impl Container {
    pub(crate) fn find(path: &str, kind: ContainerKind) -> Option<Container> {
        let h = host::container(path, kind as i32);
        if h == host::NOT_FOUND {
            return None;
        }
        let handle = host::expect("container", h) as i32;
        let len = host::expect("container_len", host::container_len(handle));
        Some(Container { handle, kind, len })
    }

    /// A map or a list.
    pub fn kind(&self) -> ContainerKind {
        self.kind
    }

    /// The number of rows holding the container.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Whether no row holds it.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The raw ABI handle, for calls through `epochd-job-sys`.
    pub fn handle(&self) -> i32 {
        self.handle
    }

    fn read_all(&self, call: &str, n: usize, f: fn(i32, u32, &mut [u32]) -> i32) -> Vec<u32> {
        let mut out = vec![0u32; n];
        let mut start = 0usize;
        while start < n {
            let end = (start + BLOCK).min(n);
            let got = (host::expect(call, f(self.handle, start as u32, &mut out[start..end]))
                as usize)
                .min(end - start);
            if got == 0 {
                out.truncate(start);
                break;
            }
            start += got;
        }
        out
    }

    /// The holding rows, ascending.
    pub fn rows(&self) -> Vec<u32> {
        self.read_all("container_rows", self.len as usize, host::container_rows)
    }

    /// The `len + 1` entry offsets.
    pub fn offsets(&self) -> Vec<u32> {
        self.read_all(
            "container_offsets",
            self.len as usize + 1,
            host::container_offsets,
        )
    }

    /// The number of entries (over all holding rows): the space of the key
    /// and value columns.
    pub fn entries(&self) -> u32 {
        let mut last = [0u32];
        let n = host::expect(
            "container_offsets",
            host::container_offsets(self.handle, self.len, &mut last),
        );
        if n == 1 {
            last[0]
        } else {
            0
        }
    }

    /// Every `(holding row, its entries)`, in row order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, Range<u32>)> {
        let rows = self.rows();
        let offsets = self.offsets();
        rows.into_iter().enumerate().map(move |(i, row)| {
            (
                row,
                offsets[i]..offsets.get(i + 1).copied().unwrap_or(offsets[i]),
            )
        })
    }

    /// The entries of `row`, if it holds the container: a binary search over
    /// the holding rows, about log2(len) host calls.
    pub fn entries_of(&self, row: u32) -> Option<Range<u32>> {
        let (mut lo, mut hi) = (0u32, self.len);
        let mut one = [0u32];
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            host::expect(
                "container_rows",
                host::container_rows(self.handle, mid, &mut one),
            );
            match one[0].cmp(&row) {
                std::cmp::Ordering::Equal => {
                    let mut two = [0u32; 2];
                    host::expect(
                        "container_offsets",
                        host::container_offsets(self.handle, mid, &mut two),
                    );
                    return Some(two[0]..two[1]);
                }
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
            }
        }
        None
    }

    /// A map's keys: a dense string column over the entries. `None` for a
    /// list.
    pub fn keys(&self) -> Option<StrColumn> {
        if self.kind != ContainerKind::Map {
            return None;
        }
        let h = host::expect("container_keys", host::container_keys(self.handle)) as i32;
        Some(StrColumn::new(Column::from_handle(h, ValueType::Str)))
    }

    /// The entries' values of type `ty`, a column over the entries.
    pub fn values(&self, ty: ValueType) -> Option<Column> {
        let h = host::container_values(self.handle, ty.code());
        if h == host::NOT_FOUND {
            return None;
        }
        let h = host::expect("container_values", h) as i32;
        Some(Column::from_handle(h, ty))
    }

    /// The entries' `INT` values.
    pub fn int_values(&self) -> Option<IntColumn> {
        ScalarColumn::new(self.values(ValueType::Int)?)
    }

    /// The entries' `FLOAT` values.
    pub fn float_values(&self) -> Option<FloatColumn> {
        ScalarColumn::new(self.values(ValueType::Float)?)
    }

    /// The entries' `BOOL` values.
    pub fn bool_values(&self) -> Option<BoolColumn> {
        ScalarColumn::new(self.values(ValueType::Bool)?)
    }

    /// The entries' string values.
    pub fn str_values(&self) -> Option<StrColumn> {
        self.values(ValueType::Str).map(StrColumn::new)
    }

    /// The entries' MessagePack values (maps and arrays nested in entries).
    pub fn raw_values(&self) -> Option<RawColumn> {
        self.values(ValueType::Raw)?.as_raw()
    }
}
