//! The host functions of ABI v1 as safe functions over slices.
//!
//! On wasm32 each calls the `epochd` import of the same name; a destination
//! slice's length is the `count`/`cap` passed, so the host never writes past
//! it. Elsewhere each goes to the mock installed by [`crate::testing`], and
//! panics without one.
//!
//! Return values are the raw ABI values (`>= 0` a result, `< 0` an error
//! code); [`check`] and [`expect`] turn them into Rust.

use epochd_job_sys::ErrorCode;

/// A slice length as an ABI length: slices of a wasm32 memory are shorter
/// than 2^31 bytes in practice, and a shorter `cap` is always safe (the host
/// copies at most `cap`).
fn cap(len: usize) -> i32 {
    i32::try_from(len).unwrap_or(i32::MAX)
}

/// An ABI index (`start`, `id`, ...) from a `u32` the SDK computed: they are
/// bounded by lengths the host returned as non-negative `i32`.
fn index(i: u32) -> i32 {
    i32::try_from(i).unwrap_or(i32::MAX)
}

/// The raw result of a host call as `Ok(value)` or `Err(code)`; callers
/// match the codes they expect and treat any other as a broken contract.
pub(crate) fn check(code: i32) -> Result<u32, i32> {
    u32::try_from(code).map_err(|_| code)
}

/// The result of a host call that cannot fail unless the host breaks ABI v1
/// (or the SDK has a bug): panics with the call and the code, which the
/// panic hook reports through `fail`.
#[track_caller]
pub(crate) fn expect(call: &str, code: i32) -> u32 {
    match check(code) {
        Ok(v) => v,
        Err(code) => panic!(
            "epochd-job: the host answered `{call}` with {} ({code}); this breaks ABI v1",
            ErrorCode::from_code(code).map_or("an unknown code", ErrorCode::name)
        ),
    }
}

pub(crate) const NOT_FOUND: i32 = ErrorCode::NotFound as i32;
pub(crate) const TOO_LARGE: i32 = ErrorCode::TooLarge as i32;
pub(crate) const WRONG_TYPE: i32 = ErrorCode::WrongType as i32;

pub(crate) use imp::*;

#[cfg(target_arch = "wasm32")]
mod imp {
    use super::{cap, index};
    use epochd_job_sys as sys;

    pub(crate) fn epoch() -> i64 {
        // SAFETY: no arguments.
        unsafe { sys::epoch() }
    }

    pub(crate) fn seq() -> i32 {
        // SAFETY: no arguments.
        unsafe { sys::seq() }
    }

    pub(crate) fn rows() -> i32 {
        // SAFETY: no arguments.
        unsafe { sys::rows() }
    }

    pub(crate) fn dc(dst: &mut [u8]) -> i32 {
        // SAFETY: `dst` is valid for writes of `dst.len()` >= cap bytes.
        unsafe { sys::dc(dst.as_mut_ptr(), cap(dst.len())) }
    }

    pub(crate) fn column(path: &str, ty: i32) -> i32 {
        // SAFETY: `path` is valid for reads of `path.len()` >= len bytes.
        unsafe { sys::column(path.as_ptr(), cap(path.len()), ty) }
    }

    pub(crate) fn column_len(h: i32) -> i32 {
        // SAFETY: integers only; a bad handle is an error code.
        unsafe { sys::column_len(h) }
    }

    pub(crate) fn column_dense(h: i32) -> i32 {
        // SAFETY: integers only.
        unsafe { sys::column_dense(h) }
    }

    pub(crate) fn column_rows(h: i32, start: u32, dst: &mut [u32]) -> i32 {
        // SAFETY: `dst` is valid for writes of `dst.len()` >= count u32s.
        unsafe { sys::column_rows(h, index(start), cap(dst.len()), dst.as_mut_ptr()) }
    }

    pub(crate) fn column_i64(h: i32, start: u32, dst: &mut [i64]) -> i32 {
        // SAFETY: `dst` is valid for writes of `dst.len()` >= count i64s.
        unsafe { sys::column_i64(h, index(start), cap(dst.len()), dst.as_mut_ptr()) }
    }

    pub(crate) fn column_f64(h: i32, start: u32, dst: &mut [f64]) -> i32 {
        // SAFETY: `dst` is valid for writes of `dst.len()` >= count f64s.
        unsafe { sys::column_f64(h, index(start), cap(dst.len()), dst.as_mut_ptr()) }
    }

    pub(crate) fn column_u8(h: i32, start: u32, dst: &mut [u8]) -> i32 {
        // SAFETY: `dst` is valid for writes of `dst.len()` >= count bytes.
        unsafe { sys::column_u8(h, index(start), cap(dst.len()), dst.as_mut_ptr()) }
    }

