//! The host side of ABI v1: every `epochd` function, defined once in a
//! `Linker<JobState>` shared by all modules.
//!
//! Each call reads the sealed epoch in place and copies only what the guest
//! asked for into its memory. Rules every function follows:
//! - pointers and lengths are unsigned; a destination is checked whole
//!   (`dst .. dst + count * width`, or `dst .. dst + cap`) before anything
//!   else, and one that is not inside the exported memory traps;
//! - errors the guest can handle are the negative [`ErrorCode`]s;
//! - nothing here panics on any input (a malformed epoch reads as empty).

use std::ops::Range;

use epochd_decode::{ContainerKind, ValueType};
use wasmtime::{Caller, Engine, Extern, Linker, Memory};

use crate::abi::{ErrorCode, IMPORT_MODULE};
use crate::epoch_read::{
    blob, blob_count, dict_of, holders_len, value_bytes, values_len, NOT_FOUND, OUT_OF_RANGE,
    WRONG_TYPE,
};
use crate::error::EntryPoint;
use crate::state::{Handle, JobState, Phase};

pub(crate) type Ctx<'a> = Caller<'a, JobState>;
pub(crate) type Res<T> = wasmtime::Result<T>;

const TOO_LARGE: i32 = ErrorCode::TooLarge.code();
const NOT_NOW: i32 = ErrorCode::NotNow.code();

/// A linker with every ABI v1 function.
pub(crate) fn linker(engine: &Engine) -> Res<Linker<JobState>> {
    let mut l = Linker::new(engine);
    let m = IMPORT_MODULE;
    l.func_wrap(m, "epoch", epoch)?;
    l.func_wrap(m, "seq", seq)?;
    l.func_wrap(m, "rows", rows)?;
    l.func_wrap(m, "dc", dc)?;
    l.func_wrap(m, "column", column)?;
    l.func_wrap(m, "column_len", column_len)?;
    l.func_wrap(m, "column_dense", column_dense)?;
    l.func_wrap(m, "column_rows", column_rows)?;
    l.func_wrap(m, "column_i64", column_i64)?;
    l.func_wrap(m, "column_f64", column_f64)?;
    l.func_wrap(m, "column_u8", column_u8)?;
    l.func_wrap(m, "column_ids", column_ids)?;
    l.func_wrap(m, "dict_len", dict_len)?;
    l.func_wrap(m, "dict_entry", dict_entry)?;
    l.func_wrap(m, "column_bytes", column_bytes)?;
    l.func_wrap(m, "container", container)?;
    l.func_wrap(m, "container_len", container_len)?;
    l.func_wrap(m, "container_rows", container_rows)?;
    l.func_wrap(m, "container_offsets", container_offsets)?;
    l.func_wrap(m, "container_keys", container_keys)?;
    l.func_wrap(m, "container_values", container_values)?;
    l.func_wrap(m, "emit", emit)?;
    l.func_wrap(m, "fail", fail)?;
    l.func_wrap(m, "log", log)?;
    l.func_wrap(m, "config_len", config_len)?;
    l.func_wrap(m, "config_read", config_read)?;
    l.func_wrap(m, "merge_input", merge_input)?;
    crate::wasi::link(engine, &mut l)?;
    Ok(l)
}

// ---------------------------------------------------------------------------
// Guest memory.

/// A trap raised by a host function (a pointer outside memory): the run
/// fails with [`crate::RunError::Trap`] carrying this message.
#[derive(Debug)]
pub(crate) struct HostTrap(pub(crate) String);

impl std::fmt::Display for HostTrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HostTrap {}

pub(crate) fn host_trap(message: String) -> wasmtime::Error {
    wasmtime::Error::new(HostTrap(message))
}

