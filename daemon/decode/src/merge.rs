//! Merging the chunks' columns into the epoch's columns: rows renumbered
//! across chunks, dictionaries merged, and a map that became a container in
//! one chunk made a container in all of them.

use std::collections::BTreeMap;

use rayon::prelude::*;

use crate::chunk::{ChunkColumns, ColumnBuf, ContainerBuf, Kind, StrValues, Values, STR, TYPES};
use crate::error::DecodeError;
use crate::intern::Interner;

/// How a string column is written.
pub(crate) enum StrPlan<'a> {
    /// One dictionary for the epoch; part `i`'s ids map into it through
    /// `remaps[i]`.
    Dict {
        dict: Interner<'a>,
        remaps: Vec<Vec<u32>>,
    },
    /// Every value in full (some chunk found the values mostly distinct).
    Plain,
}

/// One column of the epoch (or of a container's entries): its chunks'
/// parts, concatenated as the epoch is written.
pub(crate) struct OutColumn<'a> {
    pub path: String,
    pub kind: usize,
    /// Values held, over all parts.
    pub count: usize,
    /// Every row of the space holds a value.
    pub dense: bool,
    /// (the part's first row in the epoch's row space, the part).
    pub parts: ColumnParts<'a>,
    /// Str columns: how their values are written.
    pub strs: Option<StrPlan<'a>>,
}

/// One chunk's share of a container.
pub(crate) struct ContainerPart {
    /// The chunk's first row in the epoch's row space.
    pub row_base: u32,
    /// The chunk's first entry among the container's entries.
    pub entry_base: u32,
    pub rows: Vec<u32>,
    pub offsets: Vec<u32>,
}

/// One container of the epoch.
pub(crate) struct OutContainer<'a> {
    pub path: String,
    pub kind: Kind,
    /// Rows holding the container, over all parts.
    pub holders: usize,
    pub dense: bool,
    pub parts: Vec<ContainerPart>,
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

pub(crate) type ColumnParts<'a> = Vec<(u32, ColumnBuf<'a>)>;
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
                if col.len > 0 {
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
    ColumnBuf::of(Values::Null, 0)
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

/// The parts of one column; `space` is the size of its row space.
fn merge_column<'a>(
    path: String,
    kind: usize,
    parts: ColumnParts<'a>,
    space: u32,
) -> OutColumn<'a> {
    let count: usize = parts.iter().map(|(_, p)| p.len as usize).sum();
    let strs = (kind == STR).then(|| plan_strs(&parts));
    OutColumn {
        path,
        kind,
        count,
        dense: count == space as usize,
        parts,
        strs,
    }
}

/// One dictionary for the epoch if every part kept one, else plain values.
fn plan_strs<'a>(parts: &ColumnParts<'a>) -> StrPlan<'a> {
    let dicts: Option<Vec<&Interner<'a>>> = parts
        .iter()
        .map(|(_, p)| match &p.values {
            Values::Str(StrValues::Dict { dict, .. }) => Some(dict),
            _ => None,
        })
        .collect();
    let Some(dicts) = dicts else {
        return StrPlan::Plain;
    };
    let mut merged = Interner::new();
    let remaps = dicts
        .into_iter()
        .map(|local| local.strings().iter().map(|s| merged.intern(s)).collect())
        .collect();
    StrPlan::Dict {
        dict: merged,
        remaps,
    }
}

fn merge_container<'a>(
    path: String,
    parts: ContainerParts<'a>,
    space: u32,
) -> Result<OutContainer<'a>, DecodeError> {
    let kind = parts[0].1.kind;
    let holders: usize = parts.iter().map(|(_, p)| p.rows.len()).sum();
    let mut keys: ColumnParts<'a> = Vec::new();
    let mut values: [ColumnParts<'a>; TYPES] = Default::default();
    let mut out_parts = Vec::with_capacity(parts.len());
    let mut entries: u32 = 0;
    for (row_base, part) in parts {
        let part_entries = *part.offsets.last().expect("offsets start with 0");
        if kind == Kind::Map {
            keys.push((entries, ColumnBuf::of(Values::Str(part.keys), part_entries)));
        }
        for (t, col) in part.values.into_iter().enumerate() {
            if let Some(col) = col {
                values[t].push((entries, col));
            }
        }
        out_parts.push(ContainerPart {
            row_base,
            entry_base: entries,
            rows: part.rows,
            offsets: part.offsets,
        });
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
        holders,
        dense: holders == space as usize,
        parts: out_parts,
        keys: (kind == Kind::Map).then(|| merge_column(String::new(), STR, keys, entries)),
        values,
    })
}