    pub(crate) fn column_ids(h: i32, start: u32, dst: &mut [u32]) -> i32 {
        // SAFETY: `dst` is valid for writes of `dst.len()` >= count u32s.
        unsafe { sys::column_ids(h, index(start), cap(dst.len()), dst.as_mut_ptr()) }
    }

    pub(crate) fn dict_len(h: i32) -> i32 {
        // SAFETY: integers only.
        unsafe { sys::dict_len(h) }
    }

    pub(crate) fn dict_entry(h: i32, id: u32, dst: &mut [u8]) -> i32 {
        // SAFETY: `dst` is valid for writes of `dst.len()` >= cap bytes.
        unsafe { sys::dict_entry(h, index(id), dst.as_mut_ptr(), cap(dst.len())) }
    }

    pub(crate) fn column_bytes(h: i32, i: u32, dst: &mut [u8]) -> i32 {
        // SAFETY: `dst` is valid for writes of `dst.len()` >= cap bytes.
        unsafe { sys::column_bytes(h, index(i), dst.as_mut_ptr(), cap(dst.len())) }
    }

    pub(crate) fn container(path: &str, kind: i32) -> i32 {
        // SAFETY: `path` is valid for reads of `path.len()` >= len bytes.
        unsafe { sys::container(path.as_ptr(), cap(path.len()), kind) }
    }

    pub(crate) fn container_len(h: i32) -> i32 {
        // SAFETY: integers only.
        unsafe { sys::container_len(h) }
    }

    pub(crate) fn container_rows(h: i32, start: u32, dst: &mut [u32]) -> i32 {
        // SAFETY: `dst` is valid for writes of `dst.len()` >= count u32s.
        unsafe { sys::container_rows(h, index(start), cap(dst.len()), dst.as_mut_ptr()) }
    }

    pub(crate) fn container_offsets(h: i32, start: u32, dst: &mut [u32]) -> i32 {
        // SAFETY: `dst` is valid for writes of `dst.len()` >= count u32s.
        unsafe { sys::container_offsets(h, index(start), cap(dst.len()), dst.as_mut_ptr()) }
    }

    pub(crate) fn container_keys(h: i32) -> i32 {
        // SAFETY: integers only.
        unsafe { sys::container_keys(h) }
    }

    pub(crate) fn container_values(h: i32, ty: i32) -> i32 {
        // SAFETY: integers only.
        unsafe { sys::container_values(h, ty) }
    }

    pub(crate) fn emit(bytes: &[u8]) -> i32 {
        let Ok(len) = i32::try_from(bytes.len()) else {
            return super::TOO_LARGE;
        };
        // SAFETY: `bytes` is valid for reads of `len` bytes.
        unsafe { sys::emit(bytes.as_ptr(), len) }
    }

    pub(crate) fn fail(message: &[u8]) {
        // SAFETY: `message` is valid for reads of `message.len()` >= len bytes.
        unsafe { sys::fail(message.as_ptr(), cap(message.len())) }
    }

    pub(crate) fn log(level: i32, message: &[u8]) {
        // SAFETY: `message` is valid for reads of `message.len()` >= len bytes.
        unsafe { sys::log(level, message.as_ptr(), cap(message.len())) }
    }

    pub(crate) fn config_len() -> i32 {
        // SAFETY: no arguments.
        unsafe { sys::config_len() }
    }

    pub(crate) fn config_read(dst: &mut [u8]) -> i32 {
        // SAFETY: `dst` is valid for writes of `dst.len()` >= cap bytes.
        unsafe { sys::config_read(dst.as_mut_ptr(), cap(dst.len())) }
    }

    pub(crate) fn merge_input(which: i32, dst: &mut [u8]) -> i32 {
        // SAFETY: `dst` is valid for writes of `dst.len()` >= cap bytes.
        unsafe { sys::merge_input(which, dst.as_mut_ptr(), cap(dst.len())) }
    }
}

