//! Which toolchain built a module, from its `producers` custom section (and
//! a few telltale imports when the section was stripped), so that a refusal
//! can say what to do in the submitter's own language.

use wasmparser::{KnownCustom, Parser, Payload};

use crate::imports::{ImportProblem, ImportReason};
use crate::wasi::WASI_MODULE;

/// The languages a refusal has specific advice for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Language {
    Go,
    Rust,
    C,
    Zig,
    AssemblyScript,
    Emscripten,
    Unknown,
}

/// What built a module, as far as it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Toolchain {
    pub(crate) language: Language,
    /// The producers section's language and tool entries, e.g.
    /// `Go go1.27.3; Go cmd/compile go1.27.3`.
    producers: Option<String>,
}

impl Toolchain {
    /// Reads `wasm`'s producers section; when it has none, guesses from
    /// imports only a toolchain's own runtime makes.
    pub(crate) fn of(wasm: &[u8], module: &wasmtime::Module) -> Toolchain {
        let entries = producers(wasm);
        let mut language = entries
            .iter()
            .find_map(|(field, name, _)| language_of(field, name))
            .unwrap_or(Language::Unknown);
        if language == Language::Unknown {
            language = module
                .imports()
                .find_map(|i| match (i.module(), i.name()) {
                    ("gojs", _) => Some(Language::Go),
                    ("__wbindgen_placeholder__" | "wbg", _) => Some(Language::Rust),
                    ("env", "abort" | "trace" | "seed") => Some(Language::AssemblyScript),
                    ("env", n) if n.starts_with("emscripten_") || n.starts_with("__syscall") => {
                        Some(Language::Emscripten)
                    }
                    _ => None,
                })
                .unwrap_or(Language::Unknown);
        }
        let producers = (!entries.is_empty()).then(|| {
            entries
                .iter()
                .map(|(_, name, version)| format!("{name} {version}").trim().to_owned())
                .collect::<Vec<_>>()
                .join("; ")
        });
        Toolchain {
            language,
            producers,
        }
    }

    /// The toolchain in words, for the refusal, if it named itself.
    pub(crate) fn describe(&self) -> Option<String> {
        self.producers.clone()
    }

    /// What to do about `problems`, for this language.
    pub(crate) fn import_advice(&self, problems: &[ImportProblem]) -> String {
        let from = |module: &str| problems.iter().any(|p| p.module == module);
        let wrong_wasi = problems
            .iter()
            .any(|p| p.module == WASI_MODULE && !matches!(p.reason, ImportReason::ForeignModule));
        let general =
            "A job may import the functions of module `epochd` (sdk/ABI.md) and those of \
                       `wasi_snapshot_preview1`, which epochd serves sandboxed (no files, network \
                       or real clock: sdk/ABI.md, \"WASI\"); anything else is a dependency that \
                       expects another host (a browser, Node.js, a file system): remove it.";
        let specific = match self.language {
            Language::Go if from("gojs") => {
                "Go: this module was built with GOOS=js, which needs a JavaScript host. Build with \
                 `GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared` and the epochd Go SDK \
                 (sdk/go)."
            }
            Language::Go => {
                "Go: build with `GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared` (a \
                 reactor: the runtime's imports are served), import epochd's functions through \
                 the Go SDK (sdk/go), and drop packages that need cgo or a host API \
                 (`//go:wasmimport` of a module other than `epochd`)."
            }
            Language::Rust if from("__wbindgen_placeholder__") || from("wbg") => {
                "Rust: the imports from wasm-bindgen need a JavaScript host. Build for \
                 `wasm32-unknown-unknown` without wasm-bindgen (check `cargo tree -i \
                 wasm-bindgen`: `getrandom` with its `js` feature is a common cause), using the \
                 epochd-job crate (sdk/rust)."
            }
            Language::Rust => {
                "Rust: build for `wasm32-unknown-unknown` (or `wasm32-wasip1`) as a `cdylib` with \
                 the epochd-job crate (sdk/rust); an `extern` block naming another module is a \
                 dependency to remove."
            }
            Language::C => {
                "C/C++: build with the epochd C SDK (sdk/c) for `--target=wasm32` (or with \
                 wasi-libc for wasm32-wasip1, `-mexec-model=reactor`); an `env` import is a \
                 function declared but never defined: define it, or drop the call."
            }
            Language::Zig => {
                "Zig: build for `wasm32-freestanding` (or `wasm32-wasi` with `-fno-entry \
                 -rdynamic`) with the epochd Zig SDK (sdk/zig); an `extern` function of another \
                 module is a dependency to remove."
            }
            Language::AssemblyScript => {
                "AssemblyScript: build with `--runtime stub` and `--use \
                 abort=...epochdAbort` as sdk/assemblyscript's README says; `env.trace` and \
                 `env.seed` come from `trace()` and `Math.random()`: use `log` and a random \
                 source derived from the epoch."
            }
            Language::Emscripten => {
                "Emscripten modules expect its JavaScript glue. Build with wasi-sdk (clang for \
                 wasm32-wasip1, `-mexec-model=reactor`) or the epochd C SDK (sdk/c) instead."
            }
            Language::Unknown => "",
        };
        let mut advice = String::new();
        if !specific.is_empty() {
            advice.push_str(specific);
            advice.push(' ');
        }
        if wrong_wasi {
            advice.push_str(
                "A `wasi_snapshot_preview1` import with another name or type comes from an \
                 unusual libc: use your toolchain's standard WASI preview 1 target. ",
            );
        }
        advice.push_str(general);
        advice
    }
}

/// (field, name, version) of every entry of the producers section.
fn producers(wasm: &[u8]) -> Vec<(String, String, String)> {
    let mut entries = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        let Ok(Payload::CustomSection(section)) = payload else {
            continue;
        };
        let KnownCustom::Producers(reader) = section.as_known() else {
            continue;
        };
        for field in reader.into_iter().flatten() {
            for value in field.values.into_iter().flatten() {
                entries.push((
                    field.name.to_owned(),
                    value.name.to_owned(),
                    value.version.to_owned(),
                ));
            }
        }
    }
    entries
}

/// The language a producers entry names (`language` or `processed-by`).
fn language_of(field: &str, name: &str) -> Option<Language> {
    let name = name.to_ascii_lowercase();
    let language = match field {
        "language" if name == "go" => Language::Go,
        "language" if name == "rust" => Language::Rust,
        "language" if name.starts_with("c") => Language::C,
        "language" if name == "zig" => Language::Zig,
        "language" if name == "assemblyscript" => Language::AssemblyScript,
        "processed-by" if name == "rustc" => Language::Rust,
        "processed-by" if name.starts_with("go ") => Language::Go,
        "processed-by" if name == "emscripten" => Language::Emscripten,
        "processed-by" if name == "clang" => Language::C,
        _ => return None,
    };
    Some(language)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn producers_entries_name_the_language() {
        assert_eq!(language_of("language", "Go"), Some(Language::Go));
        assert_eq!(language_of("processed-by", "rustc"), Some(Language::Rust));
        assert_eq!(language_of("language", "C11"), Some(Language::C));
        assert_eq!(language_of("language", "C++14"), Some(Language::C));
        assert_eq!(language_of("processed-by", "wasm-opt"), None);
    }
}
