//! The layout rules of a decoded epoch (`sdk/schema/epoch.fbs`, `sdk/ABI.md`)
//! checked on what the decoder wrote: FlatBuffers verification only proves
//! the offsets are in bounds, not that the columns agree with each other.

use epochd_decode::{Blobs, Column, Container, ContainerKind, Epoch, ValueType};

/// Checks every column and container of `epoch`; the first broken rule.
pub fn check(epoch: &Epoch<'_>) -> Result<(), String> {
    let rows = epoch.rows() as usize;
    if let Some(columns) = epoch.columns() {
        let mut previous: Option<(&str, u8)> = None;
        for col in columns.iter() {
            let key = (col.path().unwrap_or(""), col.type_().0);
            // The host finds a column by binary search on (path, type).
            if previous.is_some_and(|p| p >= key) {
                return Err(format!("columns out of order: {previous:?} then {key:?}"));
            }
            previous = Some(key);
            column(&col, rows).map_err(|e| format!("column {key:?}: {e}"))?;
        }
    }
    if let Some(containers) = epoch.containers() {
        let mut previous: Option<(&str, u8)> = None;
        for c in containers.iter() {
            let key = (c.path().unwrap_or(""), c.kind().0);
            // The host finds a container by binary search on its path.
            if previous.is_some_and(|p| p >= key) {
                return Err(format!(
                    "containers out of order: {previous:?} then {key:?}"
                ));
            }
            previous = Some(key);
            container(&c, rows).map_err(|e| format!("container {key:?}: {e}"))?;
        }
    }
    Ok(())
}

/// A column over a row space of `space` rows.
fn column(col: &Column<'_>, space: usize) -> Result<(), String> {
    let count = if col.dense() {
        if col.rows().is_some() {
            return Err("dense, with rows".into());
        }
        space
    } else {
        let rows = col.rows().ok_or("sparse, without rows")?;
        ascending_below(rows.iter(), space)?;
        rows.len()
    };
    let len = |n: Option<usize>, what: &str| match n {
        Some(n) if n == count => Ok(()),
        other => Err(format!("{what}: {other:?} values for {count}")),
    };
    match col.type_() {
        ValueType::Int => len(col.ints().map(|v| v.len()), "ints"),
        ValueType::Float => len(col.floats().map(|v| v.len()), "floats"),
        ValueType::Bool => {
            let bools = col.bools().ok_or("no bools")?;
            if bools.iter().any(|b| b > 1) {
                return Err("a bool is neither 0 nor 1".into());
            }
            len(Some(bools.len()), "bools")
        }
        ValueType::Str => match col.ids() {
            Some(ids) => {
                len(Some(ids.len()), "ids")?;
                let dict = blobs(&col.dict().ok_or("ids without a dict")?)?;
                match ids.iter().find(|id| *id as usize >= dict) {
                    Some(id) => Err(format!("id {id} past a dict of {dict}")),
                    None => Ok(()),
                }
            }
            None => len(col.plain().map(|b| blobs(&b)).transpose()?, "plain strings"),
        },
        ValueType::Raw => len(col.plain().map(|b| blobs(&b)).transpose()?, "raw values"),
        ValueType::Null => Ok(()),
        other => Err(format!("unknown type {other:?}")),
    }
}

/// A container over an epoch of `rows` rows: holders, offsets, entry columns.
fn container(c: &Container<'_>, rows: usize) -> Result<(), String> {
    let holders = if c.dense() {
        rows
    } else {
        let held = c.rows().ok_or("sparse, without rows")?;
        ascending_below(held.iter(), rows)?;
        held.len()
    };
    let offsets = c.offsets().ok_or("no offsets")?;
    if offsets.len() != holders + 1 || offsets.get(0) != 0 {
        return Err(format!(
            "{} offsets for {holders} holders, the first {:?}",
            offsets.len(),
            offsets.iter().next()
        ));
    }
    let mut last = 0;
    for o in offsets.iter() {
        if o < last {
            return Err(format!("offsets go back: {last} then {o}"));
        }
        last = o;
    }
    let entries = last as usize;
    match (c.kind(), c.keys()) {
        (ContainerKind::Map, Some(keys)) => {
            if keys.type_() != ValueType::Str || !keys.dense() {
                return Err("map keys are not a dense Str column".into());
            }
            column(&keys, entries).map_err(|e| format!("keys: {e}"))?;
        }
        (ContainerKind::Map, None) => return Err("a map without keys".into()),
        (_, Some(_)) => return Err("a list with keys".into()),
        (_, None) => {}
    }
    if let Some(values) = c.values() {
        for v in values.iter() {
            column(&v, entries).map_err(|e| format!("values {:?}: {e}", v.type_()))?;
        }
    }
    Ok(())
}

/// Strictly ascending, each below `limit`.
fn ascending_below(rows: impl Iterator<Item = u32>, limit: usize) -> Result<(), String> {
    let mut previous: Option<u32> = None;
    for row in rows {
        if previous.is_some_and(|p| p >= row) || row as usize >= limit {
            return Err(format!("row {row} after {previous:?} (space {limit})"));
        }
        previous = Some(row);
    }
    Ok(())
}

/// The number of byte strings in `b`, once its offsets check out.
fn blobs(b: &Blobs<'_>) -> Result<usize, String> {
    let offsets = b.offsets().ok_or("blobs without offsets")?;
    let bytes = b.bytes().map_or(0, |v| v.len());
    let mut last = 0u32;
    for (i, o) in offsets.iter().enumerate() {
        if (i == 0 && o != 0) || o < last || o as usize > bytes {
            return Err(format!(
                "blob offset {i} is {o} (after {last}, {bytes} bytes)"
            ));
        }
        last = o;
    }
    Ok(offsets.len().saturating_sub(1))
}
