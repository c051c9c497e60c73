//! Merging the chunks' columns into the epoch's columns: rows renumbered
//! across chunks, dictionaries merged, and a map that became a container in
//! one chunk made a container in all of them.

use std::collections::BTreeMap;

use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::chunk::{ChunkColumns, ColumnBuf, ContainerBuf, Kind, StrValues, Values, STR, TYPES};
use crate::error::DecodeError;

/// Merged string values.
pub(crate) enum OutStrs<'a> {
    Dict { dict: Vec<&'a [u8]>, ids: Vec<u32> },
    Plain(Vec<&'a [u8]>),
}

/// Merged values of one column.
pub(crate) enum OutValues<'a> {
    Int(Vec<i64>),
    Float(Vec<f64>),
    Bool(Vec<u8>),
    Str(OutStrs<'a>),
    Null,
    Raw(Vec<&'a [u8]>),
}

/// One column of the epoch (or of a container's entries).
pub(crate) struct OutColumn<'a> {
    pub path: String,
    pub kind: usize,
    /// Empty when `dense`.
    pub rows: Vec<u32>,
    pub dense: bool,
    pub values: OutValues<'a>,
}

/// One container of the epoch.
pub(crate) struct OutContainer<'a> {
    pub path: String,
    pub kind: Kind,
    pub rows: Vec<u32>,
    pub dense: bool,
    pub offsets: Vec<u32>,
    /// Map: the keys, a dense string column over the entries.
    pub keys: Option<OutColumn<'a>>,
    pub values: Vec<OutColumn<'a>>,
}

/// The whole epoch, ready to be written.
pub(crate) struct Merged<'a> {
    pub rows: u32,
    pub columns: Vec<OutColumn<'a>>,
    pub containers: Vec<OutContainer<'a>>,
}

type ColumnParts<'a> = Vec<(u32, ColumnBuf<'a>)>;
type ContainerParts<'a> = Vec<(u32, ContainerBuf<'a>)>;

/// Merges the chunks, in order.
pub(crate) fn merge(mut chunks: Vec<ChunkColumns<'_>>) -> Result<Merged<'_>, DecodeError> {
    // A path that is a map container anywhere is one everywhere.
    let mut dynamic: Vec<String> = chunks
        .iter()
        .flat_map(ChunkColumns::dynamic_paths)
        .collect();
    dynamic.sort();
    dynamic.dedup();
    for chunk in &mut chunks {
        if chunk.rows() == 0 {
            continue;
        }
        for path in &dynamic {
            if let Some(node) = chunk.find_node(path) {
                chunk.make_dynamic(node, chunk.rows() - 1)?;
            }
        }
    }
    let mut total: u32 = 0;
    let mut columns: BTreeMap<(String, usize), ColumnParts<'_>> = BTreeMap::new();
    let mut containers: BTreeMap<(String, bool), ContainerParts<'_>> = BTreeMap::new();
    for mut chunk in chunks {
        let base = total;
        total = total
            .checked_add(chunk.rows())
            .ok_or_else(|| DecodeError::TooLarge("more than 2^32 events".into()))?;
        for node in 0..chunk.nodes.len() {
            let path = chunk.path(node as u32);
            let ids = chunk.nodes[node].columns;
            for (kind, id) in ids.iter().enumerate() {
                if *id == u32::MAX {
                    continue;
                }
                let col = std::mem::replace(&mut chunk.columns[*id as usize], empty_column());
                if !col.rows.is_empty() {
                    columns
                        .entry((path.clone(), kind))
                        .or_default()
                        .push((base, col));
                }
            }
            for id in [chunk.nodes[node].list, chunk.nodes[node].map] {
                if id == u32::MAX {
                    continue;
                }
                let c = std::mem::replace(&mut chunk.containers[id as usize], empty_container());
                if !c.rows.is_empty() {
                    containers
                        .entry((path.clone(), c.kind == Kind::List))
                        .or_default()
                        .push((base, c));
                }
            }
        }
    }
    let columns: Vec<OutColumn<'_>> = columns
        .into_iter()
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|((path, kind), parts)| merge_column(path, kind, parts, total))
        .collect();
    let containers: Vec<OutContainer<'_>> = containers
        .into_iter()
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|((path, _), parts)| merge_container(path, parts, total))
        .collect::<Result<_, _>>()?;
    Ok(Merged {
        rows: total,
        columns,
        containers,
    })
}

fn empty_column<'a>() -> ColumnBuf<'a> {
    ColumnBuf {
        rows: Vec::new(),
        values: Values::Null(0),
    }
}

fn empty_container<'a>() -> ContainerBuf<'a> {
    ContainerBuf {
        kind: Kind::List,
        rows: Vec::new(),
        offsets: vec![0],
        keys: StrValues::new(),
        values: Default::default(),
    }
}

