//! Writing the merged epoch as a FlatBuffer (schema: sdk/schema/epoch.fbs)
//! straight into its sealed memfd: measured first, then laid out front to
//! back with [`Out`], each column concatenated from its chunks' parts in
//! place (see `flat.rs` for why).

use std::cell::RefCell;

use rustc_hash::FxHashMap;

use crate::chunk::{ColumnBuf, Kind, Packed, StrValues, Values, BOOL, FLOAT, INT, RAW, STR};
use crate::error::DecodeError;
use crate::flat::{fill_le, Field, Out};
use crate::merge::{ColumnParts, Merged, OutColumn, OutContainer, StrPlan};
use crate::schema::{Blobs, Column, Container, ContainerKind, Epoch, EPOCH_IDENTIFIER};
use crate::shared::SharedEpoch;

/// The layout version this module writes.
pub const LAYOUT_VERSION: u16 = 1;

/// FlatBuffers address their buffer with 32-bit signed offsets.
const MAX_EPOCH_BYTES: usize = i32::MAX as usize;

/// Which (epoch, dc, seq) a decoded epoch is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochMeta {
    /// Unix second.
    pub epoch: u64,
    /// Data center.
    pub dc: String,
    /// 0 = primary commit, 1.. = supplementary.
    pub seq: u32,
}

