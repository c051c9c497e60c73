//! Pre-initialisation of WASI reactors: `_initialize` once, at submission,
//! instead of at the start of every run.
//!
//! A reactor (a Go job, a C job built against wasi-libc) exports
//! `_initialize`, which ABI v1.1 calls before every run. For Go that is the
//! whole runtime's start (heap, scheduler, the packages' `init`): about
//! 0.25 ms a run, as much as the job itself (docs/BENCHMARKS.md, "Go").
//! What it leaves behind is its linear memory and its globals, the same
//! every time, so the daemon runs it once and rewrites the module to start
//! from that state: the memory's bytes become its data segments, the
//! globals' values their initialisers, and `_initialize` is no longer
//! exported. Every run then maps the initialised memory copy-on-write, as
//! for any module, and begins where `_initialize` ended.
//!
//! That is only the same as calling `_initialize` in every run when nothing
//! it did depends on the run. So a module is pre-initialised only if
//! - its `_initialize` calls no `epochd` function (those read the run's
//!   epoch and config: they trap in the snapshot's instance, and the module
//!   keeps its per-run `_initialize`), and prints nothing (a run's log would
//!   miss it);
//! - the rewrite can capture all it changed: one memory of its own, globals
//!   of number types, no start function, and no instruction that changes a
//!   table or uses data segments (`table.set`, `memory.init`...), which the
//!   rewrite does not follow;
//! - it is binary WebAssembly (text is compiled as it is).
//!
//! What it read from the clocks and the random stream (the Go runtime seeds
//! its hash maps) is then the submission's, the same in every run, instead
//! of the run's: still deterministic, as ABI.md promises.

use std::ops::Range;
use std::sync::Arc;

use wasm_encoder::{
    ConstExpr, DataSection, ExportKind, ExportSection, GlobalSection, GlobalType, MemorySection,
    MemoryType,
};
use wasmparser::{
    BinaryReader, DataKind, ExternalKind, Operator, Parser, Payload, TypeRef, ValType,
};
use wasmtime::{Caller, ExternType, Linker, Module, Store, Val};

use crate::abi::{EXPORT_INITIALIZE, EXPORT_MEMORY, IMPORT_MODULE};
use crate::engine::RuntimeInner;
use crate::run::deadline_ticks;
use crate::state::{JobState, Limiter};

/// The instrumented module exports global `i` under this prefix.
const GLOBAL_EXPORT: &str = "__epochd_preinit_global_";

/// The largest memory a snapshot is taken of: beyond it (a reactor filling
/// its memory at start), `_initialize` runs in every run instead of the
/// daemon holding a copy of it.
const MAX_SNAPSHOT_BYTES: usize = 256 << 20;

/// Zero runs shorter than this stay inside one data segment (a segment
/// header costs about as much).
const MERGE_GAP: usize = 16;

/// Section ids of the binary format.
const MEMORY: u8 = 5;
const GLOBAL: u8 = 6;
const EXPORT: u8 = 7;
const DATA: u8 = 11;

/// `wasm` compiled from the state its `_initialize` leaves, or `None` when it
/// has none or is not one to pre-initialise (module docs). Never an error:
/// a module that is not pre-initialised is checked and run as submitted.
pub(crate) fn preinitialize(rt: &Arc<RuntimeInner>, wasm: &[u8]) -> Option<Module> {
    let started = std::time::Instant::now();
    let layout = match Layout::of(wasm) {
        Ok(Some(layout)) => layout,
        Ok(None) => return None,
        Err(why) => {
            tracing::debug!(why, "reactor not pre-initialised");
            return None;
        }
    };
    let state = match run_initialize(rt, &layout, wasm) {
        Ok(state) => state,
        Err(why) => {
            tracing::debug!(%why, "reactor not pre-initialised: `_initialize` runs in every run");
            return None;
        }
    };
    let rewritten = layout.rewrite(wasm, &state);
    match Module::from_binary(&rt.engine, &rewritten) {
        Ok(module) => {
            tracing::debug!(
                data_bytes = state.data.len(),
                secs = started.elapsed().as_secs_f64(),
                "reactor pre-initialised"
            );
            Some(module)
        }
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "a pre-initialised reactor does not compile; running it as submitted");
            None
        }
    }
}

/// True when binary `wasm` exports `_initialize`: a reactor, which a module
/// without that export but compiled from it was pre-initialised from.
pub(crate) fn is_reactor(wasm: &[u8]) -> bool {
    for payload in Parser::new(0).parse_all(wasm) {
        match payload {
            Ok(Payload::ExportSection(reader)) => {
                return reader.into_iter().any(|e| {
                    e.is_ok_and(|e| e.name == EXPORT_INITIALIZE && e.kind == ExternalKind::Func)
                })
            }
            Ok(Payload::CodeSectionStart { .. }) | Err(_) => return false,
            Ok(_) => {}
        }
    }
    false
}

