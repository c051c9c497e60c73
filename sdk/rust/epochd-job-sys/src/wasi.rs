//! ABI v1.1: the functions of `wasi_snapshot_preview1` a job may import,
//! with their signatures (sdk/ABI.md, "WASI"). The daemon serves every one
//! of them sandboxed; `epochd-job-check` accepts exactly these. Defined
//! once, here, so the two cannot disagree.

/// The import module of WASI preview 1.
pub const MODULE: &str = "wasi_snapshot_preview1";

/// A parameter type of a preview 1 function (all results are one `i32`
/// errno, except `proc_exit`'s, which has none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    /// `i32`.
    I32,
    /// `i64`.
    I64,
}

use Ty::{I32, I64};

/// Every function of preview 1: its name, its parameters, and whether it
/// returns an errno (all but `proc_exit`).
pub const FUNCTIONS: &[(&str, &[Ty], bool)] = &[
    ("args_get", &[I32, I32], true),
    ("args_sizes_get", &[I32, I32], true),
    ("environ_get", &[I32, I32], true),
    ("environ_sizes_get", &[I32, I32], true),
    ("clock_res_get", &[I32, I32], true),
    ("clock_time_get", &[I32, I64, I32], true),
    ("fd_advise", &[I32, I64, I64, I32], true),
    ("fd_allocate", &[I32, I64, I64], true),
    ("fd_close", &[I32], true),
    ("fd_datasync", &[I32], true),
    ("fd_fdstat_get", &[I32, I32], true),
    ("fd_fdstat_set_flags", &[I32, I32], true),
    ("fd_fdstat_set_rights", &[I32, I64, I64], true),
    ("fd_filestat_get", &[I32, I32], true),
    ("fd_filestat_set_size", &[I32, I64], true),
    ("fd_filestat_set_times", &[I32, I64, I64, I32], true),
    ("fd_pread", &[I32, I32, I32, I64, I32], true),
    ("fd_prestat_get", &[I32, I32], true),
    ("fd_prestat_dir_name", &[I32, I32, I32], true),
    ("fd_pwrite", &[I32, I32, I32, I64, I32], true),
    ("fd_read", &[I32, I32, I32, I32], true),
    ("fd_readdir", &[I32, I32, I32, I64, I32], true),
    ("fd_renumber", &[I32, I32], true),
    ("fd_seek", &[I32, I64, I32, I32], true),
    ("fd_sync", &[I32], true),
    ("fd_tell", &[I32, I32], true),
    ("fd_write", &[I32, I32, I32, I32], true),
    ("path_create_directory", &[I32, I32, I32], true),
    ("path_filestat_get", &[I32, I32, I32, I32, I32], true),
    (
        "path_filestat_set_times",
        &[I32, I32, I32, I32, I64, I64, I32],
        true,
    ),
    ("path_link", &[I32, I32, I32, I32, I32, I32, I32], true),
    (
        "path_open",
        &[I32, I32, I32, I32, I32, I64, I64, I32, I32],
        true,
    ),
    ("path_readlink", &[I32, I32, I32, I32, I32, I32], true),
    ("path_remove_directory", &[I32, I32, I32], true),
    ("path_rename", &[I32, I32, I32, I32, I32, I32], true),
    ("path_symlink", &[I32, I32, I32, I32, I32], true),
    ("path_unlink_file", &[I32, I32, I32], true),
    ("poll_oneoff", &[I32, I32, I32, I32], true),
    ("proc_exit", &[I32], false),
    ("proc_raise", &[I32], true),
    ("sched_yield", &[], true),
    ("random_get", &[I32, I32], true),
    ("sock_accept", &[I32, I32, I32], true),
    ("sock_recv", &[I32, I32, I32, I32, I32, I32], true),
    ("sock_send", &[I32, I32, I32, I32, I32], true),
    ("sock_shutdown", &[I32, I32], true),
];

/// Preview 1 function `name`: its static name, parameters and whether it
/// returns an errno.
pub fn function(name: &str) -> Option<(&'static str, &'static [Ty], bool)> {
    FUNCTIONS.iter().find(|(n, ..)| *n == name).copied()
}

/// The reactor's initializer a WASI module may export, `() -> ()`: the
/// daemon calls it at the start of every run, before `epochd_init`.
pub const EXPORT_INITIALIZE: &str = "_initialize";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        for (i, (a, ..)) in FUNCTIONS.iter().enumerate() {
            assert!(FUNCTIONS[i + 1..].iter().all(|(b, ..)| a != b), "{a}");
        }
        assert_eq!(FUNCTIONS.len(), 46);
        assert_eq!(
            function("proc_exit"),
            Some(("proc_exit", &[I32][..], false))
        );
    }
}
