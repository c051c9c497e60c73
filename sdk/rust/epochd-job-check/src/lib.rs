//! Checks a WebAssembly module against the epochd job ABI, version 1
//! (`sdk/ABI.md`), without running it: what the daemon refuses at
//! submission, checked at build time, for jobs of any language.
//!
//! [`check`] validates the module with exactly the wasm features ABI v1
//! allows, then checks that it
//! - exports `memory` (its own, 32-bit, not shared) and the functions
//!   `epochd_abi_version` and `epochd_run`, each `() -> i32`, and, if
//!   present, `epochd_init` and `epochd_merge` with the same signature;
//! - imports nothing but functions of the module `epochd` listed in ABI v1,
//!   each with the ABI's signature (so no WASI, no imported memory).
//!
//! It cannot check what the functions do (e.g. that `epochd_abi_version`
//! returns 1): the daemon's conformance runs do.
//!
//! ```
//! let wasm = wat::parse_str(r#"(module
//!     (import "epochd" "rows" (func (result i32)))
//!     (memory (export "memory") 1)
//!     (func (export "epochd_abi_version") (result i32) i32.const 1)
//!     (func (export "epochd_run") (result i32) call 0))"#).unwrap();
//! let report = epochd_job_check::check(&wasm);
//! assert!(report.is_ok(), "{report}");
//! assert!(!report.exports_merge());
//! ```
#![deny(missing_docs)]

use std::collections::BTreeSet;
use std::fmt;

use wasmparser::{
    CompositeInnerType, ExternalKind, Parser, Payload, TypeRef, ValType, Validator, WasmFeatures,
};

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
pub const IMPORT_MODULE: &str = "epochd";

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
/// `() -> i32`.
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
    /// The ABI entry points it exports (`epochd_*`).
    pub entry_points: BTreeSet<String>,
    /// Its other exports (allowed, ignored by the host; e.g. rustc's
    /// `__data_end` and `__heap_base`).
    pub other_exports: BTreeSet<String>,
    /// Why the daemon would refuse it; empty when it conforms.
    pub problems: Vec<String>,
}

impl Report {
    /// Whether the module conforms to ABI v1.
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
            " (exports {}; imports {} epochd function(s))",
            self.entry_points
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
            self.imports.len()
        )
    }
}

/// Checks a module's bytes against ABI v1: see the [crate docs](crate).
pub fn check(wasm: &[u8]) -> Report {
    let mut report = Report::default();
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
                    let what = format!("import {:?} {:?}", import.module, import.name);
                    match import.ty {
                        TypeRef::Func(t) | TypeRef::FuncExact(t) => {
                            funcs.push(t);
                            check_import(
                                report,
                                &what,
                                import.module,
                                import.name,
                                types.get(t as usize).cloned().flatten(),
                            );
                        }
                        _ => report.problems.push(format!(
                            "{what}: only functions of module \"{IMPORT_MODULE}\" may be imported"
                        )),
                    }
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
    let signature_of = |func: u32| -> Option<Signature> {
        let t = *funcs.get(func as usize)?;
        types.get(t as usize).cloned().flatten()
    };
    let mut has_memory = false;
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
            let ok = matches!(kind, ExternalKind::Func | ExternalKind::FuncExact)
                && signature_of(*index) == Some((vec![], vec![I32]));
            if !ok {
                report
                    .problems
                    .push(format!("export {name:?}: must be a function () -> i32"));
            }
        } else {
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
            report
                .problems
                .push(format!("no export {name:?} (required)"));
        }
    }
    Ok(())
}

fn check_import(
    report: &mut Report,
    what: &str,
    module: &str,
    name: &str,
    signature: Option<Signature>,
) {
    if module != IMPORT_MODULE {
        report.problems.push(format!(
            "{what}: only module \"{IMPORT_MODULE}\" may be imported (no WASI: no files, network, clock or randomness)"
        ));
        return;
    }
    let Some((_, params, results)) = IMPORTS.iter().find(|(n, _, _)| *n == name) else {
        report
            .problems
            .push(format!("{what}: not a function of ABI v1"));
        return;
    };
    let want = (params.to_vec(), results.to_vec());
    if signature.as_ref() != Some(&want) {
        report.problems.push(format!(
            "{what}: signature {} differs from ABI v1's {}",
            signature.map_or_else(|| "?".into(), |s| show(&s)),
            show(&want)
        ));
        return;
    }
    report.imports.insert(name.to_owned());
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

    #[test]
    fn wasi_import_is_refused() {
        let r = report(&format!(
            r#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32))) {GOOD_EXPORTS})"#
        ));
        assert!(!r.is_ok());
        assert!(r.problems[0].contains("no WASI"), "{r}");
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