/// The guest's exported memory (cached in the state after the first call).
fn memory(caller: &mut Ctx<'_>) -> Res<Memory> {
    if let Some(memory) = caller.data().memory {
        return Ok(memory);
    }
    match caller.get_export("memory") {
        Some(Extern::Memory(memory)) => {
            caller.data_mut().memory = Some(memory);
            Ok(memory)
        }
        _ => Err(host_trap(
            "an `epochd` function was called but the module exports no memory named `memory`"
                .into(),
        )),
    }
}

/// Runs `f` with the guest's memory and the run's state.
pub(crate) fn with_memory<R>(
    caller: &mut Ctx<'_>,
    f: impl FnOnce(&mut [u8], &mut JobState) -> Res<R>,
) -> Res<R> {
    let memory = memory(caller)?;
    let (mem, state) = memory.data_and_store_mut(caller);
    f(mem, state)
}

/// The byte range `ptr .. ptr + len` of guest memory, or a trap naming the
/// function and the argument.
pub(crate) fn region(mem: &[u8], ptr: i32, len: u64, func: &str, what: &str) -> Res<Range<usize>> {
    region_of(IMPORT_MODULE, mem, ptr, len, func, what)
}

/// [`region`] for a function of import module `module` (the trap names it).
pub(crate) fn region_of(
    module: &str,
    mem: &[u8],
    ptr: i32,
    len: u64,
    func: &str,
    what: &str,
) -> Res<Range<usize>> {
    let start = u64::from(ptr as u32);
    let end = start + len;
    if end > mem.len() as u64 {
        return Err(host_trap(format!(
            "{module}.{func}: {what} {start:#x}..{end:#x} ({len} bytes) is outside the module's \
             memory of {} bytes",
            mem.len()
        )));
    }
    Ok(start as usize..end as usize)
}

/// Copies `min(src.len(), cap)` bytes to `dst` and returns `src.len()`; the
/// shape of `dc`, `dict_entry`, `column_bytes`, `config_read`, `merge_input`.
fn copy_prefix(mem: &mut [u8], dst: Range<usize>, src: &[u8]) -> i32 {
    let n = src.len().min(dst.len());
    mem[dst.start..dst.start + n].copy_from_slice(&src[..n]);
    len_i32(src.len())
}

fn len_i32(len: usize) -> i32 {
    i32::try_from(len).unwrap_or(i32::MAX)
}

/// Copies values `start .. start + count` of a little-endian array of
/// `width`-byte values (`src`, `src.len() / width` values) into `dst`
/// (already checked to hold `count` values); returns how many it copied, or
/// `OUT_OF_RANGE` when `start` is past the end (`start == len` copies 0).
fn copy_values(mem: &mut [u8], dst: &Range<usize>, src: &[u8], width: usize, start: i32) -> i32 {
    let len = src.len() / width;
    let start = start as u32 as usize;
    if start > len {
        return OUT_OF_RANGE;
    }
    let n = (len - start).min(dst.len() / width).min(i32::MAX as usize);
    let bytes = n * width;
    mem[dst.start..dst.start + bytes].copy_from_slice(&src[start * width..start * width + bytes]);
    n as i32
}

/// Writes the row numbers `start .. start + count` of a dense space of `len`
/// rows (row `i` is value `i`) as `u32`s.
fn copy_identity(mem: &mut [u8], dst: &Range<usize>, len: usize, start: i32) -> i32 {
    let start = start as u32 as usize;
    if start > len {
        return OUT_OF_RANGE;
    }
    let n = (len - start).min(dst.len() / 4).min(i32::MAX as usize);
    for (i, out) in mem[dst.start..dst.start + n * 4]
        .chunks_exact_mut(4)
        .enumerate()
    {
        out.copy_from_slice(&((start + i) as u32).to_le_bytes());
    }
    n as i32
}

/// The destination of `count` values of `width` bytes at `dst`.
fn values_region(mem: &[u8], dst: i32, count: i32, width: u64, func: &str) -> Res<Range<usize>> {
    region(
        mem,
        dst,
        u64::from(count as u32) * width,
        func,
        "destination",
    )
}

