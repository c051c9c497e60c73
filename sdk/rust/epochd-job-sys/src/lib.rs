//! The raw imports of the epochd job ABI, version 1 (`sdk/ABI.md`), and its
//! codes; and, in [`wasi`], the table of the `wasi_snapshot_preview1`
//! functions ABI v1.1 lets a job import (the daemon serves them sandboxed:
//! no files, sockets or real clock; `sdk/ABI.md`, "WASI: what a module
//! built for it sees"), shared by the daemon and `epochd-job-check`. This
//! crate imports no WASI function itself. Nothing else: the `epochd-job`
//! crate builds the friendly SDK on top of this one, and a job should use
//! that crate instead.
//!
//! # Targets
//! On `wasm32` the functions below are imports of the WebAssembly module
//! `epochd`, provided by the daemon. On any other target the same names
//! exist with the same signatures, so that code calling them still compiles
//! (and a job can be unit-tested natively), but each one **panics** with a
//! message saying so: there is no host to call. `epochd-job` never reaches
//! them natively; it routes its calls to its own `testing` mock instead.
//!
//! # Conventions
//! Pointers and lengths are 32-bit offsets into the module's exported
//! memory, written here as raw pointers and `i32`. A return value `>= 0` is
//! a result (a length, a count, a handle); a value `< 0` is an
//! [`ErrorCode`]. A pointer/length pair outside the memory traps.
#![no_std]
#![deny(missing_docs)]

pub mod wasi;

/// The ABI version this crate implements, as `epochd_abi_version` returns it.
pub const ABI_VERSION: i32 = 1;

/// The module the host functions are imported from.
pub const IMPORT_MODULE: &str = "epochd";

/// Why a host function refused a call: the negative return values of ABI v1.
///
/// Every code is a distinct reason a job can act on, which is why they are
/// codes and not one generic failure: a missing column is normal data (an
/// epoch without that field), a bad handle or a wrong type is a bug in the
/// job, a result too large is a limit of the job's manifest.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// No such column, container or entry. Normal: an epoch holds only the
    /// fields its events have, so a job asks and handles the absence.
    NotFound = -1,
    /// The handle was not returned by this instance. Handles are per
    /// instance (a fresh one per run): one kept from elsewhere is a bug.
    BadHandle = -2,
    /// `start`/`index` is beyond the values. Distinct from `NotFound` so a
    /// job can tell "no such column" from "read past its end".
    OutOfRange = -3,
    /// The call does not fit the column's type (e.g. `column_i64` on a
    /// `FLOAT` column, `column_ids` on a column without a dictionary). The
    /// host never converts: a job must know what it reads.
    WrongType = -4,
    /// The result exceeds the job's maximum result size. The run fails: a
    /// truncated result would look like a valid one.
    TooLarge = -5,
    /// The call is not available in this entry point (e.g. `merge_input` in
    /// `epochd_run`).
    NotNow = -6,
}

impl ErrorCode {
    /// The code for a negative return value, or `None` for a code this
    /// version does not know (or a non-negative value, which is no error).
    pub const fn from_code(code: i32) -> Option<ErrorCode> {
        Some(match code {
            -1 => ErrorCode::NotFound,
            -2 => ErrorCode::BadHandle,
            -3 => ErrorCode::OutOfRange,
            -4 => ErrorCode::WrongType,
            -5 => ErrorCode::TooLarge,
            -6 => ErrorCode::NotNow,
            _ => return None,
        })
    }

    /// The numeric code.
    pub const fn code(self) -> i32 {
        self as i32
    }

    /// The name ABI.md gives the code, e.g. `NOT_FOUND`.
    pub const fn name(self) -> &'static str {
        match self {
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::BadHandle => "BAD_HANDLE",
            ErrorCode::OutOfRange => "OUT_OF_RANGE",
            ErrorCode::WrongType => "WRONG_TYPE",
            ErrorCode::TooLarge => "TOO_LARGE",
            ErrorCode::NotNow => "NOT_NOW",
        }
    }
}

impl core::fmt::Display for ErrorCode {
    /// `NOT_FOUND (-1)`: the ABI.md name and the code.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

/// The type of a column's values (the `type` argument of `column` and
/// `container_values`).
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ValueType {
    /// Signed 64-bit integers, copied as `i64`.
    Int = 0,
    /// 64-bit floats, copied as `f64`.
    Float = 1,
    /// Booleans, copied as `u8` (0 or 1).
    Bool = 2,
    /// UTF-8 strings: dictionary ids (`u32`), or bytes one value at a time.
    Str = 3,
    /// Present without a value: a column of rows only.
    Null = 4,
    /// One MessagePack value each, read one at a time.
    Raw = 5,
}

impl ValueType {
    /// Every type, in code order.
    pub const ALL: [ValueType; 6] = [
        ValueType::Int,
        ValueType::Float,
        ValueType::Bool,
        ValueType::Str,
        ValueType::Null,
        ValueType::Raw,
    ];

