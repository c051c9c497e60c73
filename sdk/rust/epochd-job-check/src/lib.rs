//! Checks a WebAssembly module against the epochd job ABI, version 1 with
//! its v1.1 extension (`sdk/ABI.md`), without running it: what the daemon
//! refuses at submission, checked at build time, for jobs of any language.
//!
//! [`check`] validates the module with exactly the wasm features ABI v1
//! allows, then checks that it
//! - exports `memory` (its own, 32-bit, not shared) and the functions
//!   `epochd_abi_version` and `epochd_run`, each `() -> i32`, and, if
//!   present, `epochd_init` and `epochd_merge` with the same signature, and
//!   `_initialize` (a WASI reactor's initializer) as `() -> ()`;
//! - imports nothing but functions: those of module `epochd` listed in ABI
//!   v1 and those of `wasi_snapshot_preview1` (ABI v1.1, the table
//!   [`epochd_job_sys::wasi::FUNCTIONS`], which the daemon serves
//!   sandboxed), each with its exact signature (so no other module, no
//!   imported memory, table or global).
//!
//! Every problem is reported at once, as the daemon lists every refused
//! import at once. It cannot check what the functions do (e.g. that
//! `epochd_abi_version` returns 1): the daemon's conformance runs do.
//!
//! ```
//! let wasm = wat::parse_str(r#"(module
//!     (import "epochd" "rows" (func (result i32)))
//!     (import "wasi_snapshot_preview1" "fd_write"
//!         (func (param i32 i32 i32 i32) (result i32)))
//!     (memory (export "memory") 1)
//!     (func (export "_initialize"))
//!     (func (export "epochd_abi_version") (result i32) i32.const 1)
//!     (func (export "epochd_run") (result i32) call 0))"#).unwrap();
//! let report = epochd_job_check::check(&wasm);
//! assert!(report.is_ok(), "{report}");
//! assert!(!report.exports_merge());
//! assert!(report.exports_initialize());
//! assert!(report.wasi_imports.contains("fd_write"));
//! ```
#![deny(missing_docs)]

use std::collections::BTreeSet;
use std::fmt;

use wasmparser::{
    CompositeInnerType, ExternalKind, Parser, Payload, TypeRef, ValType, Validator, WasmFeatures,
};

use epochd_job_sys::wasi::Ty as WasiTy;
use ValType::{I32, I64};

/// The wasm features ABI v1 allows: the MVP plus multi-value, bulk memory,
/// mutable globals, sign extension, non-trapping float-to-int, reference
/// types and fixed-width (128-bit) SIMD: what wasmtime enables by default,
/// without relaxed SIMD and later proposals.
pub fn abi_features() -> WasmFeatures {
    WasmFeatures::WASM1
        | WasmFeatures::MULTI_VALUE
        | WasmFeatures::BULK_MEMORY
        | WasmFeatures::SIGN_EXTENSION
        | WasmFeatures::SATURATING_FLOAT_TO_INT
        | WasmFeatures::REFERENCE_TYPES
        | WasmFeatures::SIMD
}

/// The import module of ABI v1.
pub const IMPORT_MODULE: &str = epochd_job_sys::IMPORT_MODULE;

/// The import module of WASI preview 1: ABI v1.1 lets a job import its
/// functions ([`epochd_job_sys::wasi::FUNCTIONS`]), served sandboxed.
pub const WASI_MODULE: &str = epochd_job_sys::wasi::MODULE;

/// The optional export of a WASI reactor (ABI v1.1), `() -> ()`: the daemon
/// calls it first in every run.
pub const EXPORT_INITIALIZE: &str = epochd_job_sys::wasi::EXPORT_INITIALIZE;