/// Where the parts the rewrite replaces are, and what it must know of them.
struct Layout {
    /// Every section: its id and the byte range of its contents.
    sections: Vec<(u8, Range<usize>)>,
    /// The types of the module's own globals, in index order.
    globals: Vec<wasmparser::GlobalType>,
    memory: wasmparser::MemoryType,
}

impl Layout {
    /// The layout of a reactor that can be pre-initialised; `Ok(None)` when
    /// `wasm` is not a binary reactor; `Err` with why not otherwise.
    fn of(wasm: &[u8]) -> Result<Option<Layout>, &'static str> {
        if !wasm.starts_with(b"\0asm") {
            return Ok(None);
        }
        let mut sections = Vec::new();
        let mut globals = Vec::new();
        let mut memories = Vec::new();
        let mut reactor = false;
        for payload in Parser::new(0).parse_all(wasm) {
            let payload = payload.map_err(|_| "does not parse")?;
            match payload {
                Payload::ImportSection(reader) => {
                    for imports in reader {
                        for import in imports.map_err(|_| "does not parse")? {
                            let (_, import) = import.map_err(|_| "does not parse")?;
                            match import.ty {
                                TypeRef::Func(_) | TypeRef::FuncExact(_) => {}
                                _ => return Err("imports something other than functions"),
                            }
                        }
                    }
                }
                Payload::MemorySection(reader) => {
                    for memory in reader {
                        memories.push(memory.map_err(|_| "does not parse")?);
                    }
                }
                Payload::GlobalSection(reader) => {
                    for global in reader {
                        let global = global.map_err(|_| "does not parse")?;
                        if !matches!(
                            global.ty.content_type,
                            ValType::I32 | ValType::I64 | ValType::F32 | ValType::F64
                        ) {
                            return Err("has a global that is not a number");
                        }
                        globals.push(global.ty);
                    }
                }
                Payload::ExportSection(reader) => {
                    for export in reader {
                        let export = export.map_err(|_| "does not parse")?;
                        reactor |=
                            export.name == EXPORT_INITIALIZE && export.kind == ExternalKind::Func;
                    }
                }
                Payload::StartSection { .. } => return Err("has a start function"),
                Payload::DataCountSection { .. } => return Err("uses passive data segments"),
                Payload::DataSection(reader) => {
                    for data in reader {
                        let data = data.map_err(|_| "does not parse")?;
                        if !matches!(
                            data.kind,
                            DataKind::Active {
                                memory_index: 0,
                                ..
                            }
                        ) {
                            return Err("has a passive data segment");
                        }
                    }
                }
                // The exports come before the code: a module that is not a
                // reactor is not read further.
                Payload::CodeSectionStart { .. } if !reactor => return Ok(None),
                Payload::CodeSectionEntry(body) => {
                    let mut ops = body.get_operators_reader().map_err(|_| "does not parse")?;
                    while !ops.eof() {
                        if changes_what_the_rewrite_keeps(
                            &ops.read().map_err(|_| "does not parse")?,
                        ) {
                            return Err("changes a table or uses data segments in its code");
                        }
                    }
                }
                _ => {}
            }
        }
        if !reactor {
            return Ok(None);
        }
        let [memory] = memories[..] else {
            return Err("has no memory of its own, or several");
        };
        if memory.memory64 || memory.shared {
            return Err("has a 64-bit or shared memory");
        }
        sections.extend(section_ranges(wasm).ok_or("does not parse")?);
        Ok(Some(Layout {
            sections,
            globals,
            memory,
        }))
    }

    /// The module with every global exported too, so that its value can
    /// be read after `_initialize`.
    fn instrumented(&self, wasm: &[u8]) -> Vec<u8> {
        self.rebuild(wasm, |id, contents| {
            (id == EXPORT).then(|| {
                let mut exports = copy_exports(contents, |_| true);
                for i in 0..self.globals.len() as u32 {
                    exports.export(&format!("{GLOBAL_EXPORT}{i}"), ExportKind::Global, i);
                }
                section_bytes(&exports)
            })
        })
    }

    /// The module starting from `state`: memory and globals as `_initialize`
    /// left them, `_initialize` no longer exported, no data segments but
    /// the memory's non-zero bytes.
    fn rewrite(&self, wasm: &[u8], state: &Initialized) -> Vec<u8> {
        let mut had_data = false;
        let mut bytes = self.rebuild(wasm, |id, contents| match id {
            MEMORY => {
                let mut memories = MemorySection::new();
                memories.memory(MemoryType {
                    minimum: state.pages,
                    maximum: self.memory.maximum,
                    memory64: false,
                    shared: false,
                    page_size_log2: self.memory.page_size_log2,
                });
                Some(section_bytes(&memories))
            }
            GLOBAL => {
                let mut globals = GlobalSection::new();
                for (ty, value) in self.globals.iter().zip(&state.globals) {
                    globals.global(
                        GlobalType {
                            val_type: encoder_type(ty.content_type),
                            mutable: ty.mutable,
                            shared: false,
                        },
                        value,
                    );
                }
                Some(section_bytes(&globals))
            }
            EXPORT => {
                let exports = copy_exports(contents, |name| name != EXPORT_INITIALIZE);
                Some(section_bytes(&exports))
            }
            DATA => {
                had_data = true;
                Some(state.data.clone())
            }
            _ => None,
        });
        if !had_data {
            // The data section comes last but for custom sections, which a
            // module may have anywhere: appending it keeps the order valid.
            append_section(&mut bytes, DATA, &state.data);
        }
        bytes
    }

    /// `wasm` with the contents of each section `replace` answers for
    /// replaced (it is given the section's id and contents).
    fn rebuild(
        &self,
        wasm: &[u8],
        mut replace: impl FnMut(u8, &[u8]) -> Option<Vec<u8>>,
    ) -> Vec<u8> {
        let mut out = wasm[..8].to_vec();
        for (id, range) in &self.sections {
            let contents = &wasm[range.clone()];
            match replace(*id, contents) {
                Some(bytes) => append_section(&mut out, *id, &bytes),
                None => append_section(&mut out, *id, contents),
            }
        }
        out
    }
}