// ---------------------------------------------------------------------------
// Reading the epoch.

/// Turns `Result<i32, code>` into the guest's `i32`.
fn code(r: Result<i32, i32>) -> i32 {
    r.unwrap_or_else(|code| code)
}

// ---------------------------------------------------------------------------
// The epoch.

fn epoch(caller: Ctx<'_>) -> i64 {
    caller.data().meta.epoch as i64
}

fn seq(caller: Ctx<'_>) -> i32 {
    i32::try_from(caller.data().meta.seq).unwrap_or(i32::MAX)
}

fn rows(caller: Ctx<'_>) -> i32 {
    caller
        .data()
        .epoch
        .as_ref()
        .map_or(0, |e| len_i32(e.view().rows() as usize))
}

fn dc(mut caller: Ctx<'_>, dst: i32, cap: i32) -> Res<i32> {
    with_memory(&mut caller, |mem, state| {
        let dst = region(mem, dst, u64::from(cap as u32), "dc", "destination")?;
        Ok(copy_prefix(mem, dst, state.meta.dc.as_bytes()))
    })
}

// ---------------------------------------------------------------------------
// Columns.

fn column(mut caller: Ctx<'_>, path: i32, path_len: i32, ty: i32) -> Res<i32> {
    with_memory(&mut caller, |mem, state| {
        let path = &mem[region(mem, path, u64::from(path_len as u32), "column", "path")?];
        let Ok(ty) = u8::try_from(ty) else {
            return Ok(NOT_FOUND);
        };
        let found = state.find_column(path, ty);
        Ok(match found {
            Some(r) => state.handle(Handle::Column(r)),
            None => NOT_FOUND,
        })
    })
}

fn column_len(caller: Ctx<'_>, h: i32) -> i32 {
    code(
        caller
            .data()
            .column_of(h)
            .map(|(col, space)| len_i32(values_len(&col, space))),
    )
}

fn column_dense(caller: Ctx<'_>, h: i32) -> i32 {
    code(
        caller
            .data()
            .column_of(h)
            .map(|(col, _)| i32::from(col.dense())),
    )
}

fn column_rows(mut caller: Ctx<'_>, h: i32, start: i32, count: i32, dst: i32) -> Res<i32> {
    with_memory(&mut caller, |mem, state| {
        let dst = values_region(mem, dst, count, 4, "column_rows")?;
        Ok(code(state.column_of(h).map(|(col, space)| {
            if col.dense() {
                copy_identity(mem, &dst, space, start)
            } else {
                let rows = col.rows().map_or(&[][..], |r| r.bytes());
                copy_values(mem, &dst, rows, 4, start)
            }
        })))
    })
}

/// Which typed values a `column_*` copy reads.
#[derive(Clone, Copy)]
enum Values {
    I64,
    F64,
    U8,
    Ids,
}

fn copy_column(
    caller: &mut Ctx<'_>,
    func: &str,
    kind: Values,
    (h, start, count, dst): (i32, i32, i32, i32),
) -> Res<i32> {
    let width = match kind {
        Values::I64 | Values::F64 => 8,
        Values::U8 => 1,
        Values::Ids => 4,
    };
    with_memory(caller, |mem, state| {
        let dst = values_region(mem, dst, count, width as u64, func)?;
        Ok(code(state.column_of(h).and_then(|(col, _)| {
            let src = match (kind, col.type_()) {
                (Values::I64, ValueType::Int) => col.ints().map(|v| v.bytes()),
                (Values::F64, ValueType::Float) => col.floats().map(|v| v.bytes()),
                (Values::U8, ValueType::Bool) => col.bools().map(|v| v.bytes()),
                (Values::Ids, ValueType::Str) => Some(col.ids().ok_or(WRONG_TYPE)?.bytes()),
                _ => return Err(WRONG_TYPE),
            };
            Ok(copy_values(mem, &dst, src.unwrap_or(&[]), width, start))
        })))
    })
}

