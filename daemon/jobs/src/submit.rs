//! Submission: compile a module once, then check it against ABI v1 and
//! refuse it, with a specific [`SubmitError`], if it could never run.

use std::sync::Arc;

use wasmtime::{ExternType, FuncType, Module, ModuleExport, Store, ValType};

use crate::abi::{
    self, ABI_VERSION, ENTRY_SIGNATURE, EXPORT_ABI_VERSION, EXPORT_INIT, EXPORT_INITIALIZE,
    EXPORT_MEMORY, EXPORT_MERGE, EXPORT_RUN,
};
use crate::artifact::sha256;
use crate::engine::{Runtime, RuntimeInner};
use crate::error::{EntryPoint, SubmitError};
use crate::module::{CoreModule, JobModule, ModuleInner, Program};
use crate::run::{classify, deadline_ticks};
use crate::state::{JobState, Limiter};

const WASM_MAGIC: &[u8; 4] = b"\0asm";

pub(crate) fn compile(runtime: &Runtime, wasm: &[u8]) -> Result<JobModule, SubmitError> {
    let rt = &runtime.inner;
    check_size(rt, wasm.len())?;
    if crate::component::is_component(wasm) {
        return crate::component::compile(rt, wasm);
    }
    // A reactor whose `_initialize` can run once, here, is compiled from the
    // state it leaves (preinit.rs); any other module as it is.
    let module = match crate::preinit::preinitialize(rt, wasm) {
        Some(module) => module,
        None => parse(&rt.engine, wasm)?,
    };
    checked_core(rt, module, wasm, sha256(wasm))
}

/// The runtime's [`crate::RuntimeConfig::max_module_bytes`].
pub(crate) fn check_size(rt: &RuntimeInner, size: usize) -> Result<(), SubmitError> {
    let limit = rt.config.max_module_bytes;
    if size > limit {
        return Err(SubmitError::TooLarge { size, limit });
    }
    Ok(())
}

/// Checks a compiled (or loaded) core module against the ABI.
pub(crate) fn checked_core(
    rt: &Arc<RuntimeInner>,
    module: Module,
    wasm: &[u8],
    wasm_sha256: [u8; 32],
) -> Result<JobModule, SubmitError> {
    let (imports, wasi_imports) = crate::imports::check(&module, wasm)?;
    let exports = check_exports(&module)?;
    let pre = rt
        .linker
        .instantiate_pre(&module)
        .map_err(|e| SubmitError::Invalid {
            reason: format!("{e:#}"),
        })?;
    let mut core = CoreModule {
        preinitialized: exports.initialize.is_none()
            && wasm.starts_with(WASM_MAGIC)
            && crate::preinit::is_reactor(wasm),
        pre,
        memory: exports.memory,
        run: exports.run,
        initialize: exports.initialize,
        init: exports.init,
        merge: exports.merge,
        initial_memory_bytes: exports.initial_memory_bytes,
        imports,
        wasi_imports,
    };
    // What `_initialize` grows the memory to, every run starts with.
    let checked_memory = check_abi_version(rt, &core, &exports.abi_version)?;
    core.initial_memory_bytes = core.initial_memory_bytes.max(checked_memory);
    Ok(JobModule {
        inner: Arc::new(ModuleInner {
            runtime: rt.clone(),
            program: Program::Core(core),
            size: wasm.len(),
            wasm_sha256,
        }),
    })
}

/// Compiles binary (or, with the `wat` feature, text) WebAssembly.
fn parse(engine: &wasmtime::Engine, wasm: &[u8]) -> Result<Module, SubmitError> {
    let invalid = |e: wasmtime::Error| SubmitError::Invalid {
        reason: format!("{e:#}"),
    };
    if wasm.starts_with(WASM_MAGIC) {
        return Module::from_binary(engine, wasm).map_err(invalid);
    }
    if cfg!(feature = "wat") && looks_like_text(wasm) {
        return Module::new(engine, wasm).map_err(|e| SubmitError::Invalid {
            reason: format!("WebAssembly text: {e:#}"),
        });
    }
    Err(SubmitError::NotWasm {
        found: describe_bytes(wasm),
    })
}

/// UTF-8 whose first non-blank character opens an s-expression or a comment.
fn looks_like_text(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_ok_and(|text| {
        let text = text.trim_start();
        text.starts_with('(') || text.starts_with(";;")
    })
}