/// The memory and globals `_initialize` left.
struct Initialized {
    /// The data section of the memory's non-zero bytes.
    data: Vec<u8>,
    /// The memory's size, in pages.
    pages: u64,
    /// The globals' values, in index order.
    globals: Vec<ConstExpr>,
}

/// Instantiates the instrumented module, with every `epochd` import
/// trapping, calls `_initialize` under the submission check's limits, and
/// reads what it left.
fn run_initialize(
    rt: &Arc<RuntimeInner>,
    layout: &Layout,
    wasm: &[u8],
) -> Result<Initialized, String> {
    let instrumented = layout.instrumented(wasm);
    let module = Module::from_binary(&rt.engine, &instrumented).map_err(|e| format!("{e:#}"))?;
    let mut linker: Linker<JobState> = rt.linker.clone();
    linker.allow_shadowing(true);
    for import in module.imports() {
        if let (IMPORT_MODULE, ExternType::Func(ty)) = (import.module(), import.ty()) {
            let name = import.name().to_owned();
            linker
                .func_new(
                    IMPORT_MODULE,
                    import.name(),
                    ty,
                    move |_: Caller<'_, JobState>, _: &[Val], _: &mut [Val]| {
                        Err(wasmtime::Error::msg(format!(
                            "`_initialize` calls {IMPORT_MODULE}.{name}"
                        )))
                    },
                )
                .map_err(|e| format!("{e:#}"))?;
        }
    }
    let config = &rt.config;
    let mut store = Store::new(
        &rt.engine,
        JobState::for_check(Limiter::core(
            config.max_memory_bytes,
            config.max_table_elements,
        )),
    );
    store.limiter(|s| &mut s.limiter);
    let deadline = std::time::Duration::from_millis(config.check_deadline_ms);
    store.set_epoch_deadline(deadline_ticks(deadline, config.tick()));
    let instance = linker
        .instantiate(&mut store, &module)
        .map_err(|e| format!("instantiating: {e:#}"))?;
    instance
        .get_typed_func::<(), ()>(&mut store, EXPORT_INITIALIZE)
        .and_then(|f| f.call(&mut store, ()))
        .map_err(|e| format!("{e:#}"))?;
    let state = store.data_mut();
    state.flush_streams();
    if !state.logs.is_empty() || state.logs_dropped > 0 {
        return Err("`_initialize` prints".into());
    }
    let memory = instance
        .get_memory(&mut store, EXPORT_MEMORY)
        .ok_or("no memory export")?;
    let pages = memory.size(&store);
    let bytes = memory.data(&store);
    if bytes.len() > MAX_SNAPSHOT_BYTES {
        return Err(format!(
            "its memory after `_initialize` is {} bytes, over the {MAX_SNAPSHOT_BYTES} kept",
            bytes.len()
        ));
    }
    let data = data_section(bytes);
    let mut globals = Vec::with_capacity(layout.globals.len());
    for i in 0..layout.globals.len() {
        let global = instance
            .get_global(&mut store, &format!("{GLOBAL_EXPORT}{i}"))
            .ok_or("a global export is missing")?;
        globals.push(match global.get(&mut store) {
            Val::I32(v) => ConstExpr::i32_const(v),
            Val::I64(v) => ConstExpr::i64_const(v),
            Val::F32(bits) => ConstExpr::f32_const(f32::from_bits(bits).into()),
            Val::F64(bits) => ConstExpr::f64_const(f64::from_bits(bits).into()),
            _ => return Err("a global is not a number".into()),
        });
    }
    Ok(Initialized {
        data,
        pages,
        globals,
    })
}