fn column_i64(mut caller: Ctx<'_>, h: i32, start: i32, count: i32, dst: i32) -> Res<i32> {
    copy_column(
        &mut caller,
        "column_i64",
        Values::I64,
        (h, start, count, dst),
    )
}

fn column_f64(mut caller: Ctx<'_>, h: i32, start: i32, count: i32, dst: i32) -> Res<i32> {
    copy_column(
        &mut caller,
        "column_f64",
        Values::F64,
        (h, start, count, dst),
    )
}

fn column_u8(mut caller: Ctx<'_>, h: i32, start: i32, count: i32, dst: i32) -> Res<i32> {
    copy_column(&mut caller, "column_u8", Values::U8, (h, start, count, dst))
}

fn column_ids(mut caller: Ctx<'_>, h: i32, start: i32, count: i32, dst: i32) -> Res<i32> {
    copy_column(
        &mut caller,
        "column_ids",
        Values::Ids,
        (h, start, count, dst),
    )
}

fn dict_len(caller: Ctx<'_>, h: i32) -> i32 {
    code(
        caller
            .data()
            .column_of(h)
            .and_then(|(col, _)| dict_of(&col))
            .map(|dict| len_i32(blob_count(&dict))),
    )
}

fn dict_entry(mut caller: Ctx<'_>, h: i32, id: i32, dst: i32, cap: i32) -> Res<i32> {
    with_memory(&mut caller, |mem, state| {
        let dst = region(mem, dst, u64::from(cap as u32), "dict_entry", "destination")?;
        Ok(code(state.column_of(h).and_then(|(col, _)| {
            let dict = dict_of(&col)?;
            let entry = blob(&dict, id as u32 as usize).ok_or(OUT_OF_RANGE)?;
            Ok(copy_prefix(mem, dst, entry))
        })))
    })
}

fn column_bytes(mut caller: Ctx<'_>, h: i32, index: i32, dst: i32, cap: i32) -> Res<i32> {
    with_memory(&mut caller, |mem, state| {
        let dst = region(
            mem,
            dst,
            u64::from(cap as u32),
            "column_bytes",
            "destination",
        )?;
        Ok(code(state.column_of(h).and_then(|(col, _)| {
            let value = value_bytes(&col, index as u32 as usize)?;
            Ok(copy_prefix(mem, dst, value))
        })))
    })
}

// ---------------------------------------------------------------------------
// Containers.

fn container(mut caller: Ctx<'_>, path: i32, path_len: i32, kind: i32) -> Res<i32> {
    with_memory(&mut caller, |mem, state| {
        let path = &mem[region(mem, path, u64::from(path_len as u32), "container", "path")?];
        let kind = match kind {
            0 => ContainerKind::Map,
            1 => ContainerKind::List,
            _ => return Ok(NOT_FOUND),
        };
        let found = state.find_container(path, kind);
        Ok(match found {
            Some(c) => state.handle(Handle::Container(c)),
            None => NOT_FOUND,
        })
    })
}

fn container_len(caller: Ctx<'_>, h: i32) -> i32 {
    code(
        caller
            .data()
            .container_of(h)
            .map(|(_, c, rows)| len_i32(holders_len(&c, rows))),
    )
}

fn container_rows(mut caller: Ctx<'_>, h: i32, start: i32, count: i32, dst: i32) -> Res<i32> {
    with_memory(&mut caller, |mem, state| {
        let dst = values_region(mem, dst, count, 4, "container_rows")?;
        Ok(code(state.container_of(h).map(|(_, c, rows)| {
            if c.dense() {
                copy_identity(mem, &dst, rows, start)
            } else {
                let rows = c.rows().map_or(&[][..], |r| r.bytes());
                copy_values(mem, &dst, rows, 4, start)
            }
        })))
    })
}