    /// The type of a code, if it is one.
    pub const fn from_code(code: i32) -> Option<ValueType> {
        Some(match code {
            0 => ValueType::Int,
            1 => ValueType::Float,
            2 => ValueType::Bool,
            3 => ValueType::Str,
            4 => ValueType::Null,
            5 => ValueType::Raw,
            _ => return None,
        })
    }

    /// The numeric code.
    pub const fn code(self) -> i32 {
        self as i32
    }

    /// The name ABI.md gives the type, e.g. `INT`.
    pub const fn name(self) -> &'static str {
        match self {
            ValueType::Int => "INT",
            ValueType::Float => "FLOAT",
            ValueType::Bool => "BOOL",
            ValueType::Str => "STR",
            ValueType::Null => "NULL",
            ValueType::Raw => "RAW",
        }
    }
}

/// The kind of a container (the `kind` argument of `container`).
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContainerKind {
    /// A map whose keys vary from event to event: entries have keys.
    Map = 0,
    /// An array: entries are its elements.
    List = 1,
}

/// The level of a log line (the `level` argument of `log`).
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogLevel {
    /// Something failed.
    Error = 0,
    /// Something looks wrong but the run goes on.
    Warn = 1,
    /// Progress worth seeing.
    Info = 2,
    /// Detail for whoever debugs the job.
    Debug = 3,
}