/// The functions a job may import from `epochd`, with their parameter and
/// result types, as ABI.md lists them.
pub const IMPORTS: &[(&str, &[ValType], &[ValType])] = &[
    ("epoch", &[], &[I64]),
    ("seq", &[], &[I32]),
    ("rows", &[], &[I32]),
    ("dc", &[I32, I32], &[I32]),
    ("column", &[I32, I32, I32], &[I32]),
    ("column_len", &[I32], &[I32]),
    ("column_dense", &[I32], &[I32]),
    ("column_rows", &[I32, I32, I32, I32], &[I32]),
    ("column_i64", &[I32, I32, I32, I32], &[I32]),
    ("column_f64", &[I32, I32, I32, I32], &[I32]),
    ("column_u8", &[I32, I32, I32, I32], &[I32]),
    ("column_ids", &[I32, I32, I32, I32], &[I32]),
    ("dict_len", &[I32], &[I32]),
    ("dict_entry", &[I32, I32, I32, I32], &[I32]),
    ("column_bytes", &[I32, I32, I32, I32], &[I32]),
    ("container", &[I32, I32, I32], &[I32]),
    ("container_len", &[I32], &[I32]),
    ("container_rows", &[I32, I32, I32, I32], &[I32]),
    ("container_offsets", &[I32, I32, I32, I32], &[I32]),
    ("container_keys", &[I32], &[I32]),
    ("container_values", &[I32, I32], &[I32]),
    ("emit", &[I32, I32], &[I32]),
    ("fail", &[I32, I32], &[]),
    ("log", &[I32, I32, I32], &[]),
    ("config_len", &[], &[I32]),
    ("config_read", &[I32, I32], &[I32]),
    ("merge_input", &[I32, I32, I32], &[I32]),
];

/// The function exports of ABI v1 and whether each is required; all are
/// `() -> i32`. (`_initialize`, ABI v1.1's optional `() -> ()`, is
/// [`EXPORT_INITIALIZE`].)
pub const ENTRY_POINTS: &[(&str, bool)] = &[
    ("epochd_abi_version", true),
    ("epochd_run", true),
    ("epochd_init", false),
    ("epochd_merge", false),
];

/// What [`check`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// The `epochd` functions the module imports.
    pub imports: BTreeSet<String>,
    /// The `wasi_snapshot_preview1` functions it imports (ABI v1.1).
    pub wasi_imports: BTreeSet<String>,
    /// The ABI entry points it exports: `epochd_*`, and `_initialize`.
    pub entry_points: BTreeSet<String>,
    /// Its other exports (allowed, ignored by the host; e.g. rustc's
    /// `__data_end` and `__heap_base`).
    pub other_exports: BTreeSet<String>,
    /// Why the daemon would refuse it; empty when it conforms.
    pub problems: Vec<String>,
}

impl Report {
    /// Whether the module conforms to ABI v1 (with v1.1's WASI imports
    /// and `_initialize`).
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// Whether it exports `epochd_merge`.
    pub fn exports_merge(&self) -> bool {
        self.entry_points.contains("epochd_merge")
    }

    /// Whether it exports `epochd_init`.
    pub fn exports_init(&self) -> bool {
        self.entry_points.contains("epochd_init")
    }

    /// Whether it exports `_initialize` (a WASI reactor, ABI v1.1).
    pub fn exports_initialize(&self) -> bool {
        self.entry_points.contains(EXPORT_INITIALIZE)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_ok() {
            write!(f, "ok")?;
        } else {
            write!(
                f,
                "{} problem(s): {}",
                self.problems.len(),
                self.problems.join("; ")
            )?;
        }
        write!(
            f,
            " (exports {}; imports {} epochd function(s)",
            self.entry_points
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
            self.imports.len()
        )?;
        if !self.wasi_imports.is_empty() {
            write!(f, " and {} WASI function(s)", self.wasi_imports.len())?;
        }
        write!(f, ")")
    }
}

/// Checks a module's bytes against ABI v1 (and v1.1): see the [crate
/// docs](crate).
pub fn check(wasm: &[u8]) -> Report {
    let mut report = Report::default();
    if is_component(wasm) {
        report.problems.push(
            "a WebAssembly component (a Python or JavaScript job, say), not a core module: this \
             checks core modules against ABI v1; the daemon checks a component against the \
             world of sdk/wit/job.wit when it is submitted (`epochd job submit`), naming every \
             import it does not serve"
                .into(),
        );
        return report;
    }
    if let Err(e) = Validator::new_with_features(abi_features()).validate_all(wasm) {
        report.problems.push(format!(
            "not a valid module with ABI v1's wasm features: {e}"
        ));
        return report;
    }
    if let Err(e) = inspect(wasm, &mut report) {
        report.problems.push(format!("unreadable module: {e}"));
    }
    report
}

/// Binary wasm of the component layer (1), not a core module (0).
fn is_component(wasm: &[u8]) -> bool {
    wasm.len() >= 8 && wasm.starts_with(b"\0asm") && wasm[6..8] == [1, 0]
}

type Signature = (Vec<ValType>, Vec<ValType>);

