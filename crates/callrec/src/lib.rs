//! The `callrec` command line: everything the binary does, as a library so that `main.rs` stays a
//! thin shell (parse arguments, set up logging, call [`run`]).
//!
//! Commands: `serve` (the server, writing a starter config when none exists), `usersig` (sign a
//! TLSSigAPIv2 UserSig), `records` (a client of the record APIs), `simulate` (report synthetic calls),
//! `callbacks` (deliveries, redelivery, a local receiver), `console` (a sign-in link to the web
//! console) and `config` (print an example, check a
//! file).

pub mod callbacks;
pub mod cli;
pub mod client;
pub mod config_cmd;
pub mod connection;
pub mod console;
pub mod error;
pub mod logsink;
pub mod records;
pub mod report;
pub mod serve;
pub mod simulate;
pub mod timearg;
pub mod usersig;

pub use cli::{Cli, Command};
pub use error::Error;

use std::process::ExitCode;

/// Runs one parsed command line to completion.
pub async fn run(cli: Cli) -> Result<ExitCode, Error> {
    match cli.command {
        Command::Serve(args) => serve::run(&args).await,
        Command::Usersig(args) => usersig::run(&args),
        Command::Records(args) => records::run(&args).await,
        Command::Simulate(args) => report::run(&args).await,
        Command::Callbacks(args) => callbacks::run(&args).await,
        Command::Console(args) => console::run(&args),
        Command::Config(args) => config_cmd::run(&args),
    }
}
