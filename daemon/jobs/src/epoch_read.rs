//! Reading the sealed epoch in place: finding a column or container by
//! path, resolving what a handle points at, and the values a call copies.
//! Shared by ABI v1's host functions (host.rs) and the component world's
//! (component/host.rs), so both read exactly the same epoch the same way.
//!
//! Nothing here panics on any input: a malformed epoch reads as empty, and
//! a failure is the ABI's error code (`Err(code)`), which each caller turns
//! into its own form (a negative `i32`, a WIT `read-error`).

use epochd_decode::{Blobs, Column, Container, ContainerKind, Epoch, ValueType};

use crate::abi::ErrorCode;
use crate::state::{ColumnRef, Handle, JobState};

pub(crate) const NOT_FOUND: i32 = ErrorCode::NotFound.code();
pub(crate) const BAD_HANDLE: i32 = ErrorCode::BadHandle.code();
pub(crate) const OUT_OF_RANGE: i32 = ErrorCode::OutOfRange.code();
pub(crate) const WRONG_TYPE: i32 = ErrorCode::WrongType.code();

/// The index of the column of `path` and type code `ty` (columns are sorted
/// by (path, type)).
pub(crate) fn find_column(view: &Epoch<'_>, path: &[u8], ty: u8) -> Option<u32> {
    let columns = view.columns()?;
    let key = |i: usize| {
        let c = columns.get(i);
        (c.path().unwrap_or("").as_bytes(), c.type_().0)
    };
    // The first index not below the key.
    let (mut lo, mut hi) = (0, columns.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if key(mid) < (path, ty) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    (lo < columns.len() && key(lo) == (path, ty)).then_some(lo as u32)
}

/// The index of the container of `path` and `kind` (containers are sorted
/// by path: the first with this path, then each of its kinds).
pub(crate) fn find_container(view: &Epoch<'_>, path: &[u8], kind: ContainerKind) -> Option<u32> {
    let containers = view.containers()?;
    let path_of = |i: usize| containers.get(i).path().unwrap_or("").as_bytes();
    let (mut lo, mut hi) = (0, containers.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if path_of(mid) < path {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    (lo..containers.len())
        .take_while(|&i| path_of(i) == path)
        .find(|&i| containers.get(i).kind() == kind)
        .map(|i| i as u32)
}

/// The column a handle points at, and the size of its row space.
fn resolve_column<'a>(view: &Epoch<'a>, r: ColumnRef) -> Option<(Column<'a>, usize)> {
    match r {
        ColumnRef::Top(i) => {
            let columns = view.columns()?;
            let i = i as usize;
            (i < columns.len()).then(|| (columns.get(i), view.rows() as usize))
        }
        ColumnRef::Keys(c) => {
            let container = resolve_container(view, c)?;
            Some((container.keys()?, entries(&container)))
        }
        ColumnRef::Values(c, v) => {
            let container = resolve_container(view, c)?;
            let values = container.values()?;
            let v = v as usize;
            (v < values.len()).then(|| (values.get(v), entries(&container)))
        }
    }
}

fn resolve_container<'a>(view: &Epoch<'a>, c: u32) -> Option<Container<'a>> {
    let containers = view.containers()?;
    let c = c as usize;
    (c < containers.len()).then(|| containers.get(c))
}

/// Number of entries of a container (the last offset).
fn entries(container: &Container<'_>) -> usize {
    match container.offsets() {
        Some(o) if !o.is_empty() => o.get(o.len() - 1) as usize,
        _ => 0,
    }
}

/// Number of values of a column over a space of `space` rows.
pub(crate) fn values_len(col: &Column<'_>, space: usize) -> usize {
    if col.dense() {
        space
    } else {
        col.rows().map_or(0, |r| r.len())
    }
}

/// Number of holding rows of a container over an epoch of `rows` rows.
pub(crate) fn holders_len(container: &Container<'_>, rows: usize) -> usize {
    if container.dense() {
        rows
    } else {
        container.rows().map_or(0, |r| r.len())
    }
}

/// Number of entries of a list of byte strings.
pub(crate) fn blob_count(blobs: &Blobs<'_>) -> usize {
    blobs.offsets().map_or(0, |o| o.len().saturating_sub(1))
}

/// Entry `i` of a list of byte strings.
pub(crate) fn blob<'a>(blobs: &Blobs<'a>, i: usize) -> Option<&'a [u8]> {
    let offsets = blobs.offsets()?;
    if i + 1 >= offsets.len() {
        return None;
    }
    let bytes = blobs.bytes()?.bytes();
    bytes.get(offsets.get(i) as usize..offsets.get(i + 1) as usize)
}