fn inspect(wasm: &[u8], report: &mut Report) -> Result<(), wasmparser::BinaryReaderError> {
    // Types by index (None for non-function types), then the type of every
    // function by function index (imports first).
    let mut types: Vec<Option<Signature>> = Vec::new();
    let mut funcs: Vec<u32> = Vec::new();
    let mut memories: Vec<(bool, bool)> = Vec::new();
    let mut exports: Vec<(String, ExternalKind, u32)> = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload? {
            Payload::TypeSection(reader) => {
                for group in reader {
                    for sub in group?.into_types() {
                        types.push(match sub.composite_type.inner {
                            CompositeInnerType::Func(f) => {
                                Some((f.params().to_vec(), f.results().to_vec()))
                            }
                            _ => None,
                        });
                    }
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import?;
                    let (kind, signature) = match import.ty {
                        TypeRef::Func(t) | TypeRef::FuncExact(t) => {
                            funcs.push(t);
                            ("func", Some(types.get(t as usize).cloned().flatten()))
                        }
                        TypeRef::Memory(_) => ("memory", None),
                        TypeRef::Table(_) => ("table", None),
                        TypeRef::Global(_) => ("global", None),
                        TypeRef::Tag(_) => ("tag", None),
                    };
                    check_import(report, import.module, import.name, kind, signature);
                }
            }
            Payload::FunctionSection(reader) => {
                for t in reader {
                    funcs.push(t?);
                }
            }
            Payload::MemorySection(reader) => {
                for m in reader {
                    let m = m?;
                    memories.push((m.memory64, m.shared));
                }
            }
            Payload::ExportSection(reader) => {
                for e in reader {
                    let e = e?;
                    exports.push((e.name.to_owned(), e.kind, e.index));
                }
            }
            _ => {}
        }
    }
    let signature_of = |kind: &ExternalKind, func: u32| -> Option<Signature> {
        if !matches!(kind, ExternalKind::Func | ExternalKind::FuncExact) {
            return None;
        }
        let t = *funcs.get(func as usize)?;
        types.get(t as usize).cloned().flatten()
    };
    let mut has_memory = false;
    let mut has_start = false;
    for (name, kind, index) in &exports {
        if name == "memory" {
            has_memory = true;
            match (kind, memories.get(*index as usize)) {
                (ExternalKind::Memory, Some((false, false))) => {}
                (ExternalKind::Memory, Some(_)) => report
                    .problems
                    .push("export \"memory\": must be a 32-bit, unshared memory".into()),
                _ => report
                    .problems
                    .push("export \"memory\": must be the module's own memory".into()),
            }
        } else if ENTRY_POINTS.iter().any(|(n, _)| n == name) {
            report.entry_points.insert(name.clone());
            if signature_of(kind, *index) != Some((vec![], vec![I32])) {
                report
                    .problems
                    .push(format!("export {name:?}: must be a function () -> i32"));
            }
        } else if name == EXPORT_INITIALIZE {
            report.entry_points.insert(name.clone());
            if signature_of(kind, *index) != Some((vec![], vec![])) {
                report.problems.push(format!(
                    "export {name:?}: must be a function () -> () (a WASI reactor's \
                     initializer, which the daemon calls first in every run)"
                ));
            }
        } else {
            has_start |= name == "_start";
            report.other_exports.insert(name.clone());
        }
    }
    if !has_memory {
        report
            .problems
            .push("no export \"memory\": the host copies data into it".into());
    }
    for (name, required) in ENTRY_POINTS {
        if *required && !report.entry_points.contains(*name) {
            let mut problem = format!("no export {name:?} (required)");
            if has_start {
                problem.push_str(
                    ": this module is a WASI command (it exports \"_start\": a program with a \
                     `main`), and a job is a reactor, a library of entry points; build it as \
                     one (Go `-buildmode=c-shared` with `//go:wasmexport`, Rust a `cdylib`, C \
                     `-mexec-model=reactor`, Zig `-fno-entry -rdynamic`)",
                );
            }
            report.problems.push(problem);
        }
    }
    Ok(())
}