thread_local! {
    /// One scratch buffer per decoding thread, reused from epoch to epoch:
    /// fresh memory would be faulted in page by page on every decode.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Writes the epoch into a new sealed memfd.
pub(crate) fn write(meta: EpochMeta, merged: &Merged<'_>) -> Result<SharedEpoch, DecodeError> {
    SCRATCH.with(|scratch| write_with(meta, merged, &mut scratch.borrow_mut()))
}

/// Lays the epoch out in `scratch` (grown as needed, never cleared: every
/// byte is written), then copies it into a sealed memfd.
fn write_with(
    meta: EpochMeta,
    merged: &Merged<'_>,
    scratch: &mut Vec<u8>,
) -> Result<SharedEpoch, DecodeError> {
    let mut measure = Out::measure();
    epoch(&mut measure, &meta, merged);
    let len = measure.len();
    if len > MAX_EPOCH_BYTES {
        return Err(DecodeError::TooLarge(format!(
            "{len} bytes decoded; the format holds at most {MAX_EPOCH_BYTES} per commit"
        )));
    }
    if scratch.len() < len {
        scratch.resize(len, 0);
    }
    let mut out = Out::write_into(&mut scratch[..len]);
    epoch(&mut out, &meta, merged);
    debug_assert_eq!(
        out.len(),
        len,
        "the writing pass lays out what was measured"
    );
    SharedEpoch::new(meta, &scratch[..len])
}

fn epoch(out: &mut Out<'_>, meta: &EpochMeta, merged: &Merged<'_>) {
    let mut shared = SharedRows::default();
    out.header(EPOCH_IDENTIFIER);
    let (root, t) = out.table(&[
        Field {
            slot: Epoch::VT_VERSION,
            size: 2,
        },
        Field {
            slot: Epoch::VT_EPOCH,
            size: 8,
        },
        Field {
            slot: Epoch::VT_DC,
            size: 4,
        },
        Field {
            slot: Epoch::VT_SEQ,
            size: 4,
        },
        Field {
            slot: Epoch::VT_ROWS,
            size: 4,
        },
        Field {
            slot: Epoch::VT_COLUMNS,
            size: 4,
        },
        Field {
            slot: Epoch::VT_CONTAINERS,
            size: 4,
        },
    ]);
    out.root(root);
    out.scalar_at(t.field(0), LAYOUT_VERSION.to_le_bytes());
    out.scalar_at(t.field(1), meta.epoch.to_le_bytes());
    let dc = out.string(&meta.dc);
    out.offset_at(t.field(2), dc);
    out.scalar_at(t.field(3), meta.seq.to_le_bytes());
    out.scalar_at(t.field(4), merged.rows.to_le_bytes());
    let columns = out.offsets(merged.columns.len());
    out.offset_at(t.field(5), columns);
    for (i, c) in merged.columns.iter().enumerate() {
        let at = column(out, &mut shared, c);
        out.offset_at(columns + 4 + 4 * i, at);
    }
    let containers = out.offsets(merged.containers.len());
    out.offset_at(t.field(6), containers);
    for (i, c) in merged.containers.iter().enumerate() {
        let at = container(out, &mut shared, c);
        out.offset_at(containers + 4 + 4 * i, at);
    }
    shared.write(out);
}

/// The table fields a column has, by its kind and form.
fn column_fields(col: &OutColumn<'_>) -> Vec<Field> {
    let f = |slot| Field { slot, size: 4 };
    let mut fields = vec![
        f(Column::VT_PATH),
        Field {
            slot: Column::VT_TYPE_,
            size: 1,
        },
        Field {
            slot: Column::VT_DENSE,
            size: 1,
        },
    ];
    if !col.dense {
        fields.push(f(Column::VT_ROWS));
    }
    match (col.kind, &col.strs) {
        (INT, _) => fields.push(f(Column::VT_INTS)),
        (FLOAT, _) => fields.push(f(Column::VT_FLOATS)),
        (BOOL, _) => fields.push(f(Column::VT_BOOLS)),
        (STR, Some(StrPlan::Dict { .. })) => {
            fields.extend([f(Column::VT_IDS), f(Column::VT_DICT)]);
        }
        (STR | RAW, _) => fields.push(f(Column::VT_PLAIN)),
        _ => {}
    }
    fields
}

/// A column; returns its position.
fn column(out: &mut Out<'_>, shared: &mut SharedRows, col: &OutColumn<'_>) -> usize {
    let fields = column_fields(col);
    let (table, t) = out.table(&fields);
    out.scalar_at(t.field(1), [col.kind as u8]);
    out.scalar_at(t.field(2), [u8::from(col.dense)]);
    let path = out.string(&col.path);
    out.offset_at(t.field(0), path);
    // The offset fields after the fixed three, in `column_fields`' order.
    let mut slots = (3..fields.len()).map(|i| t.field(i));
    let mut slot = || {
        slots
            .next()
            .expect("column_fields lists every offset field")
    };
    if !col.dense {
        rows(out, shared, col, slot());
    }
    match (col.kind, &col.strs) {
        (INT, _) => {
            let at = numbers(
                out,
                col,
                |v| match v {
                    Values::Int(v) => Some(v),
                    _ => None,
                },
                i64::to_le_bytes,
            );
            out.offset_at(slot(), at);
        }
        (FLOAT, _) => {
            let at = numbers(
                out,
                col,
                |v| match v {
                    Values::Float(v) => Some(v),
                    _ => None,
                },
                f64::to_le_bytes,
            );
            out.offset_at(slot(), at);
        }
        (BOOL, _) => {
            let at = numbers(
                out,
                col,
                |v| match v {
                    Values::Bool(v) => Some(v),
                    _ => None,
                },
                u8::to_le_bytes,
            );
            out.offset_at(slot(), at);
        }
        (STR, Some(StrPlan::Dict { dict, remaps })) => {
            let ids = out.vector(col.count, 4, |dst| {
                let mut at = 0;
                for ((_, p), remap) in col.parts.iter().zip(remaps) {
                    let Values::Str(StrValues::Dict { ids, .. }) = &p.values else {
                        unreachable!("a dictionary plan has dictionary parts")
                    };
                    at += fill_le(
                        &mut dst[at..],
                        ids.iter().map(|id| remap[*id as usize]),
                        u32::to_le_bytes,
                    );
                }
            });
            out.offset_at(slot(), ids);
            let dict = dict_blobs(out, dict.strings());
            out.offset_at(slot(), dict);
        }
        (STR | RAW, _) => {
            let plain = plain_blobs(out, &col.parts);
            out.offset_at(slot(), plain);
        }
        _ => {}
    }
    table
}

/// Row vectors shared by several columns. Fields that only some kinds of
/// event have (all of a web event's fields, say) hold the same rows, and one
/// vector serves them all (FlatBuffers lets any number of offsets point at
/// one vector): a sixth of the reference epoch was such copies. Offsets only
/// point forward, so shared vectors are written after every table, and the
/// fields pointing at them are patched then.
#[derive(Default)]
struct SharedRows {
    /// Index into `vectors`, by the vector's runs of rows.
    index: FxHashMap<Runs, usize>,
    /// Each vector's runs and the fields pointing at it.
    vectors: Vec<(Runs, Vec<usize>)>,
}

/// Rows as runs: (first row, count) each.
type Runs = Vec<(u32, u32)>;

impl SharedRows {
    /// Points the field at `field` to the vector of these runs, once written.
    fn point(&mut self, runs: Runs, field: usize) {
        match self.index.get(&runs) {
            Some(i) => self.vectors[*i].1.push(field),
            None => {
                self.index.insert(runs.clone(), self.vectors.len());
                self.vectors.push((runs, vec![field]));
            }
        }
    }

    /// Writes every vector and patches the fields pointing at it.
    fn write(self, out: &mut Out<'_>) {
        for (runs, fields) in self.vectors {
            let count = runs.iter().map(|(_, n)| *n as usize).sum();
            let at = out.vector(count, 4, |dst| {
                let rows = runs.iter().flat_map(|(first, n)| *first..first + n);
                fill_le(dst, rows, u32::to_le_bytes);
            });
            for field in fields {
                out.offset_at(field, at);
            }
        }
    }
}

/// A sparse column's rows, for the offset field at `field`.
fn rows(out: &mut Out<'_>, shared: &mut SharedRows, col: &OutColumn<'_>, field: usize) {
    // A part whose rows run from its first row is one run; columns made of
    // runs alone share their vector (the others are rare).
    let runs: Option<Runs> = col
        .parts
        .iter()
        .map(|(base, p)| p.rows().is_none().then_some((*base, p.len)))
        .collect();
    if let Some(runs) = runs {
        shared.point(runs, field);
        return;
    }
    let at = out.vector(col.count, 4, |dst| {
        per_part(dst, 4, &col.parts, |d, base, p| match p.rows() {
            None => {
                fill_le(d, base..base + p.len, u32::to_le_bytes);
            }
            Some(rows) => {
                fill_le(d, rows.iter().map(|r| r + base), u32::to_le_bytes);
            }
        })
    });
    out.offset_at(field, at);
}

/// A vector of a numeric column's values, `W` bytes each, concatenated
/// from its parts; `pick` gives a part's values. Returns its position.
fn numbers<'a, T: Copy, const W: usize>(
    out: &mut Out<'_>,
    col: &OutColumn<'a>,
    pick: for<'v> fn(&'v Values<'a>) -> Option<&'v Vec<T>>,
    le: fn(T) -> [u8; W],
) -> usize {
    out.vector(col.count, W, |dst| {
        per_part(dst, W, &col.parts, |d, _, p| {
            let values = pick(&p.values).expect("parts of a column share its type");
            fill_le(d, values.iter().copied(), le);
        })
    })
}