/// Instructions whose effect the rewrite would not keep, or whose data
/// segments it renumbers.
fn changes_what_the_rewrite_keeps(op: &Operator<'_>) -> bool {
    matches!(
        op,
        Operator::TableSet { .. }
            | Operator::TableGrow { .. }
            | Operator::TableFill { .. }
            | Operator::TableCopy { .. }
            | Operator::TableInit { .. }
            | Operator::ElemDrop { .. }
            | Operator::MemoryInit { .. }
            | Operator::DataDrop { .. }
    )
}

/// Every section of `wasm`: its id and the range of its contents.
fn section_ranges(wasm: &[u8]) -> Option<Vec<(u8, Range<usize>)>> {
    let mut out = Vec::new();
    let mut at = 8;
    while at < wasm.len() {
        let id = wasm[at];
        let mut reader = BinaryReader::new(&wasm[at + 1..], at + 1);
        let len = reader.read_var_u32().ok()? as usize;
        let start = at + 1 + reader.current_position();
        let end = start.checked_add(len).filter(|&e| e <= wasm.len())?;
        out.push((id, start..end));
        at = end;
    }
    Some(out)
}

fn copy_exports(contents: &[u8], keep: impl Fn(&str) -> bool) -> ExportSection {
    let mut exports = ExportSection::new();
    let reader = wasmparser::ExportSectionReader::new(BinaryReader::new(contents, 0))
        .expect("parsed before");
    for export in reader {
        let export = export.expect("parsed before");
        if !keep(export.name) {
            continue;
        }
        let kind = match export.kind {
            ExternalKind::Func | ExternalKind::FuncExact => ExportKind::Func,
            ExternalKind::Table => ExportKind::Table,
            ExternalKind::Memory => ExportKind::Memory,
            ExternalKind::Global => ExportKind::Global,
            ExternalKind::Tag => ExportKind::Tag,
        };
        exports.export(export.name, kind, export.index);
    }
    exports
}

/// A section's contents, without its id and size.
fn section_bytes(section: &impl wasm_encoder::Section) -> Vec<u8> {
    let mut framed = Vec::new();
    section.append_to(&mut framed);
    // Skip the id and the LEB128 size.
    let mut reader = BinaryReader::new(&framed[1..], 0);
    reader.read_var_u32().expect("a section size");
    framed[1 + reader.current_position()..].to_vec()
}

/// Appends a section: its id, its size, its contents.
fn append_section(out: &mut Vec<u8>, id: u8, contents: &[u8]) {
    use wasm_encoder::Encode;
    out.push(id);
    contents.encode(out);
}

/// A data section holding the non-zero runs of `memory`.
fn data_section(memory: &[u8]) -> Vec<u8> {
    let mut data = DataSection::new();
    for run in nonzero_runs(memory) {
        data.active(
            0,
            &ConstExpr::i32_const(run.start as i32),
            memory[run].iter().copied(),
        );
    }
    section_bytes(&data)
}

/// The ranges of `bytes` that hold something but zeros, zero gaps shorter
/// than [`MERGE_GAP`] kept inside.
fn nonzero_runs(bytes: &[u8]) -> Vec<Range<usize>> {
    let mut runs: Vec<Range<usize>> = Vec::new();
    let mut at = 0;
    while let Some(start) = bytes[at..].iter().position(|&b| b != 0).map(|p| p + at) {
        let end = bytes[start..]
            .iter()
            .position(|&b| b == 0)
            .map_or(bytes.len(), |p| p + start);
        match runs.last_mut() {
            Some(last) if start - last.end < MERGE_GAP => last.end = end,
            _ => runs.push(start..end),
        }
        at = end;
    }
    runs
}

fn encoder_type(ty: ValType) -> wasm_encoder::ValType {
    match ty {
        ValType::I32 => wasm_encoder::ValType::I32,
        ValType::I64 => wasm_encoder::ValType::I64,
        ValType::F32 => wasm_encoder::ValType::F32,
        _ => wasm_encoder::ValType::F64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonzero_runs_merge_short_gaps_only() {
        let mut bytes = vec![0u8; 200];
        bytes[3] = 1;
        bytes[10] = 2; // 6 zeros after the first run: merged
        bytes[100] = 3; // far: a run of its own
        bytes[199] = 4;
        assert_eq!(nonzero_runs(&bytes), [3..11, 100..101, 199..200]);
        assert!(nonzero_runs(&[0; 64]).is_empty());
    }
}
