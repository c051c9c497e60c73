//! ABI v1 as data: the functions a job may import, the exports it must (or
//! may) have, and the error codes. `sdk/ABI.md` is the prose; the linker
//! (host.rs) and the submission check (submit.rs) are both checked against
//! these tables, so the three cannot drift apart silently.

use std::fmt;

// The version, the import module and the error codes are defined once, in
// the guest's raw ABI crate, so host and guests cannot disagree on them.
pub use epochd_job_sys::{ErrorCode, ABI_VERSION, IMPORT_MODULE};

/// A core wasm value type, as far as ABI v1 uses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    I32,
    I64,
}

impl Ty {
    pub(crate) fn wat(self) -> &'static str {
        match self {
            Ty::I32 => "i32",
            Ty::I64 => "i64",
        }
    }
}

/// A function signature of ABI v1.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Signature {
    pub(crate) params: &'static [Ty],
    pub(crate) results: &'static [Ty],
}

impl fmt::Display for Signature {
    /// In WebAssembly text form: `(func (param i32 i32) (result i32))`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(func")?;
        if !self.params.is_empty() {
            write!(f, " (param")?;
            for p in self.params {
                write!(f, " {}", p.wat())?;
            }
            write!(f, ")")?;
        }
        if !self.results.is_empty() {
            write!(f, " (result")?;
            for r in self.results {
                write!(f, " {}", r.wat())?;
            }
            write!(f, ")")?;
        }
        write!(f, ")")
    }
}

const fn sig(params: &'static [Ty], results: &'static [Ty]) -> Signature {
    Signature { params, results }
}

use Ty::{I32, I64};

const NONE: &[Ty] = &[];
const I32_1: &[Ty] = &[I32];
const I32_2: &[Ty] = &[I32, I32];
const I32_3: &[Ty] = &[I32, I32, I32];
const I32_4: &[Ty] = &[I32, I32, I32, I32];

/// Every function of ABI v1 (module `epochd`), in ABI.md's order.
pub(crate) const FUNCTIONS: &[(&str, Signature)] = &[
    // The epoch.
    ("epoch", sig(NONE, &[I64])),
    ("seq", sig(NONE, I32_1)),
    ("rows", sig(NONE, I32_1)),
    ("dc", sig(I32_2, I32_1)),
    // Columns.
    ("column", sig(I32_3, I32_1)),
    ("column_len", sig(I32_1, I32_1)),
    ("column_dense", sig(I32_1, I32_1)),
    ("column_rows", sig(I32_4, I32_1)),
    ("column_i64", sig(I32_4, I32_1)),
    ("column_f64", sig(I32_4, I32_1)),
    ("column_u8", sig(I32_4, I32_1)),
    ("column_ids", sig(I32_4, I32_1)),
    ("dict_len", sig(I32_1, I32_1)),
    ("dict_entry", sig(I32_4, I32_1)),
    ("column_bytes", sig(I32_4, I32_1)),
    // Containers.
    ("container", sig(I32_3, I32_1)),
    ("container_len", sig(I32_1, I32_1)),
    ("container_rows", sig(I32_4, I32_1)),
    ("container_offsets", sig(I32_4, I32_1)),
    ("container_keys", sig(I32_1, I32_1)),
    ("container_values", sig(I32_2, I32_1)),
    // Output, config, logs.
    ("emit", sig(I32_2, I32_1)),
    ("fail", sig(I32_2, NONE)),
    ("log", sig(I32_3, NONE)),
    ("config_len", sig(NONE, I32_1)),
    ("config_read", sig(I32_2, I32_1)),
    // Merge.
    ("merge_input", sig(I32_3, I32_1)),
];

/// ABI v1 function `name` (its static name and signature), if there is one.
pub(crate) fn function(name: &str) -> Option<(&'static str, Signature)> {
    FUNCTIONS.iter().find(|(n, _)| *n == name).copied()
}

/// The names of every ABI v1 function, comma-separated (for error messages).
pub(crate) fn function_names() -> String {
    FUNCTIONS
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The entry-point exports: all `() -> i32`.
pub(crate) const ENTRY_SIGNATURE: Signature = sig(NONE, I32_1);

/// Required: must return [`ABI_VERSION`].
pub(crate) const EXPORT_ABI_VERSION: &str = "epochd_abi_version";
/// Required: processes the epoch.
pub(crate) const EXPORT_RUN: &str = "epochd_run";
/// Optional: called before `epochd_run` / `epochd_merge` in every instance.
pub(crate) const EXPORT_INIT: &str = "epochd_init";
/// Optional: combines two results.
pub(crate) const EXPORT_MERGE: &str = "epochd_merge";
/// Optional (ABI v1.1): a WASI reactor's initializer, `() -> ()`, called
/// at the start of every run, before `epochd_init`.
pub(crate) const EXPORT_INITIALIZE: &str = "_initialize";
/// Required: the linear memory the host copies into.
pub(crate) const EXPORT_MEMORY: &str = "memory";

/// Message bytes `fail` keeps; longer messages are cut (at a UTF-8 boundary).
pub const MAX_FAIL_MESSAGE_BYTES: usize = 4096;
/// Log lines a run keeps; later lines are counted and dropped.
pub const MAX_LOG_LINES: usize = 64;
/// Log bytes a run keeps in all; a line past it is cut, later lines dropped.
pub const MAX_LOG_BYTES: usize = 16 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_error_codes_round_trip() {
        let mut names: Vec<_> = FUNCTIONS.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FUNCTIONS.len());
        for code in -6..=-1 {
            assert_eq!(ErrorCode::from_code(code).unwrap().code(), code);
        }
        assert_eq!(ErrorCode::from_code(0), None);
        assert_eq!(
            function("column").unwrap().1.to_string(),
            "(func (param i32 i32 i32) (result i32))"
        );
        assert_eq!(
            function("fail").unwrap().1.to_string(),
            "(func (param i32 i32))"
        );
    }
}