/// Checks one import, in the daemon's order: its module, then that it is a
/// function, then its name, then its signature. `signature` is `None` for
/// an import that is not a function (`kind` says what it is), `Some(None)`
/// for a function whose type could not be read.
fn check_import(
    report: &mut Report,
    module: &str,
    name: &str,
    kind: &str,
    signature: Option<Option<Signature>>,
) {
    let what = format!("import {module:?} {name:?} ({kind})");
    let (abi, used) = match module {
        IMPORT_MODULE => ("ABI v1", &mut report.imports),
        WASI_MODULE => ("WASI preview 1", &mut report.wasi_imports),
        _ => {
            report.problems.push(format!(
                "{what}: module {module:?} is not provided (only {IMPORT_MODULE:?} and \
                 {WASI_MODULE:?} are)"
            ));
            return;
        }
    };
    let Some(signature) = signature else {
        report.problems.push(format!(
            "{what}: only functions may be imported; the module must define its own {kind}"
        ));
        return;
    };
    let want = if module == IMPORT_MODULE {
        IMPORTS
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, params, results)| (params.to_vec(), results.to_vec()))
    } else {
        wasi_signature(name)
    };
    let Some(want) = want else {
        let hint = if module == IMPORT_MODULE {
            " (check its spelling and the ABI version your SDK targets)"
        } else {
            " (is it from another WASI version? only preview 1's functions are served)"
        };
        report
            .problems
            .push(format!("{what}: not a function of {abi}{hint}"));
        return;
    };
    if signature.as_ref() != Some(&want) {
        report.problems.push(format!(
            "{what}: signature {} differs from {abi}'s {}",
            signature.map_or_else(|| "?".into(), |s| show(&s)),
            show(&want)
        ));
        return;
    }
    used.insert(name.to_owned());
}

/// The signature of WASI preview 1 function `name`, if it has one.
fn wasi_signature(name: &str) -> Option<Signature> {
    let (_, params, errno) = epochd_job_sys::wasi::function(name)?;
    let params = params
        .iter()
        .map(|t| match t {
            WasiTy::I32 => I32,
            WasiTy::I64 => I64,
        })
        .collect();
    let results = if errno { vec![I32] } else { vec![] };
    Some((params, results))
}

