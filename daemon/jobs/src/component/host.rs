//! The host side of the component world `epochd:job/mergeable-job`
//! (sdk/wit/job.wit): the same reads of the sealed epoch as ABI v1's
//! functions (epoch_read.rs), in component-model types. A column or
//! container is a resource holding where it is in the epoch; a block read
//! returns a list the canonical ABI copies into the guest, clipped the way
//! ABI v1's block copies are.

use wasmtime::component::{HasSelf, Linker, Resource};

use super::ComponentState;
use crate::epoch_read::{
    blob, blob_count, clip, dict_of, holders_len, value_bytes, values_len, BAD_HANDLE, WRONG_TYPE,
};
use crate::state::{ColumnRef, LogLevel};
use epochd_decode::{ContainerKind as Kind, ValueType as Type};

wasmtime::component::bindgen!({
    path: "../../sdk/wit",
    world: "epochd:job/mergeable-job",
    with: {
        "epochd:job/epoch.column": crate::state::ColumnRef,
        "epochd:job/epoch.container": ContainerRef,
    },
});

use self::epochd::job::epoch::{self as wit_epoch, Column, Container};
use self::epochd::job::types::{ContainerKind, Level, ReadError, ValueType};

/// A container of the epoch, by index.
#[derive(Debug, Clone, Copy)]
pub struct ContainerRef(u32);

/// Adds the world's imports (`epoch`, `host`, `types`) to `linker`.
pub(crate) fn link(linker: &mut Linker<ComponentState>) -> wasmtime::Result<()> {
    MergeableJob::add_to_linker::<_, HasSelf<_>>(linker, |state| state)
}

type Read<T> = Result<T, ReadError>;

/// An ABI v1 error code as the world's `read-error`.
fn read_error(code: i32) -> ReadError {
    match code {
        -1 => ReadError::NotFound,
        -3 => ReadError::OutOfRange,
        -4 => ReadError::WrongType,
        -5 => ReadError::TooLarge,
        -6 => ReadError::NotNow,
        _ => ReadError::BadHandle,
    }
}

/// `count` little-endian values of `width` bytes from `src`, clipped.
fn block<T>(
    src: &[u8],
    width: usize,
    start: u32,
    count: u32,
    decode: impl Fn(&[u8]) -> T,
) -> Result<Vec<T>, i32> {
    let range = clip(src.len() / width, start, count)?;
    Ok(src[range.start * width..range.end * width]
        .chunks_exact(width)
        .map(decode)
        .collect())
}

fn u32_le(b: &[u8]) -> u32 {
    let mut a = [0; 4];
    a.copy_from_slice(b);
    u32::from_le_bytes(a)
}

fn u64_le(b: &[u8]) -> u64 {
    let mut a = [0; 8];
    a.copy_from_slice(b);
    u64::from_le_bytes(a)
}

/// Row numbers `start..start+count` of a space: the identity when dense.
fn rows_of(
    dense: bool,
    space: usize,
    rows: &[u8],
    start: u32,
    count: u32,
) -> Result<Vec<u32>, i32> {
    if dense {
        Ok(clip(space, start, count)?.map(|r| r as u32).collect())
    } else {
        block(rows, 4, start, count, u32_le)
    }
}

fn type_code(t: ValueType) -> u8 {
    match t {
        ValueType::Int => Type::Int.0,
        ValueType::Float => Type::Float.0,
        ValueType::Bool => Type::Bool.0,
        ValueType::Str => Type::Str.0,
        ValueType::Null => Type::Null.0,
        ValueType::Raw => Type::Raw.0,
    }
}

impl ComponentState {
    fn column_ref(&self, h: &Resource<ColumnRef>) -> Result<ColumnRef, i32> {
        self.table.get(h).copied().map_err(|_| BAD_HANDLE)
    }

    fn container_index(&self, h: &Resource<ContainerRef>) -> Result<u32, i32> {
        self.table.get(h).map(|c| c.0).map_err(|_| BAD_HANDLE)
    }