/// Declares every import once: as `epochd` imports on wasm32, as panicking
/// stand-ins elsewhere.
macro_rules! imports {
    ($(
        $(#[$doc:meta])*
        pub fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)?;
    )*) => {
        #[cfg(target_arch = "wasm32")]
        #[link(wasm_import_module = "epochd")]
        unsafe extern "C" {
            $(
                $(#[$doc])*
                pub fn $name($($arg: $ty),*) $(-> $ret)?;
            )*
        }

        #[cfg(not(target_arch = "wasm32"))]
        mod native {
            $(
                $(#[$doc])*
                ///
                /// Outside wasm32 this stand-in panics: there is no host.
                #[allow(unused_variables)]
                pub unsafe fn $name($($arg: $ty),*) $(-> $ret)? {
                    super::no_host(stringify!($name))
                }
            )*
        }
        #[cfg(not(target_arch = "wasm32"))]
        pub use native::*;
    };
}

#[cfg(not(target_arch = "wasm32"))]
#[cold]
#[inline(never)]
fn no_host(name: &str) -> ! {
    panic!(
        "epochd-job-sys: `{name}` is an import of the epochd host and exists only in wasm32 \
         builds of a job; natively, run the job through `epochd_job::testing::MockEpoch`"
    )
}

imports! {
    /// The epoch (unix second) of this run.
    ///
    /// # Safety
    /// Always safe on wasm32 (no arguments).
    pub fn epoch() -> i64;

    /// 0 for the primary commit, 1.. for supplementary commits of late events.
    ///
    /// # Safety
    /// Always safe on wasm32 (no arguments).
    pub fn seq() -> i32;

    /// The number of events (rows) of the epoch, numbered `0..rows`; 0
    /// during a merge.
    ///
    /// # Safety
    /// Always safe on wasm32 (no arguments).
    pub fn rows() -> i32;

    /// Copies `min(len, cap)` bytes of the dc name to `dst`; returns `len`.
    ///
    /// # Safety
    /// `dst` must be valid for writes of `cap` bytes.
    pub fn dc(dst: *mut u8, cap: i32) -> i32;

    /// A handle to the column at `path` (UTF-8) of type `ty`
    /// ([`ValueType`](crate::ValueType) code), or `NOT_FOUND`.
    ///
    /// # Safety
    /// `path` must be valid for reads of `path_len` bytes.
    pub fn column(path: *const u8, path_len: i32, ty: i32) -> i32;

    /// The number of values of the column.
    ///
    /// # Safety
    /// Always safe on wasm32 (a bad handle returns `BAD_HANDLE`).
    pub fn column_len(h: i32) -> i32;

    /// 1 when every row of the column's space holds a value (value `i` is
    /// row `i`), else 0.
    ///
    /// # Safety
    /// Always safe on wasm32.
    pub fn column_dense(h: i32) -> i32;

    /// Copies the row numbers of values `start..start + count` to `dst`;
    /// returns how many.
    ///
    /// # Safety
    /// `dst` must be valid for writes of `count` `u32`s.
    pub fn column_rows(h: i32, start: i32, count: i32, dst: *mut u32) -> i32;

    /// Copies `INT` values `start..start + count` to `dst`; returns how many.
    ///
    /// # Safety
    /// `dst` must be valid for writes of `count` `i64`s.
    pub fn column_i64(h: i32, start: i32, count: i32, dst: *mut i64) -> i32;

    /// Copies `FLOAT` values `start..start + count` to `dst`; returns how many.
    ///
    /// # Safety
    /// `dst` must be valid for writes of `count` `f64`s.
    pub fn column_f64(h: i32, start: i32, count: i32, dst: *mut f64) -> i32;

    /// Copies `BOOL` values (0 or 1) `start..start + count` to `dst`;
    /// returns how many.
    ///
    /// # Safety
    /// `dst` must be valid for writes of `count` bytes.
    pub fn column_u8(h: i32, start: i32, count: i32, dst: *mut u8) -> i32;

    /// Copies the dictionary ids of `STR` values `start..start + count` to
    /// `dst`; returns how many, or `WRONG_TYPE` without a dictionary.
    ///
    /// # Safety
    /// `dst` must be valid for writes of `count` `u32`s.
    pub fn column_ids(h: i32, start: i32, count: i32, dst: *mut u32) -> i32;

    /// The number of distinct strings of a dictionary column (ids are
    /// `0..dict_len`), or `WRONG_TYPE` without a dictionary.
    ///
    /// # Safety
    /// Always safe on wasm32.
    pub fn dict_len(h: i32) -> i32;

    /// Copies `min(len, cap)` bytes of dictionary string `id` to `dst`;
    /// returns `len`.
    ///
    /// # Safety
    /// `dst` must be valid for writes of `cap` bytes.
    pub fn dict_entry(h: i32, id: i32, dst: *mut u8, cap: i32) -> i32;

    /// Copies `min(len, cap)` bytes of value `index` of a `STR` or `RAW`
    /// column to `dst`; returns `len`.
    ///
    /// # Safety
    /// `dst` must be valid for writes of `cap` bytes.
    pub fn column_bytes(h: i32, index: i32, dst: *mut u8, cap: i32) -> i32;

    /// A handle to the container at `path` of kind `kind`
    /// ([`ContainerKind`](crate::ContainerKind) code), or `NOT_FOUND`.
    ///
    /// # Safety
    /// `path` must be valid for reads of `path_len` bytes.
    pub fn container(path: *const u8, path_len: i32, kind: i32) -> i32;

    /// The number of rows holding the container.
    ///
    /// # Safety
    /// Always safe on wasm32.
    pub fn container_len(h: i32) -> i32;

    /// Copies the holding rows `start..start + count` to `dst`; returns how
    /// many.
    ///
    /// # Safety
    /// `dst` must be valid for writes of `count` `u32`s.
    pub fn container_rows(h: i32, start: i32, count: i32, dst: *mut u32) -> i32;

    /// Copies entry offsets `start..start + count` (there are
    /// `container_len + 1`) to `dst`; returns how many.
    ///
    /// # Safety
    /// `dst` must be valid for writes of `count` `u32`s.
    pub fn container_offsets(h: i32, start: i32, count: i32, dst: *mut u32) -> i32;

    /// A column handle for a map container's keys (a dense `STR` column over
    /// the entries).
    ///
    /// # Safety
    /// Always safe on wasm32.
    pub fn container_keys(h: i32) -> i32;

    /// A column handle for the entries' values of type `ty`, or `NOT_FOUND`.
    ///
    /// # Safety
    /// Always safe on wasm32.
    pub fn container_values(h: i32, ty: i32) -> i32;

    /// Sets the result to `len` bytes at `ptr` (replacing an earlier one);
    /// `TOO_LARGE` past the job's maximum result size, which fails the run.
    ///
    /// # Safety
    /// `ptr` must be valid for reads of `len` bytes.
    pub fn emit(ptr: *const u8, len: i32) -> i32;

    /// Sets the UTF-8 message explaining a failure; the entry point should
    /// then return non-zero.
    ///
    /// # Safety
    /// `ptr` must be valid for reads of `len` bytes.
    pub fn fail(ptr: *const u8, len: i32);

    /// A log line at `level` ([`LogLevel`](crate::LogLevel) code).
    ///
    /// # Safety
    /// `ptr` must be valid for reads of `len` bytes.
    pub fn log(level: i32, ptr: *const u8, len: i32);

    /// The length of the job's config bytes.
    ///
    /// # Safety
    /// Always safe on wasm32.
    pub fn config_len() -> i32;

    /// Copies `min(len, cap)` config bytes to `dst`; returns `len`.
    ///
    /// # Safety
    /// `dst` must be valid for writes of `cap` bytes.
    pub fn config_read(dst: *mut u8, cap: i32) -> i32;

    /// Copies `min(len, cap)` bytes of merge input `which` (0 or 1) to
    /// `dst`; returns `len`, or `NOT_NOW` outside `epochd_merge`.
    ///
    /// # Safety
    /// `dst` must be valid for writes of `cap` bytes.
    pub fn merge_input(which: i32, dst: *mut u8, cap: i32) -> i32;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for code in -6..=-1 {
            assert_eq!(ErrorCode::from_code(code).map(ErrorCode::code), Some(code));
        }
        assert_eq!(ErrorCode::from_code(0), None);
        assert_eq!(ErrorCode::from_code(-7), None);
        for t in ValueType::ALL {
            assert_eq!(ValueType::from_code(t.code()), Some(t));
        }
        assert_eq!(ErrorCode::TooLarge.name(), "TOO_LARGE");
    }

    #[test]
    #[should_panic(expected = "exists only in wasm32")]
    fn native_stand_ins_panic() {
        // SAFETY: `rows` takes no arguments; natively it panics, as tested.
        unsafe { rows() };
    }
}
