//! The `callrec` binary: parses the command line, sets up logging, runs the command.

use std::process::ExitCode;

use clap::Parser as _;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = callrec::Cli::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Log lines go to a buffer that a background thread writes to stderr in bursts, so a
    // request never waits on stderr; the guard writes what is left when `main` returns.
    let (writer, _flush_guard) = callrec::logsink::stderr();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if cli.log_json {
        logs.json().init();
    } else {
        logs.init();
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(callrec::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{}", e.report_line());
            ExitCode::FAILURE
        }
    }
}