/// What some non-wasm bytes look like, for the error message.
fn describe_bytes(bytes: &[u8]) -> String {
    let known: &[(&[u8], &str)] = &[
        (
            b"\x7fELF",
            "a native ELF binary (compile for wasm32-unknown-unknown)",
        ),
        (b"\x1f\x8b", "gzip data (decompress it first)"),
        (b"PK\x03\x04", "a zip archive"),
        (b"MZ", "a Windows executable"),
        (b"#!", "a script"),
    ];
    if bytes.is_empty() {
        return "the body is empty".into();
    }
    if let Some((_, what)) = known.iter().find(|(magic, _)| bytes.starts_with(magic)) {
        return format!("the bytes are {what}");
    }
    let head: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
    if std::str::from_utf8(bytes).is_ok() {
        format!(
            "the bytes are text that is not WebAssembly (first bytes {})",
            head.join(" ")
        )
    } else {
        format!("the first bytes are {}", head.join(" "))
    }
}

/// The text form of a function type: `(func (param i32) (result i32))`.
pub(crate) fn func_text(f: &FuncType) -> String {
    let list = |kind: &str, types: Vec<ValType>| {
        if types.is_empty() {
            String::new()
        } else {
            let types: Vec<String> = types.iter().map(ToString::to_string).collect();
            format!(" ({kind} {})", types.join(" "))
        }
    };
    format!(
        "(func{}{})",
        list("param", f.params().collect()),
        list("result", f.results().collect())
    )
}

/// What an import or export is, in words.
fn describe(ty: &ExternType) -> String {
    match ty {
        ExternType::Func(f) => format!("a function {}", func_text(f)),
        ExternType::Memory(m) if m.is_64() => "a 64-bit memory".into(),
        ExternType::Memory(m) if m.is_shared() => "a shared memory".into(),
        ExternType::Memory(_) => "a memory".into(),
        ExternType::Global(_) => "a global".into(),
        ExternType::Table(_) => "a table".into(),
        _ => "a tag".into(),
    }
}

pub(crate) fn kind(ty: &ExternType) -> &'static str {
    match ty {
        ExternType::Func(_) => "func",
        ExternType::Memory(_) => "memory",
        ExternType::Global(_) => "global",
        ExternType::Table(_) => "table",
        _ => "tag",
    }
}

pub(crate) fn matches(f: &FuncType, sig: &abi::Signature) -> bool {
    let same = |types: Vec<ValType>, want: &[abi::Ty]| {
        types.len() == want.len()
            && types.iter().zip(want).all(|(t, w)| match w {
                abi::Ty::I32 => matches!(t, ValType::I32),
                abi::Ty::I64 => matches!(t, ValType::I64),
            })
    };
    same(f.params().collect(), sig.params) && same(f.results().collect(), sig.results)
}

struct Exports {
    memory: ModuleExport,
    abi_version: ModuleExport,
    run: ModuleExport,
    init: Option<ModuleExport>,
    merge: Option<ModuleExport>,
    initialize: Option<ModuleExport>,
    initial_memory_bytes: u64,
}

/// The required exports exist, and every ABI export has its ABI type.
fn check_exports(module: &Module) -> Result<Exports, SubmitError> {
    const MEMORY_WHAT: &str =
        "the module's linear memory (32-bit, not shared) exported as `memory`";
    let memory = match module.get_export(EXPORT_MEMORY) {
        None => {
            return Err(SubmitError::MissingExport {
                name: EXPORT_MEMORY,
                what: MEMORY_WHAT,
            })
        }
        Some(ExternType::Memory(m)) if !m.is_64() && !m.is_shared() => m,
        Some(other) => {
            return Err(SubmitError::WrongExport {
                name: EXPORT_MEMORY.into(),
                expected: "a 32-bit, unshared memory".into(),
                found: describe(&other),
            })
        }
    };
    let entry = |name: &'static str, required: bool| -> Result<Option<ModuleExport>, SubmitError> {
        match module.get_export(name) {
            None if required => Err(SubmitError::MissingExport {
                name,
                what: if name == EXPORT_RUN {
                    "the entry point `epochd_run: () -> i32` (0 = success)"
                } else {
                    "`epochd_abi_version: () -> i32` returning 1"
                },
            }),
            None => Ok(None),
            Some(ExternType::Func(f)) if matches(&f, &ENTRY_SIGNATURE) => {
                Ok(module.get_export_index(name))
            }
            Some(other) => Err(SubmitError::WrongExport {
                name: name.into(),
                expected: format!("a function {ENTRY_SIGNATURE}"),
                found: describe(&other),
            }),
        }
    };
    let abi_version = entry(EXPORT_ABI_VERSION, true).map_err(|e| command_hint(module, e))?;
    let run = entry(EXPORT_RUN, true).map_err(|e| command_hint(module, e))?;
    let init = entry(EXPORT_INIT, false)?;
    let merge = entry(EXPORT_MERGE, false)?;
    let initialize = match module.get_export(EXPORT_INITIALIZE) {
        None => None,
        Some(ExternType::Func(f)) if f.params().len() == 0 && f.results().len() == 0 => {
            module.get_export_index(EXPORT_INITIALIZE)
        }
        Some(other) => {
            return Err(SubmitError::WrongExport {
                name: EXPORT_INITIALIZE.into(),
                expected: "a function (func) (a WASI reactor's initializer)".into(),
                found: describe(&other),
            })
        }
    };
    let index = |name: &str| {
        module
            .get_export_index(name)
            .ok_or_else(|| SubmitError::Invalid {
                reason: format!("wasmtime has no index for export `{name}`"),
            })
    };
    Ok(Exports {
        memory: index(EXPORT_MEMORY)?,
        abi_version: abi_version.map_or_else(|| index(EXPORT_ABI_VERSION), Ok)?,
        run: run.map_or_else(|| index(EXPORT_RUN), Ok)?,
        init,
        merge,
        initialize,
        initial_memory_bytes: memory.minimum().saturating_mul(memory.page_size()),
    })
}

