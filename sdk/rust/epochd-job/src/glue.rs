//! What the exports written by `#[job]` and `#[merge]` call. Not public API:
//! reached through `epochd_job::__private` by the macros' output only.

use crate::host;
use crate::output::{JobResult, Output};
use crate::{Epoch, JobError};

/// The value of `epochd_abi_version`.
pub const ABI_VERSION: i32 = epochd_job_sys::ABI_VERSION;

/// `epochd_run`: runs the job on the current epoch and hands its result to
/// the host. 0 on success; on failure, 1 after `fail` with the reason.
pub fn run<F, R>(job: F) -> i32
where
    F: FnOnce(&Epoch) -> R,
    R: JobResult,
{
    install_panic_hook();
    let epoch = Epoch::current();
    finish(job(&epoch).into_job_result())
}

/// `epochd_merge`: reads the two inputs and emits their combination. An
/// empty input is the identity (ABI v1's law), applied here without calling
/// `merge`, so every job obeys it byte for byte.
pub fn merge<F, R>(merge: F) -> i32
where
    F: FnOnce(&[u8], &[u8]) -> R,
    R: JobResult,
{
    install_panic_hook();
    let result = merge_input(0).and_then(|a| {
        let b = merge_input(1)?;
        if a.is_empty() {
            Ok(Output::from(b))
        } else if b.is_empty() {
            Ok(Output::from(a))
        } else {
            merge(&a, &b).into_job_result()
        }
    });
    finish(result)
}

/// Type-checks a `#[job]` function on every target (the macro calls it in a
/// constant), so a wrong signature fails native builds too.
pub fn assert_job<F, R>(_job: F)
where
    F: Fn(&Epoch) -> R,
    R: JobResult,
{
}

/// Type-checks a `#[merge]` function on every target.
pub fn assert_merge<F, R>(_merge: F)
where
    F: Fn(&[u8], &[u8]) -> R,
    R: JobResult,
{
}

fn merge_input(which: i32) -> Result<Vec<u8>, JobError> {
    let mut buf = Vec::new();
    host::read_var(&mut buf, |dst| host::merge_input(which, dst)).map_err(|code| {
        JobError::Abi {
            call: "merge_input",
            code,
        }
    })?;
    Ok(buf)
}

fn finish(result: Result<Output, JobError>) -> i32 {
    let error = match result.and_then(|out| emit(&out)) {
        Ok(()) => return 0,
        Err(e) => e,
    };
    host::fail(error.to_string().as_bytes());
    1
}

fn emit(out: &Output) -> Result<(), JobError> {
    if out.is_empty() {
        return Ok(());
    }
    match host::emit(out.as_bytes()) {
        code if code >= 0 => Ok(()),
        host::TOO_LARGE => Err(JobError::TooLarge { len: out.len() }),
        code => Err(JobError::Abi { call: "emit", code }),
    }
}

/// On wasm32 a panic aborts (a trap); the hook first hands its message to
/// the host with `fail`, so the recorded error says why. Natively panics
/// stay with the test harness.
fn install_panic_hook() {
    #[cfg(target_arch = "wasm32")]
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let what = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("a non-string panic payload");
        let message = match info.location() {
            Some(at) => format!("job panicked at {}:{}: {what}", at.file(), at.line()),
            None => format!("job panicked: {what}"),
        };
        host::fail(message.as_bytes());
    }));
}