    /// `read` over the column behind `h`, its error as a `read-error`.
    fn with_column<T>(
        &self,
        h: &Resource<ColumnRef>,
        read: impl FnOnce(epochd_decode::Column<'_>, usize) -> Result<T, i32>,
    ) -> Read<T> {
        let r = self.column_ref(h).map_err(read_error)?;
        let (col, space) = self.job.column_at(r).map_err(read_error)?;
        read(col, space).map_err(read_error)
    }

    /// `read` over the container behind `h` (with the epoch's rows).
    fn with_container<T>(
        &self,
        h: &Resource<ContainerRef>,
        read: impl FnOnce(epochd_decode::Container<'_>, usize) -> Result<T, i32>,
    ) -> Read<T> {
        let c = self.container_index(h).map_err(read_error)?;
        let (container, rows) = self.job.container_at(c).map_err(read_error)?;
        read(container, rows).map_err(read_error)
    }

    /// A new handle to `entry`, or, once the run holds
    /// [`super::MAX_HANDLES`], none (the SDKs answer "no such column") and
    /// a log line saying why.
    fn push_handle<T: Send + 'static>(&mut self, entry: T) -> Option<Resource<T>> {
        match self.table.push(entry) {
            Ok(handle) => Some(handle),
            Err(_) => {
                self.job.log(
                    LogLevel::Warn as i32,
                    format!(
                        "epochd: the run holds {} handles (columns, containers, streams), the \
                         most it may: drop those no longer needed",
                        super::MAX_HANDLES
                    )
                    .as_bytes(),
                );
                None
            }
        }
    }
}

impl self::epochd::job::types::Host for ComponentState {}

impl wit_epoch::Host for ComponentState {
    fn epoch(&mut self) -> i64 {
        self.job.meta.epoch as i64
    }

    fn seq(&mut self) -> u32 {
        self.job.meta.seq
    }

    fn rows(&mut self) -> u32 {
        self.job.epoch.as_ref().map_or(0, |e| e.view().rows())
    }

    fn dc(&mut self) -> String {
        self.job.meta.dc.clone()
    }

    fn find_column(&mut self, path: String, ty: ValueType) -> Option<Resource<Column>> {
        let r = self.job.find_column(path.as_bytes(), type_code(ty))?;
        self.push_handle(r)
    }

    fn find_container(&mut self, path: String, kind: ContainerKind) -> Option<Resource<Container>> {
        let kind = match kind {
            ContainerKind::Map => Kind::Map,
            ContainerKind::List => Kind::List,
        };
        let c = self.job.find_container(path.as_bytes(), kind)?;
        self.push_handle(ContainerRef(c))
    }
}

impl wit_epoch::HostColumn for ComponentState {
    fn value_type(&mut self, h: Resource<Column>) -> ValueType {
        let ty = self.with_column(&h, |col, _| Ok(col.type_()));
        match ty {
            Ok(Type::Int) => ValueType::Int,
            Ok(Type::Float) => ValueType::Float,
            Ok(Type::Bool) => ValueType::Bool,
            Ok(Type::Str) => ValueType::Str,
            Ok(Type::Raw) => ValueType::Raw,
            _ => ValueType::Null,
        }
    }

    fn len(&mut self, h: Resource<Column>) -> u32 {
        let len = self.with_column(&h, |col, space| Ok(values_len(&col, space)));
        len.map_or(0, |n| n as u32)
    }

    fn dense(&mut self, h: Resource<Column>) -> bool {
        self.with_column(&h, |col, _| Ok(col.dense()))
            .unwrap_or(false)
    }

    fn rows(&mut self, h: Resource<Column>, start: u32, count: u32) -> Read<Vec<u32>> {
        self.with_column(&h, |col, space| {
            let rows = col.rows().map_or(&[][..], |r| r.bytes());
            rows_of(col.dense(), space, rows, start, count)
        })
    }

    fn ints(&mut self, h: Resource<Column>, start: u32, count: u32) -> Read<Vec<i64>> {
        self.with_column(&h, |col, _| match col.type_() {
            Type::Int => {
                let src = col.ints().map_or(&[][..], |v| v.bytes());
                block(src, 8, start, count, |b| u64_le(b) as i64)
            }
            _ => Err(WRONG_TYPE),
        })
    }

    fn floats(&mut self, h: Resource<Column>, start: u32, count: u32) -> Read<Vec<f64>> {
        self.with_column(&h, |col, _| match col.type_() {
            Type::Float => {
                let src = col.floats().map_or(&[][..], |v| v.bytes());
                block(src, 8, start, count, |b| f64::from_bits(u64_le(b)))
            }
            _ => Err(WRONG_TYPE),
        })
    }

    fn bools(&mut self, h: Resource<Column>, start: u32, count: u32) -> Read<Vec<bool>> {
        self.with_column(&h, |col, _| match col.type_() {
            Type::Bool => {
                let src = col.bools().map_or(&[][..], |v| v.bytes());
                block(src, 1, start, count, |b| b[0] != 0)
            }
            _ => Err(WRONG_TYPE),
        })
    }