/// Concatenates the parts of one column; `space` is the size of its row space.
fn merge_column<'a>(
    path: String,
    kind: usize,
    parts: ColumnParts<'a>,
    space: u32,
) -> OutColumn<'a> {
    let count: usize = parts.iter().map(|(_, p)| p.rows.len()).sum();
    let dense = count == space as usize;
    let mut rows = Vec::with_capacity(if dense { 0 } else { count });
    let mut strs = Vec::new();
    let mut values = match kind {
        0 => OutValues::Int(Vec::with_capacity(count)),
        1 => OutValues::Float(Vec::with_capacity(count)),
        2 => OutValues::Bool(Vec::with_capacity(count)),
        3 => OutValues::Str(OutStrs::Plain(Vec::new())),
        4 => OutValues::Null,
        _ => OutValues::Raw(Vec::with_capacity(count)),
    };
    for (base, part) in parts {
        if !dense {
            rows.extend(part.rows.iter().map(|r| r + base));
        }
        match (&mut values, part.values) {
            (OutValues::Int(v), Values::Int(p)) => v.extend(p),
            (OutValues::Float(v), Values::Float(p)) => v.extend(p),
            (OutValues::Bool(v), Values::Bool(p)) => v.extend(p),
            (OutValues::Str(_), Values::Str(p)) => strs.push(p),
            (OutValues::Null, Values::Null(_)) => {}
            (OutValues::Raw(v), Values::Raw(p)) => v.extend(p),
            _ => unreachable!("parts of a column share its type"),
        }
    }
    if let OutValues::Str(s) = &mut values {
        *s = merge_strs(strs);
    }
    OutColumn {
        path,
        kind,
        rows,
        dense,
        values,
    }
}

/// Merges string values: one dictionary if every part kept one, else plain.
fn merge_strs(parts: Vec<StrValues<'_>>) -> OutStrs<'_> {
    if parts.iter().any(|p| matches!(p, StrValues::Plain(_))) {
        return OutStrs::Plain(parts.iter().flat_map(StrValues::values).collect());
    }
    let mut index: FxHashMap<&[u8], u32> = FxHashMap::default();
    let mut dict: Vec<&[u8]> = Vec::new();
    let mut ids = Vec::with_capacity(parts.iter().map(StrValues::len).sum());
    for part in parts {
        let StrValues::Dict {
            dict: local,
            ids: local_ids,
            ..
        } = part
        else {
            unreachable!("checked above")
        };
        let remap: Vec<u32> = local
            .iter()
            .map(|s| {
                let next = dict.len() as u32;
                *index.entry(s).or_insert_with(|| {
                    dict.push(s);
                    next
                })
            })
            .collect();
        ids.extend(local_ids.iter().map(|id| remap[*id as usize]));
    }
    OutStrs::Dict { dict, ids }
}

fn merge_container<'a>(
    path: String,
    parts: ContainerParts<'a>,
    space: u32,
) -> Result<OutContainer<'a>, DecodeError> {
    let kind = parts[0].1.kind;
    let count: usize = parts.iter().map(|(_, p)| p.rows.len()).sum();
    let dense = count == space as usize;
    let mut rows = Vec::with_capacity(if dense { 0 } else { count });
    let mut offsets = vec![0u32];
    let mut keys = Vec::new();
    let mut values: [ColumnParts<'a>; TYPES] = Default::default();
    let mut entries: u32 = 0;
    for (base, part) in parts {
        if !dense {
            rows.extend(part.rows.iter().map(|r| r + base));
        }
        offsets.extend(part.offsets[1..].iter().map(|o| o + entries));
        let part_entries = *part.offsets.last().expect("offsets start with 0");
        if kind == Kind::Map {
            keys.push(part.keys);
        }
        for (t, col) in part.values.into_iter().enumerate() {
            if let Some(col) = col {
                values[t].push((entries, col));
            }
        }
        entries = entries
            .checked_add(part_entries)
            .ok_or_else(|| DecodeError::TooLarge(format!("more than 2^32 entries in {path}")))?;
    }
    let values = values
        .into_iter()
        .enumerate()
        .filter(|(_, parts)| !parts.is_empty())
        .map(|(t, parts)| merge_column(String::new(), t, parts, entries))
        .collect();
    Ok(OutContainer {
        path,
        kind,
        rows,
        dense,
        offsets,
        keys: (kind == Kind::Map).then(|| OutColumn {
            path: String::new(),
            kind: STR,
            rows: Vec::new(),
            dense: true,
            values: OutValues::Str(merge_strs(keys)),
        }),
        values,
    })
}