/// Fills `dst` from each part in turn, `width` bytes per value.
fn per_part<'a>(
    dst: &mut [u8],
    width: usize,
    parts: &ColumnParts<'a>,
    mut fill: impl FnMut(&mut [u8], u32, &ColumnBuf<'a>),
) {
    let mut at = 0;
    for (base, part) in parts {
        let n = part.len as usize * width;
        fill(&mut dst[at..at + n], *base, part);
        at += n;
    }
}

/// A part's values as packed bytes, when they are kept so.
fn packed<'p>(part: &'p ColumnBuf<'_>) -> Option<&'p Packed> {
    match &part.values {
        Values::Str(StrValues::Plain(packed)) => Some(packed),
        _ => None,
    }
}

/// The `i`-th value of a string or raw part.
fn part_bytes<'p>(part: &'p ColumnBuf<'_>, i: usize) -> &'p [u8] {
    match &part.values {
        Values::Str(s) => s.get(i),
        Values::Raw(v) => v[i],
        _ => unreachable!("only string and raw columns are written as blobs"),
    }
}

/// The string or raw values of a column's parts, in full; returns the
/// Blobs table's position. Packed parts are copied whole.
fn plain_blobs(out: &mut Out<'_>, parts: &ColumnParts<'_>) -> usize {
    let total = parts
        .iter()
        .map(|(_, p)| match packed(p) {
            Some(packed) => packed.bytes.len(),
            None => (0..p.len as usize).map(|i| part_bytes(p, i).len()).sum(),
        })
        .sum();
    let count = parts.iter().map(|(_, p)| p.len as usize).sum();
    blobs(
        out,
        count,
        total,
        |dst| {
            let mut base = 0u32;
            let mut at = fill_le(dst, [0u32], u32::to_le_bytes);
            for (_, p) in parts {
                match packed(p) {
                    Some(packed) => {
                        let ends = packed.ends.iter().map(|e| e + base);
                        at += fill_le(&mut dst[at..], ends, u32::to_le_bytes);
                        base += packed.bytes.len() as u32;
                    }
                    None => {
                        let ends = (0..p.len as usize).map(|i| {
                            base += part_bytes(p, i).len() as u32;
                            base
                        });
                        at += fill_le(&mut dst[at..], ends, u32::to_le_bytes);
                    }
                }
            }
        },
        |dst| {
            let mut at = 0;
            for (_, p) in parts {
                match packed(p) {
                    Some(packed) => {
                        dst[at..at + packed.bytes.len()].copy_from_slice(&packed.bytes);
                        at += packed.bytes.len();
                    }
                    None => {
                        for i in 0..p.len as usize {
                            let s = part_bytes(p, i);
                            dst[at..at + s.len()].copy_from_slice(s);
                            at += s.len();
                        }
                    }
                }
            }
        },
    )
}

/// A dictionary's entries; returns the Blobs table's position.
fn dict_blobs(out: &mut Out<'_>, dict: &[&[u8]]) -> usize {
    let total = dict.iter().map(|s| s.len()).sum();
    blobs(
        out,
        dict.len(),
        total,
        |dst| {
            let mut end = 0u32;
            let ends = dict.iter().map(|s| {
                end += s.len() as u32;
                end
            });
            fill_le(dst, std::iter::once(0).chain(ends), u32::to_le_bytes);
        },
        |dst| {
            let mut at = 0;
            for s in dict {
                dst[at..at + s.len()].copy_from_slice(s);
                at += s.len();
            }
        },
    )
}