fn container_offsets(mut caller: Ctx<'_>, h: i32, start: i32, count: i32, dst: i32) -> Res<i32> {
    with_memory(&mut caller, |mem, state| {
        let dst = values_region(mem, dst, count, 4, "container_offsets")?;
        Ok(code(state.container_of(h).map(|(_, c, _)| {
            let offsets = c.offsets().map_or(&[][..], |o| o.bytes());
            copy_values(mem, &dst, offsets, 4, start)
        })))
    })
}

fn container_keys(mut caller: Ctx<'_>, h: i32) -> i32 {
    let state = caller.data_mut();
    let found = state
        .container_of(h)
        .and_then(|(c, ..)| state.container_keys(c));
    code(found.map(|r| state.handle(Handle::Column(r))))
}

fn container_values(mut caller: Ctx<'_>, h: i32, ty: i32) -> i32 {
    let state = caller.data_mut();
    let found = state
        .container_of(h)
        .and_then(|(c, ..)| state.container_values(c, ty));
    code(found.map(|r| state.handle(Handle::Column(r))))
}

// ---------------------------------------------------------------------------
// Output, config, logs, merge.

fn emit(mut caller: Ctx<'_>, ptr: i32, len: i32) -> Res<i32> {
    with_memory(&mut caller, |mem, state| {
        let src = region(mem, ptr, u64::from(len as u32), "emit", "result")?;
        if state.phase == Phase::Check {
            // The submission check keeps no result, and knows no maximum
            // size (the manifest's applies in runs): what `_initialize`
            // emits there is accepted and dropped, as a run would keep it.
            return Ok(0);
        }
        if src.len() > state.max_result_bytes {
            state.too_large = Some(src.len());
            return Ok(TOO_LARGE);
        }
        state.result.clear();
        state.result.extend_from_slice(&mem[src]);
        Ok(0)
    })
}

fn fail(mut caller: Ctx<'_>, ptr: i32, len: i32) -> Res<()> {
    with_memory(&mut caller, |mem, state| {
        let src = region(mem, ptr, u64::from(len as u32), "fail", "message")?;
        state.fail(&mem[src]);
        Ok(())
    })
}

fn log(mut caller: Ctx<'_>, level: i32, ptr: i32, len: i32) -> Res<()> {
    with_memory(&mut caller, |mem, state| {
        let src = region(mem, ptr, u64::from(len as u32), "log", "message")?;
        state.log(level, &mem[src]);
        Ok(())
    })
}

fn config_len(caller: Ctx<'_>) -> i32 {
    len_i32(caller.data().config.len())
}

fn config_read(mut caller: Ctx<'_>, dst: i32, cap: i32) -> Res<i32> {
    with_memory(&mut caller, |mem, state| {
        let dst = region(
            mem,
            dst,
            u64::from(cap as u32),
            "config_read",
            "destination",
        )?;
        Ok(copy_prefix(mem, dst, &state.config))
    })
}

fn merge_input(mut caller: Ctx<'_>, which: i32, dst: i32, cap: i32) -> Res<i32> {
    with_memory(&mut caller, |mem, state| {
        let dst = region(
            mem,
            dst,
            u64::from(cap as u32),
            "merge_input",
            "destination",
        )?;
        if state.phase != Phase::Entry(EntryPoint::Merge) {
            return Ok(NOT_NOW);
        }
        let Some(inputs) = &state.inputs else {
            return Ok(NOT_NOW);
        };
        Ok(match inputs.get(which as u32 as usize) {
            Some(input) => copy_prefix(mem, dst, input),
            None => OUT_OF_RANGE,
        })
    })
}

#[cfg(test)]
mod tests {
    use wasmtime::{Config, ExternType, Store, ValType};

    use super::*;
    use crate::abi::{Ty, FUNCTIONS};
    use crate::state::Limiter;