/// The dictionary of a dictionary-coded `STR` column.
pub(crate) fn dict_of<'a>(col: &Column<'a>) -> Result<Blobs<'a>, i32> {
    match (col.type_(), col.ids(), col.dict()) {
        (ValueType::Str, Some(_), Some(dict)) => Ok(dict),
        _ => Err(WRONG_TYPE),
    }
}

/// Value `index` of a `STR` column (dictionary-coded or not) or a `RAW`
/// one, as its bytes.
pub(crate) fn value_bytes<'a>(col: &Column<'a>, index: usize) -> Result<&'a [u8], i32> {
    let value = match (col.type_(), col.ids()) {
        (ValueType::Str, Some(ids)) => {
            if index >= ids.len() {
                return Err(OUT_OF_RANGE);
            }
            let dict = col.dict().ok_or(WRONG_TYPE)?;
            blob(&dict, ids.get(index) as usize)
        }
        (ValueType::Str | ValueType::Raw, None) => {
            let plain = col.plain().ok_or(OUT_OF_RANGE)?;
            blob(&plain, index)
        }
        _ => return Err(WRONG_TYPE),
    };
    value.ok_or(OUT_OF_RANGE)
}

/// The values `start .. min(start + count, len)` of a `len`-long space:
/// `OUT_OF_RANGE` when `start > len`.
pub(crate) fn clip(len: usize, start: u32, count: u32) -> Result<std::ops::Range<usize>, i32> {
    let start = start as usize;
    if start > len {
        return Err(OUT_OF_RANGE);
    }
    Ok(start..len.min(start.saturating_add(count as usize)))
}

impl JobState {
    /// The column behind column handle `h` (and the size of its row
    /// space), or the error code for the guest.
    pub(crate) fn column_of(&self, h: i32) -> Result<(Column<'_>, usize), i32> {
        let Some(Handle::Column(r)) = self.lookup(h) else {
            return Err(BAD_HANDLE);
        };
        self.column_at(r)
    }

    /// The column `r` points at (and the size of its row space).
    pub(crate) fn column_at(&self, r: ColumnRef) -> Result<(Column<'_>, usize), i32> {
        let epoch = self.epoch.as_ref().ok_or(BAD_HANDLE)?;
        resolve_column(&epoch.view(), r).ok_or(BAD_HANDLE)
    }

    /// The container behind container handle `h` (its index, and the
    /// epoch's row count).
    pub(crate) fn container_of(&self, h: i32) -> Result<(u32, Container<'_>, usize), i32> {
        let Some(Handle::Container(c)) = self.lookup(h) else {
            return Err(BAD_HANDLE);
        };
        let (container, rows) = self.container_at(c)?;
        Ok((c, container, rows))
    }

    /// Container `c` (and the epoch's row count).
    pub(crate) fn container_at(&self, c: u32) -> Result<(Container<'_>, usize), i32> {
        let epoch = self.epoch.as_ref().ok_or(BAD_HANDLE)?;
        let view = epoch.view();
        let container = resolve_container(&view, c).ok_or(BAD_HANDLE)?;
        Ok((container, view.rows() as usize))
    }

    /// The column of `path` and type code `ty`, if the epoch has one.
    pub(crate) fn find_column(&self, path: &[u8], ty: u8) -> Option<ColumnRef> {
        let epoch = self.epoch.as_ref()?;
        find_column(&epoch.view(), path, ty).map(ColumnRef::Top)
    }

    /// The container of `path` and `kind`, if the epoch has one.
    pub(crate) fn find_container(&self, path: &[u8], kind: ContainerKind) -> Option<u32> {
        let epoch = self.epoch.as_ref()?;
        find_container(&epoch.view(), path, kind)
    }

    /// The keys column of map container `c`.
    pub(crate) fn container_keys(&self, c: u32) -> Result<ColumnRef, i32> {
        let (container, _) = self.container_at(c)?;
        match container.kind() {
            ContainerKind::Map if container.keys().is_some() => Ok(ColumnRef::Keys(c)),
            ContainerKind::Map => Err(NOT_FOUND),
            _ => Err(WRONG_TYPE),
        }
    }

    /// The values column of type code `ty` of container `c`.
    pub(crate) fn container_values(&self, c: u32, ty: i32) -> Result<ColumnRef, i32> {
        let (container, _) = self.container_at(c)?;
        let values = container.values().ok_or(NOT_FOUND)?;
        let v = (0..values.len())
            .find(|&v| i32::from(values.get(v).type_().0) == ty)
            .ok_or(NOT_FOUND)?;
        Ok(ColumnRef::Values(c, v as u32))
    }
}