/// A Blobs table of `count` byte strings, `total` bytes in all: `offsets`
/// fills the `count + 1` offsets (from 0), `bytes` the bytes. Returns its
/// position.
fn blobs(
    out: &mut Out<'_>,
    count: usize,
    total: usize,
    offsets: impl FnOnce(&mut [u8]),
    bytes: impl FnOnce(&mut [u8]),
) -> usize {
    let (table, t) = out.table(&[
        Field {
            slot: Blobs::VT_OFFSETS,
            size: 4,
        },
        Field {
            slot: Blobs::VT_BYTES,
            size: 4,
        },
    ]);
    let at = out.vector(count + 1, 4, offsets);
    out.offset_at(t.field(0), at);
    let at = out.vector(total, 1, bytes);
    out.offset_at(t.field(1), at);
    table
}

/// A container; returns its position.
fn container(out: &mut Out<'_>, shared: &mut SharedRows, c: &OutContainer<'_>) -> usize {
    let f = |slot| Field { slot, size: 4 };
    let mut fields = vec![
        f(Container::VT_PATH),
        Field {
            slot: Container::VT_KIND,
            size: 1,
        },
        Field {
            slot: Container::VT_DENSE,
            size: 1,
        },
        f(Container::VT_OFFSETS),
        f(Container::VT_VALUES),
    ];
    if c.keys.is_some() {
        fields.push(f(Container::VT_KEYS));
    }
    if !c.dense {
        fields.push(f(Container::VT_ROWS));
    }
    let (table, t) = out.table(&fields);
    let kind = match c.kind {
        Kind::Map => ContainerKind::Map,
        Kind::List => ContainerKind::List,
    };
    out.scalar_at(t.field(1), [kind.0]);
    out.scalar_at(t.field(2), [u8::from(c.dense)]);
    let path = out.string(&c.path);
    out.offset_at(t.field(0), path);
    let offsets = out.vector(c.holders + 1, 4, |dst| {
        let ends = c
            .parts
            .iter()
            .flat_map(|p| p.offsets[1..].iter().map(|o| o + p.entry_base));
        fill_le(dst, std::iter::once(0).chain(ends), u32::to_le_bytes);
    });
    out.offset_at(t.field(3), offsets);
    let values = out.offsets(c.values.len());
    out.offset_at(t.field(4), values);
    for (i, v) in c.values.iter().enumerate() {
        let at = column(out, shared, v);
        out.offset_at(values + 4 + 4 * i, at);
    }
    let mut next = 5;
    if let Some(keys) = &c.keys {
        let at = column(out, shared, keys);
        out.offset_at(t.field(next), at);
        next += 1;
    }
    if !c.dense {
        let rows = out.vector(c.holders, 4, |dst| {
            let rows = c
                .parts
                .iter()
                .flat_map(|p| p.rows.iter().map(|r| r + p.row_base));
            fill_le(dst, rows, u32::to_le_bytes);
        });
        out.offset_at(t.field(next), rows);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::ChunkColumns;

    fn msgpack(events: &[serde_json::Value]) -> Vec<u8> {
        events
            .iter()
            .flat_map(|e| rmp_serde::to_vec_named(e).unwrap())
            .collect()
    }

    /// The scratch buffer is reused without clearing, so the writer must
    /// write every byte, padding included: whatever it held before, the
    /// epoch comes out the same.
    #[test]
    fn every_byte_is_written_whatever_the_scratch_held() {
        let chunks = [
            msgpack(&[
                serde_json::json!({"type": "WEB", "n": 1, "f": 0.5, "ok": true, "s": "a"}),
                serde_json::json!({"type": "WEB", "n": 2, "tags": ["x", "y"], "m": {}}),
            ]),
            msgpack(&[serde_json::json!({"type": "DB", "s": "bb", "n": null})]),
        ];
        let meta = EpochMeta {
            epoch: 7,
            dc: "dc1".into(),
            seq: 0,
        };
        let epoch_with = |fill: u8| {
            let decoded: Vec<ChunkColumns<'_>> = chunks
                .iter()
                .map(|c| ChunkColumns::decode(c).unwrap())
                .collect();
            let merged = crate::merge::merge(decoded).unwrap();
            let mut scratch = vec![fill; 1 << 16];
            write_with(meta.clone(), &merged, &mut scratch)
                .unwrap()
                .bytes()
                .to_vec()
        };
        let zeroes = epoch_with(0x00);
        assert!(zeroes.len() > 100);
        assert_eq!(zeroes, epoch_with(0xff));
        assert_eq!(zeroes, epoch_with(0x5a));
    }
}