/// A missing entry point in a WASI command (it exports `_start`): the
/// module was built as a program, where a job is a library.
fn command_hint(module: &Module, error: SubmitError) -> SubmitError {
    match error {
        SubmitError::MissingExport { name, .. } if module.get_export("_start").is_some() => {
            SubmitError::MissingExport {
                name,
                what: "it; this module is a WASI command (it exports `_start`: a program with a \
                       `main`), and a job is a reactor, a library of entry points. Build it as \
                       one: Go `-buildmode=c-shared` with `//go:wasmexport`, Rust a `cdylib`, \
                       C `-mexec-model=reactor`, Zig `-fno-entry -rdynamic`. The entry point is \
                       `epochd_run: () -> i32` (0 = success)",
            }
        }
        other => other,
    }
}

/// Instantiates the module once (no epoch), runs a reactor's
/// `_initialize`, and calls `epochd_abi_version`; returns the largest its
/// memory was made meanwhile, in bytes.
fn check_abi_version(
    rt: &RuntimeInner,
    core: &CoreModule,
    export: &ModuleExport,
) -> Result<u64, SubmitError> {
    let config = &rt.config;
    let state = JobState::for_check(Limiter::core(
        config.max_memory_bytes,
        config.max_table_elements,
    ));
    let mut store = Store::new(&rt.engine, state);
    store.limiter(|s| &mut s.limiter);
    let deadline = std::time::Duration::from_millis(config.check_deadline_ms);
    store.set_epoch_deadline(deadline_ticks(deadline, config.tick()));
    let failed = |store: &Store<JobState>, e, entry| SubmitError::AbiCheck {
        reason: classify(e, store.data(), entry, deadline, rt).to_string(),
    };
    let instance = core
        .pre
        .instantiate(&mut store)
        .map_err(|e| failed(&store, e, EntryPoint::Instantiate))?;
    if let Some(export) = &core.initialize {
        let initialize = instance
            .get_module_export(&mut store, export)
            .and_then(|e| e.into_func())
            .and_then(|f| f.typed::<(), ()>(&store).ok())
            .ok_or_else(|| SubmitError::Invalid {
                reason: format!("`{EXPORT_INITIALIZE}` is not callable as () -> ()"),
            })?;
        initialize
            .call(&mut store, ())
            .map_err(|e| failed(&store, e, EntryPoint::Initialize))?;
    }
    let func = instance
        .get_module_export(&mut store, export)
        .and_then(|e| e.into_func())
        .and_then(|f| f.typed::<(), i32>(&store).ok())
        .ok_or_else(|| SubmitError::Invalid {
            reason: format!("`{EXPORT_ABI_VERSION}` is not callable as () -> i32"),
        })?;
    let found = func
        .call(&mut store, ())
        .map_err(|e| failed(&store, e, EntryPoint::AbiVersion))?;
    if found != ABI_VERSION {
        return Err(SubmitError::AbiVersion {
            found,
            supported: ABI_VERSION,
        });
    }
    Ok(store.data().limiter.largest as u64)
}
