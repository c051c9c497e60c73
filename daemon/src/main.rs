//! `epochd`: parse the command line, start logging, run.

use clap::Parser;

// mimalloc keeps freed memory for reuse: each decoded epoch's buffers reuse
// the last one's pages instead of faulting fresh ones in (~15% of decode
// time with the system allocator, measured in docs/BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use tracing_subscriber::EnvFilter;

fn main() -> std::process::ExitCode {
    epochd_decode::alloc::tune();
    let cli = epochd::cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("EPOCHD_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("epochd: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(epochd::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("epochd: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
