//! Project automation, run as `cargo xtask <command>`.
//!
//! Commands are added here as the project needs them (regeneration of
//! `libvirt-proto`, the full test run with real daemons, benchmarks).

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None | Some("help" | "--help" | "-h") => {
            println!("usage: cargo xtask <command>\n\ncommands:\n  help    this text");
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("cargo xtask: unknown command `{other}` (try `cargo xtask help`)");
            ExitCode::FAILURE
        }
    }
}