    fn ids(&mut self, h: Resource<Column>, start: u32, count: u32) -> Read<Vec<u32>> {
        self.with_column(&h, |col, _| match (col.type_(), col.ids()) {
            (Type::Str, Some(ids)) => block(ids.bytes(), 4, start, count, u32_le),
            _ => Err(WRONG_TYPE),
        })
    }

    fn dictionary(&mut self, h: Resource<Column>) -> Read<Vec<String>> {
        self.with_column(&h, |col, _| {
            let dict = dict_of(&col)?;
            Ok((0..blob_count(&dict))
                .map(|i| String::from_utf8_lossy(blob(&dict, i).unwrap_or_default()).into_owned())
                .collect())
        })
    }

    fn strings(&mut self, h: Resource<Column>, start: u32, count: u32) -> Read<Vec<String>> {
        self.with_column(&h, |col, space| {
            if col.type_() != Type::Str {
                return Err(WRONG_TYPE);
            }
            clip(values_len(&col, space), start, count)?
                .map(|i| Ok(String::from_utf8_lossy(value_bytes(&col, i)?).into_owned()))
                .collect()
        })
    }

    fn bytes(&mut self, h: Resource<Column>, index: u32) -> Read<Vec<u8>> {
        self.with_column(&h, |col, _| Ok(value_bytes(&col, index as usize)?.to_vec()))
    }

    fn drop(&mut self, h: Resource<Column>) -> wasmtime::Result<()> {
        self.table.delete(h)?;
        Ok(())
    }
}

impl wit_epoch::HostContainer for ComponentState {
    fn len(&mut self, h: Resource<Container>) -> u32 {
        let len = self.with_container(&h, |c, rows| Ok(holders_len(&c, rows)));
        len.map_or(0, |n| n as u32)
    }

    fn rows(&mut self, h: Resource<Container>, start: u32, count: u32) -> Read<Vec<u32>> {
        self.with_container(&h, |c, rows| {
            let holders = c.rows().map_or(&[][..], |r| r.bytes());
            rows_of(c.dense(), rows, holders, start, count)
        })
    }

    fn offsets(&mut self, h: Resource<Container>, start: u32, count: u32) -> Read<Vec<u32>> {
        self.with_container(&h, |c, _| {
            let offsets = c.offsets().map_or(&[][..], |o| o.bytes());
            block(offsets, 4, start, count, u32_le)
        })
    }

    fn keys(&mut self, h: Resource<Container>) -> Read<Resource<Column>> {
        let c = self.container_index(&h).map_err(read_error)?;
        let r = self.job.container_keys(c).map_err(read_error)?;
        self.push_handle(r).ok_or(ReadError::TooLarge)
    }

    fn values(&mut self, h: Resource<Container>, ty: ValueType) -> Option<Resource<Column>> {
        let c = self.container_index(&h).ok()?;
        let r = self
            .job
            .container_values(c, i32::from(type_code(ty)))
            .ok()?;
        self.push_handle(r)
    }

    fn drop(&mut self, h: Resource<Container>) -> wasmtime::Result<()> {
        self.table.delete(h)?;
        Ok(())
    }
}

impl self::epochd::job::host::Host for ComponentState {
    fn config(&mut self) -> Vec<u8> {
        self.job.config.clone()
    }

    fn log(&mut self, level: Level, message: String) {
        let level = match level {
            Level::Error => 0,
            Level::Warn => 1,
            Level::Info => 2,
            Level::Debug => 3,
        };
        self.job.log(level, message.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::epoch_read::OUT_OF_RANGE;

    #[test]
    fn blocks_clip_like_abi_v1_copies() {
        let src: Vec<u8> = (1..=3u32).flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(block(&src, 4, 1, 10, u32_le), Ok(vec![2, 3]));
        assert_eq!(block(&src, 4, 3, 10, u32_le), Ok(vec![]));
        assert_eq!(block(&src, 4, 4, 1, u32_le), Err(OUT_OF_RANGE));
        assert_eq!(block(&src, 4, 0, u32::MAX, u32_le), Ok(vec![1, 2, 3]));
        assert_eq!(rows_of(true, 5, &[], 3, 10), Ok(vec![3, 4]));
        assert_eq!(rows_of(true, 5, &[], 6, 1), Err(OUT_OF_RANGE));
    }
}
