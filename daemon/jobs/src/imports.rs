//! What a module may import (ABI v1.1): the `epochd` functions, and the
//! functions of `wasi_snapshot_preview1` (served sandboxed, wasi/). A module
//! that imports anything else is refused with every offending import listed
//! at once, and advice for the toolchain that built it.

use std::fmt;

use wasmtime::{ExternType, Module};

use crate::abi::{self, IMPORT_MODULE};
use crate::error::SubmitError;
use crate::submit::{func_text, kind, matches};
use crate::toolchain::Toolchain;
use crate::wasi::{self, WASI_MODULE};

/// One import a module may not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportProblem {
    /// The import's module.
    pub module: String,
    /// The import's name.
    pub name: String,
    /// What is imported: `func`, `memory`, `table`, `global`, `tag`.
    pub kind: &'static str,
    /// Why it is refused.
    pub reason: ImportReason,
}

/// Why an import is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImportReason {
    /// From a module other than `epochd` and `wasi_snapshot_preview1`.
    ForeignModule,
    /// Not a function (a memory, table, global or tag).
    NotAFunction,
    /// No function of that name in its module.
    UnknownFunction,
    /// A component's import of an interface epochd does not serve
    /// (anything but `epochd:job/*@1.x` and WASI 0.2's cli, clocks,
    /// filesystem, io, random and sockets).
    NotServed,
    /// The function exists with another signature.
    WrongSignature {
        /// The ABI's signature, in wasm text form.
        expected: String,
        /// The module's.
        found: String,
    },
}

impl ImportReason {
    /// The API's error code for a refusal whose first problem is this one.
    pub fn code(&self) -> &'static str {
        match self {
            ImportReason::ForeignModule | ImportReason::NotAFunction | ImportReason::NotServed => {
                "forbidden_import"
            }
            ImportReason::UnknownFunction => "unknown_import",
            ImportReason::WrongSignature { .. } => "wrong_import",
        }
    }
}

impl ImportProblem {
    /// Why it is refused, in words: what its `Display` writes after the
    /// import's name.
    pub fn why(&self) -> String {
        Why(self).to_string()
    }
}

impl fmt::Display for ImportProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (module, name, kind) = (&self.module, &self.name, self.kind);
        if name.is_empty() {
            write!(f, "`{module}` ({kind}): {}", Why(self))
        } else {
            write!(f, "`{module}`.`{name}` ({kind}): {}", Why(self))
        }
    }
}

/// The reason part of an [`ImportProblem`]'s text.
struct Why<'a>(&'a ImportProblem);

impl fmt::Display for Why<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let module = &self.0.module;
        match &self.0.reason {
            ImportReason::NotServed => f.write_str(
                "not served to components (they may import `epochd:job/*@1.x` of \
                 sdk/wit/job.wit, and WASI 0.2's cli, clocks, filesystem, io, random and \
                 sockets, served sandboxed)",
            ),
            ImportReason::ForeignModule => write!(
                f,
                "module `{module}` is not provided (only `{IMPORT_MODULE}` and `{WASI_MODULE}` are)"
            ),
            ImportReason::NotAFunction => {
                f.write_str("only functions may be imported; the module must define its own")
            }
            ImportReason::UnknownFunction if module == IMPORT_MODULE => write!(
                f,
                "not a function of the epochd ABI (check its spelling and the ABI version your \
                 SDK targets); it has: {}",
                abi::function_names()
            ),
            ImportReason::UnknownFunction => {
                write!(f, "not a function of WASI preview 1 ({WASI_MODULE})")
            }
            ImportReason::WrongSignature { expected, found } => {
                write!(f, "has type {found}; it is defined as {expected}")
            }
        }
    }
}

/// The `epochd` and WASI functions a module imports, in import order (each
/// once), or every import it may not have.
pub(crate) fn check(
    module: &Module,
    wasm: &[u8],
) -> Result<(Vec<&'static str>, Vec<&'static str>), SubmitError> {
    let mut epochd = Vec::new();
    let mut wasi_used = Vec::new();
    let mut problems = Vec::new();
    for import in module.imports() {
        let ty = import.ty();
        let problem = |reason| ImportProblem {
            module: import.module().into(),
            name: import.name().into(),
            kind: kind(&ty),
            reason,
        };
        let known = match import.module() {
            IMPORT_MODULE => {
                abi::function(import.name()).map(|(name, sig)| (name, sig.to_string(), sig))
            }
            WASI_MODULE => None,
            _ => {
                problems.push(problem(ImportReason::ForeignModule));
                continue;
            }
        };
        let ExternType::Func(f) = &ty else {
            problems.push(problem(ImportReason::NotAFunction));
            continue;
        };
        let found = func_text(f);
        let (name, expected, fits) = match known {
            Some((name, text, sig)) => (name, text, matches(f, &sig)),
            None if import.module() == IMPORT_MODULE => {
                problems.push(problem(ImportReason::UnknownFunction));
                continue;
            }
            None => match wasi::function(import.name()) {
                Some((name, text)) => {
                    let fits = text == found;
                    (name, text, fits)
                }
                None => {
                    problems.push(problem(ImportReason::UnknownFunction));
                    continue;
                }
            },
        };
        if !fits {
            problems.push(problem(ImportReason::WrongSignature { expected, found }));
            continue;
        }
        let list = if import.module() == IMPORT_MODULE {
            &mut epochd
        } else {
            &mut wasi_used
        };
        if !list.contains(&name) {
            list.push(name);
        }
    }
    if problems.is_empty() {
        return Ok((epochd, wasi_used));
    }
    let toolchain = Toolchain::of(wasm, module);
    Err(SubmitError::Imports {
        advice: toolchain.import_advice(&problems),
        toolchain: toolchain.describe(),
        problems,
    })
}