fn show((params, results): &Signature) -> String {
    let list = |v: &[ValType]| {
        v.iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!("({}) -> ({})", list(params), list(results))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(wat: &str) -> Report {
        check(&wat::parse_str(wat).expect("valid wat"))
    }

    const GOOD_EXPORTS: &str = r#"
        (memory (export "memory") 1)
        (func (export "epochd_abi_version") (result i32) i32.const 1)
        (func (export "epochd_run") (result i32) i32.const 0)"#;

    #[test]
    fn minimal_job_conforms() {
        let r = report(&format!("(module {GOOD_EXPORTS})"));
        assert!(r.is_ok(), "{r}");
        assert!(r.imports.is_empty());
    }

    #[test]
    fn every_abi_import_with_its_signature_is_accepted() {
        let imports: String = IMPORTS
            .iter()
            .map(|(name, params, results)| {
                let p: Vec<String> = params.iter().map(|t| t.to_string()).collect();
                let r: Vec<String> = results.iter().map(|t| t.to_string()).collect();
                format!(
                    "(import \"epochd\" \"{name}\" (func (param {}) (result {})))\n",
                    p.join(" "),
                    r.join(" ")
                )
            })
            .collect();
        let r = report(&format!("(module {imports} {GOOD_EXPORTS})"));
        assert!(r.is_ok(), "{r}");
        assert_eq!(r.imports.len(), IMPORTS.len());
    }

    /// A WASI preview 1 import of `name` with `sig` (wasm text).
    fn wasi(name: &str, sig: &str) -> String {
        format!("(import \"wasi_snapshot_preview1\" \"{name}\" (func {sig}))\n")
    }

    #[test]
    fn served_wasi_imports_with_their_signatures_are_accepted() {
        let imports = [
            wasi("fd_write", "(param i32 i32 i32 i32) (result i32)"),
            wasi("clock_time_get", "(param i32 i64 i32) (result i32)"),
            wasi("random_get", "(param i32 i32) (result i32)"),
            wasi("proc_exit", "(param i32)"),
            wasi("sched_yield", "(result i32)"),
        ]
        .concat();
        let r = report(&format!(
            r#"(module (import "epochd" "rows" (func (result i32))) {imports} {GOOD_EXPORTS})"#
        ));
        assert!(r.is_ok(), "{r}");
        let names: Vec<&str> = r.wasi_imports.iter().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "clock_time_get",
                "fd_write",
                "proc_exit",
                "random_get",
                "sched_yield"
            ]
        );
        assert_eq!(r.imports.len(), 1);
        assert!(r.to_string().contains("and 5 WASI function(s)"), "{r}");
    }

    #[test]
    fn every_wasi_preview1_function_with_its_signature_is_accepted() {
        let imports: String = epochd_job_sys::wasi::FUNCTIONS
            .iter()
            .map(|(name, params, errno)| {
                let p: Vec<&str> = params
                    .iter()
                    .map(|t| match t {
                        WasiTy::I32 => "i32",
                        WasiTy::I64 => "i64",
                    })
                    .collect();
                let result = if *errno { "(result i32)" } else { "" };
                wasi(name, &format!("(param {}) {result}", p.join(" ")))
            })
            .collect();
        let r = report(&format!("(module {imports} {GOOD_EXPORTS})"));
        assert!(r.is_ok(), "{r}");
        assert_eq!(r.wasi_imports.len(), 46);
    }

    #[test]
    fn an_unknown_wasi_function_is_refused() {
        let r = report(&format!(
            "(module {} {GOOD_EXPORTS})",
            wasi("fd_open", "(param i32) (result i32)")
        ));
        assert_eq!(r.problems.len(), 1, "{r}");
        assert!(
            r.problems[0].starts_with(
                "import \"wasi_snapshot_preview1\" \"fd_open\" (func): not a function of WASI \
                 preview 1"
            ),
            "{r}"
        );
        assert!(r.wasi_imports.is_empty());
    }

    #[test]
    fn a_wasi_function_with_another_signature_is_refused() {
        let r = report(&format!(
            "(module {} {} {GOOD_EXPORTS})",
            wasi("fd_write", "(param i32 i32) (result i32)"),
            // Right parameters, but proc_exit returns nothing.
            wasi("proc_exit", "(param i32) (result i32)"),
        ));
        assert_eq!(
            r.problems,
            [
                "import \"wasi_snapshot_preview1\" \"fd_write\" (func): signature (i32, i32) -> \
                 (i32) differs from WASI preview 1's (i32, i32, i32, i32) -> (i32)",
                "import \"wasi_snapshot_preview1\" \"proc_exit\" (func): signature (i32) -> \
                 (i32) differs from WASI preview 1's (i32) -> ()",
            ],
            "{r}"
        );
        assert!(r.wasi_imports.is_empty());
    }

    #[test]
    fn other_modules_are_refused_wasi_versions_included() {
        let r = report(&format!(
            r#"(module
                (import "env" "now" (func (result i64)))
                (import "wasi_unstable" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
                {GOOD_EXPORTS})"#
        ));
        assert_eq!(
            r.problems,
            [
                "import \"env\" \"now\" (func): module \"env\" is not provided (only \"epochd\" \
                 and \"wasi_snapshot_preview1\" are)",
                "import \"wasi_unstable\" \"fd_write\" (func): module \"wasi_unstable\" is not \
                 provided (only \"epochd\" and \"wasi_snapshot_preview1\" are)",
            ],
            "{r}"
        );
    }

    #[test]
    fn only_functions_may_be_imported_from_wasi() {
        let r = report(&format!(
            r#"(module (import "wasi_snapshot_preview1" "fd_write" (global i32)) {GOOD_EXPORTS})"#
        ));
        assert_eq!(r.problems.len(), 1, "{r}");
        assert!(
            r.problems[0].contains("(global): only functions may be imported"),
            "{r}"
        );
    }

    #[test]
    fn initialize_is_accepted_as_a_function_of_nothing_to_nothing() {
        let r = report(&format!(
            r#"(module (func (export "_initialize")) {GOOD_EXPORTS})"#
        ));
        assert!(r.is_ok(), "{r}");
        assert!(r.exports_initialize());
        let r = report(&format!("(module {GOOD_EXPORTS})"));
        assert!(!r.exports_initialize());
    }

    #[test]
    fn initialize_of_another_type_is_refused() {
        let wrong = [
            r#"(func (export "_initialize") (result i32) i32.const 0)"#,
            r#"(func (export "_initialize") (param i32))"#,
            r#"(global (export "_initialize") i32 (i32.const 0))"#,
        ];
        for item in wrong {
            let r = report(&format!("(module {item} {GOOD_EXPORTS})"));
            assert_eq!(r.problems.len(), 1, "{item}: {r}");
            assert!(
                r.problems[0].starts_with("export \"_initialize\": must be a function () -> ()"),
                "{item}: {r}"
            );
        }
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let r = report(
            r#"(module
                (import "env" "now" (func (result i64)))
                (import "epochd" "rows" (func (result i64)))
                (import "wasi_snapshot_preview1" "fd_open" (func))
                (import "wasi_snapshot_preview1" "fd_write" (func))
                (import "wasi_snapshot_preview1" "random_get" (func (param i32 i32) (result i32)))
                (memory (export "memory") 1)
                (func (export "_initialize") (result i32) i32.const 0)
                (func (export "epochd_abi_version") (result i32) i32.const 1))"#,
        );
        let all = r.problems.join("\n");
        assert_eq!(r.problems.len(), 6, "{all}");
        for part in [
            "\"env\" \"now\" (func): module \"env\" is not provided",
            "\"epochd\" \"rows\" (func): signature () -> (i64) differs from ABI v1's",
            "\"fd_open\" (func): not a function of WASI preview 1",
            "\"fd_write\" (func): signature () -> () differs from WASI preview 1's",
            "export \"_initialize\": must be a function () -> ()",
            "no export \"epochd_run\" (required)",
        ] {
            assert!(all.contains(part), "{part}: {all}");
        }
        // The right imports are still counted.
        assert!(r.wasi_imports.contains("random_get"), "{r:?}");
    }

    #[test]
    fn a_wasi_command_is_told_to_build_a_reactor() {
        let r = report(&format!(
            r#"(module {}
                (memory (export "memory") 1)
                (func (export "_start"))
                (func (export "epochd_abi_version") (result i32) i32.const 1))"#,
            wasi("proc_exit", "(param i32)")
        ));
        assert_eq!(r.problems.len(), 1, "{r}");
        assert!(r.problems[0].contains("WASI command"), "{r}");
        assert!(r.problems[0].contains("-buildmode=c-shared"), "{r}");
    }

    #[test]
    fn wrong_import_signature_is_refused() {
        let r = report(&format!(
            r#"(module (import "epochd" "rows" (func (result i64))) {GOOD_EXPORTS})"#
        ));
        assert!(r.problems[0].contains("differs from ABI v1"), "{r}");
    }

    #[test]
    fn unknown_import_is_refused() {
        let r = report(&format!(
            r#"(module (import "epochd" "clock" (func (result i64))) {GOOD_EXPORTS})"#
        ));
        assert!(r.problems[0].contains("not a function of ABI v1"), "{r}");
    }

    #[test]
    fn missing_and_mistyped_exports_are_refused() {
        let r = report(
            r#"(module (memory (export "memory") 1)
                (func (export "epochd_run") (param i32) (result i32) i32.const 0)
                (func (export "epochd_merge") (result i64) i64.const 0))"#,
        );
        let all = r.problems.join("\n");
        assert!(
            all.contains("\"epochd_run\": must be a function () -> i32"),
            "{all}"
        );
        assert!(
            all.contains("\"epochd_merge\": must be a function () -> i32"),
            "{all}"
        );
        assert!(all.contains("no export \"epochd_abi_version\""), "{all}");
    }

    #[test]
    fn missing_memory_is_refused() {
        let r = report(
            r#"(module
                (func (export "epochd_abi_version") (result i32) i32.const 1)
                (func (export "epochd_run") (result i32) i32.const 0))"#,
        );
        assert!(r.problems[0].contains("no export \"memory\""), "{r}");
    }

    #[test]
    fn imported_memory_is_refused() {
        let r = report(
            r#"(module (import "epochd" "memory" (memory 1))
                (func (export "epochd_abi_version") (result i32) i32.const 1)
                (func (export "epochd_run") (result i32) i32.const 0)
                (export "memory" (memory 0)))"#,
        );
        assert!(!r.is_ok(), "{r}");
    }

    #[test]
    fn simd_is_allowed_relaxed_simd_is_refused() {
        let simd = report(&format!(
            r#"(module {GOOD_EXPORTS} (func (result v128) v128.const i64x2 0 0))"#
        ));
        assert!(simd.is_ok(), "{simd}");
        let relaxed = report(&format!(
            r#"(module {GOOD_EXPORTS}
                (func (result v128) v128.const i64x2 0 0 i32x4.relaxed_trunc_f32x4_s))"#
        ));
        assert!(relaxed.problems[0].contains("wasm features"), "{relaxed}");
    }
}