    fn ty(t: &ValType) -> Ty {
        match t {
            ValType::I32 => Ty::I32,
            ValType::I64 => Ty::I64,
            other => panic!("ABI v1 has no {other}"),
        }
    }

    /// The linker defines exactly the functions of the ABI table, with its
    /// signatures: submit.rs checks imports against the table.
    #[test]
    fn the_linker_matches_the_abi_table() {
        let engine = Engine::new(&Config::new()).unwrap();
        let linker = linker(&engine).unwrap();
        let state = JobState::new(
            Phase::Check,
            None,
            epochd_decode::EpochMeta {
                epoch: 0,
                dc: String::new(),
                seq: 0,
            },
            Vec::new(),
            Limiter::core(0, 0),
            0,
            0,
        );
        let mut store = Store::new(&engine, state);
        let externs: Vec<(String, String, Extern)> = linker
            .iter(&mut store)
            .map(|(module, name, ext)| (module.to_owned(), name.to_owned(), ext))
            .collect();
        // The WASI functions (ABI v1.1), each with its preview 1 signature.
        let mut wasi = 0;
        for (module, name, ext) in &externs {
            if module == crate::wasi::WASI_MODULE {
                let ExternType::Func(f) = ext.ty(&store) else {
                    panic!("{name} is not a function")
                };
                let expected = crate::wasi::function(name).expect(name).1;
                assert_eq!(crate::submit::func_text(&f), expected, "{name}");
                wasi += 1;
            }
        }
        assert_eq!(wasi, 46);
        let mut defined: Vec<(String, Vec<Ty>, Vec<Ty>)> = externs
            .into_iter()
            .filter(|(module, ..)| module != crate::wasi::WASI_MODULE)
            .map(|(module, name, ext)| {
                assert_eq!(module, IMPORT_MODULE);
                let ExternType::Func(f) = ext.ty(&store) else {
                    panic!("{name} is not a function")
                };
                (
                    name,
                    f.params().map(|p| ty(&p)).collect(),
                    f.results().map(|r| ty(&r)).collect(),
                )
            })
            .collect();
        defined.sort_by(|a, b| a.0.cmp(&b.0));
        let mut table: Vec<(String, Vec<Ty>, Vec<Ty>)> = FUNCTIONS
            .iter()
            .map(|(n, s)| (n.to_string(), s.params.to_vec(), s.results.to_vec()))
            .collect();
        table.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(defined, table);
    }

    #[test]
    fn regions_are_checked_whole() {
        let mem = [0u8; 100];
        assert_eq!(region(&mem, 90, 10, "f", "x").unwrap(), 90..100);
        assert_eq!(region(&mem, 100, 0, "f", "x").unwrap(), 100..100);
        let err = region(&mem, 91, 10, "f", "destination").unwrap_err();
        assert!(
            err.to_string().contains("epochd.f: destination 0x5b..0x65"),
            "{err}"
        );
        assert!(region(&mem, -1, 1, "f", "x").is_err());
        assert!(region(&mem, 0, u64::from(u32::MAX) * 8, "f", "x").is_err());
    }

    #[test]
    fn copies_stop_at_the_end_and_past_it_is_out_of_range() {
        let mut mem = [0u8; 16];
        let src: Vec<u8> = (1..=3u32).flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(copy_values(&mut mem, &(0..16), &src, 4, 1), 2);
        assert_eq!(&mem[..8], &[2, 0, 0, 0, 3, 0, 0, 0]);
        assert_eq!(copy_values(&mut mem, &(0..16), &src, 4, 3), 0);
        assert_eq!(copy_values(&mut mem, &(0..16), &src, 4, 4), OUT_OF_RANGE);
        assert_eq!(copy_values(&mut mem, &(0..16), &src, 4, -1), OUT_OF_RANGE);
        assert_eq!(copy_identity(&mut mem, &(0..8), 10, 5), 2);
        assert_eq!(&mem[..8], &[5, 0, 0, 0, 6, 0, 0, 0]);
    }
}