/// Natively, every call goes to the mock host of [`crate::testing`].
#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::{cap, index};
    use crate::testing::with_host;

    pub(crate) fn epoch() -> i64 {
        with_host("epoch", |h| h.epoch())
    }

    pub(crate) fn seq() -> i32 {
        with_host("seq", |h| h.seq())
    }

    pub(crate) fn rows() -> i32 {
        with_host("rows", |h| h.rows())
    }

    pub(crate) fn dc(dst: &mut [u8]) -> i32 {
        with_host("dc", |h| h.dc(dst))
    }

    pub(crate) fn column(path: &str, ty: i32) -> i32 {
        with_host("column", |h| h.column(path.as_bytes(), ty))
    }

    pub(crate) fn column_len(h: i32) -> i32 {
        with_host("column_len", |m| m.column_len(h))
    }

    pub(crate) fn column_dense(h: i32) -> i32 {
        with_host("column_dense", |m| m.column_dense(h))
    }

    pub(crate) fn column_rows(h: i32, start: u32, dst: &mut [u32]) -> i32 {
        with_host("column_rows", |m| {
            m.column_rows(h, index(start), cap(dst.len()), dst)
        })
    }

    pub(crate) fn column_i64(h: i32, start: u32, dst: &mut [i64]) -> i32 {
        with_host("column_i64", |m| {
            m.column_i64(h, index(start), cap(dst.len()), dst)
        })
    }

    pub(crate) fn column_f64(h: i32, start: u32, dst: &mut [f64]) -> i32 {
        with_host("column_f64", |m| {
            m.column_f64(h, index(start), cap(dst.len()), dst)
        })
    }

    pub(crate) fn column_u8(h: i32, start: u32, dst: &mut [u8]) -> i32 {
        with_host("column_u8", |m| {
            m.column_u8(h, index(start), cap(dst.len()), dst)
        })
    }

    pub(crate) fn column_ids(h: i32, start: u32, dst: &mut [u32]) -> i32 {
        with_host("column_ids", |m| {
            m.column_ids(h, index(start), cap(dst.len()), dst)
        })
    }

    pub(crate) fn dict_len(h: i32) -> i32 {
        with_host("dict_len", |m| m.dict_len(h))
    }

    pub(crate) fn dict_entry(h: i32, id: u32, dst: &mut [u8]) -> i32 {
        with_host("dict_entry", |m| m.dict_entry(h, index(id), dst))
    }

    pub(crate) fn column_bytes(h: i32, i: u32, dst: &mut [u8]) -> i32 {
        with_host("column_bytes", |m| m.column_bytes(h, index(i), dst))
    }

    pub(crate) fn container(path: &str, kind: i32) -> i32 {
        with_host("container", |h| h.container(path.as_bytes(), kind))
    }

    pub(crate) fn container_len(h: i32) -> i32 {
        with_host("container_len", |m| m.container_len(h))
    }

    pub(crate) fn container_rows(h: i32, start: u32, dst: &mut [u32]) -> i32 {
        with_host("container_rows", |m| {
            m.container_rows(h, index(start), cap(dst.len()), dst)
        })
    }

    pub(crate) fn container_offsets(h: i32, start: u32, dst: &mut [u32]) -> i32 {
        with_host("container_offsets", |m| {
            m.container_offsets(h, index(start), cap(dst.len()), dst)
        })
    }

    pub(crate) fn container_keys(h: i32) -> i32 {
        with_host("container_keys", |m| m.container_keys(h))
    }

    pub(crate) fn container_values(h: i32, ty: i32) -> i32 {
        with_host("container_values", |m| m.container_values(h, ty))
    }

    pub(crate) fn emit(bytes: &[u8]) -> i32 {
        with_host("emit", |h| h.emit(bytes))
    }

    pub(crate) fn fail(message: &[u8]) {
        with_host("fail", |h| h.fail(message))
    }

    pub(crate) fn log(level: i32, message: &[u8]) {
        // Logging outside a mock run (e.g. from a helper under test) goes to
        // stderr rather than panicking.
        if !crate::testing::has_host() {
            eprintln!("[{level}] {}", String::from_utf8_lossy(message));
            return;
        }
        with_host("log", |h| h.log(level, message))
    }

    pub(crate) fn config_len() -> i32 {
        with_host("config_len", |h| h.config_len())
    }

    pub(crate) fn config_read(dst: &mut [u8]) -> i32 {
        with_host("config_read", |h| h.config_read(dst))
    }

    pub(crate) fn merge_input(which: i32, dst: &mut [u8]) -> i32 {
        with_host("merge_input", |h| h.merge_input(which, dst))
    }
}

/// Reads a variable-length byte string with the ABI's "returns the length,
/// copies `min(len, cap)`" convention: one call when `buf` is large enough,
/// two when it is not. Returns the raw code on error.
pub(crate) fn read_var(
    buf: &mut Vec<u8>,
    mut call: impl FnMut(&mut [u8]) -> i32,
) -> Result<(), i32> {
    if buf.capacity() < 64 {
        buf.reserve(64);
    }
    let spare = buf.capacity();
    buf.resize(spare, 0);
    let len = check(call(buf))? as usize;
    if len > spare {
        buf.resize(len, 0);
        let again = check(call(buf))? as usize;
        // The host's answer cannot change between two calls of one run.
        buf.truncate(again.min(len));
    } else {
        buf.truncate(len);
    }
    Ok(())
}
