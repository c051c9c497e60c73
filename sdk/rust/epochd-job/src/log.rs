//! Log lines, kept by the host with the run (at most 64 lines and 16 KiB
//! per run).

pub use epochd_job_sys::LogLevel as Level;

use crate::host;

/// Writes a log line at `level`.
pub fn log(level: Level, message: &str) {
    host::log(level as i32, message.as_bytes());
}

/// Logs at [`Level::Error`], formatted like `format!`.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Error, &::std::format!($($arg)*)) };
}

/// Logs at [`Level::Warn`], formatted like `format!`.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Warn, &::std::format!($($arg)*)) };
}

/// Logs at [`Level::Info`], formatted like `format!`.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Info, &::std::format!($($arg)*)) };
}

/// Logs at [`Level::Debug`], formatted like `format!`.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log::log($crate::log::Level::Debug, &::std::format!($($arg)*)) };
}
