//! The `xdrgen` command-line tool.
//!
//! ```text
//! xdrgen check remote_protocol.x qemu_protocol.x
//! xdrgen ir --json remote_protocol.x
//! ```

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use codespan_reporting::term::termcolor::{BufferedStandardStream, ColorChoice};
use xdrgen::codegen::{generate_source, GenOptions};
use xdrgen::cpp::{CppOptions, Preprocessor};
use xdrgen::input::{load_paths, LoadedFiles};
use xdrgen::ir::{LibvirtProgram, LibvirtPrograms, RpcgenPreset};
use xdrgen::Options;

#[derive(Parser)]
#[command(
    name = "xdrgen",
    version,
    about = "Read XDR specifications (.x files) and check or describe them",
    after_help = "Examples:\n  \
        xdrgen check remote_protocol.x\n  \
        xdrgen check --define VIR_UUID_BUFLEN=16 remote_protocol.x qemu_protocol.x\n  \
        xdrgen generate -I /usr/include/rpcsvc nis.x -o nis.rs\n  \
        xdrgen ir --json remote_protocol.x > remote.json\n  \
        xdrgen ir --json --libvirt-program REMOTE_PROGRAM,REMOTE_PROTOCOL_VERSION,remote_procedure,remote remote_protocol.x\n  \
        xdrgen generate remote_protocol.x --strip-prefix remote -o remote.rs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Parse and resolve the files; exit 0 when there are no errors, 1 otherwise.
    Check(Input),
    /// Write Rust code: types with XDR encoders and decoders, and procedure tables.
    Generate {
        #[command(flatten)]
        input: Input,
        /// Where to write the Rust source ("-" for standard output).
        #[arg(short, long, value_name = "OUT.rs")]
        output: PathBuf,
        /// Strip this prefix from type and constant names where possible
        /// (e.g. `remote`: remote_domain_get_info_args -> DomainGetInfoArgs).
        #[arg(long, value_name = "PREFIX")]
        strip_prefix: Option<String>,
        /// Map XDR strings to Vec<u8> instead of String.
        #[arg(long)]
        strings_as_bytes: bool,
        /// Derive serde's traits behind this cargo feature of the crate the
        /// code goes into (default: no serde derives).
        #[arg(long, value_name = "FEATURE")]
        serde_feature: Option<String>,
    },
    /// Print the resolved specification.
    Ir {
        #[command(flatten)]
        input: Input,
        /// Print as JSON (the documented, stable form).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
struct Input {
    /// The .x files, loaded in order as one specification.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Define a macro (repeatable), e.g. VIR_UUID_BUFLEN=16; a bare NAME
    /// is NAME=1. An integer value also defines the constant NAME.
    #[arg(long = "define", short = 'D', value_name = "NAME[=VALUE]", value_parser = parse_define)]
    defines: Vec<Define>,
    /// Undefine a macro before the first line (repeatable), e.g. RPC_XDR.
    #[arg(long = "undefine", short = 'U', value_name = "NAME")]
    undefines: Vec<String>,
    /// Where `#include` looks (repeatable, in order); `#include "f"` looks
    /// beside the including file first.
    #[arg(long = "include-dir", short = 'I', value_name = "DIR")]
    include_dirs: Vec<PathBuf>,
    /// Run an external C preprocessor instead of the built-in one
    /// (default command: `cpp -C`, as rpcgen runs it).
    #[arg(long, value_name = "COMMAND", num_args = 0..=1, require_equals = true,
          default_missing_value = "cpp -C",
          conflicts_with = "no_cpp")]
    cpp: Option<String>,
    /// Do not preprocess: `#` lines are warned about and ignored.
    #[arg(long)]
    no_cpp: bool,
    /// Describe a libvirt-style program (repeatable):
    /// PROGRAM_CONST,VERSION_CONST,PROCEDURE_ENUM,TYPE_PREFIX. Without it,
    /// programs are found by libvirt's naming convention.
    #[arg(long = "libvirt-program", value_name = "SPEC", value_parser = parse_program)]
    libvirt_programs: Vec<LibvirtProgram>,
    /// Do not fill in libvirt's C-header constants (VIR_UUID_BUFLEN, ...).
    #[arg(long)]
    no_libvirt_preset: bool,
    /// Do not fill in the C types rpcgen specs use without defining them
    /// (u_int, uint32_t, netobj, ...). By default they are filled in
    /// unless the spec is libvirt-style.
    #[arg(long, conflicts_with = "rpcgen_preset")]
    no_rpcgen_preset: bool,
    /// Fill in rpcgen's C types even in a libvirt-style spec.
    #[arg(long)]
    rpcgen_preset: bool,
}

/// `-D NAME[=VALUE]`: a macro, and a constant when the value is an integer.
#[derive(Clone)]
struct Define {
    name: String,
    body: String,
    constant: Option<i128>,
}

fn parse_define(s: &str) -> Result<Define, String> {
    let (name, body) = s.split_once('=').unwrap_or((s, "1"));
    let name = name.trim();
    let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!("`{name}` is not a macro name"));
    }
    let constant = match parse_integer(body) {
        Ok(v) => Some(v),
        Err(e)
            if body
                .trim()
                .starts_with(|c: char| c.is_ascii_digit() || c == '-') =>
        {
            return Err(e)
        }
        Err(_) => None,
    };
    Ok(Define {
        name: name.to_owned(),
        body: body.to_owned(),
        constant,
    })
}

fn parse_integer(value: &str) -> Result<i128, String> {
    let v = value.trim();
    let (neg, digits) = match v.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, v),
    };
    let parsed = if let Some(h) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        i128::from_str_radix(h, 16)
    } else {
        digits.parse::<i128>()
    }
    .map_err(|_| format!("`{value}` is not an integer"))?;
    let n = if neg { -parsed } else { parsed };
    if n < i128::from(i64::MIN) || n > i128::from(u64::MAX) {
        return Err(format!("`{value}` is out of the 64-bit range"));
    }
    Ok(n)
}

fn parse_program(s: &str) -> Result<LibvirtProgram, String> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    let [program_constant, version_constant, procedure_enum, prefix] = parts.as_slice() else {
        return Err("expected PROGRAM_CONST,VERSION_CONST,PROCEDURE_ENUM,TYPE_PREFIX".into());
    };
    Ok(LibvirtProgram {
        program_constant: (*program_constant).to_owned(),
        version_constant: (*version_constant).to_owned(),
        procedure_enum: (*procedure_enum).to_owned(),
        prefix: (*prefix).to_owned(),
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (input, json) = match &cli.command {
        Command::Check(input) | Command::Generate { input, .. } => (input, None),
        Command::Ir { input, json } => (input, Some(*json)),
    };
    let options = Options {
        defines: input
            .defines
            .iter()
            .filter_map(|d| Some((d.name.clone(), d.constant?)))
            .collect(),
        libvirt_preset: !input.no_libvirt_preset,
        libvirt_programs: if input.libvirt_programs.is_empty() {
            LibvirtPrograms::Detect
        } else {
            LibvirtPrograms::Only(input.libvirt_programs.clone())
        },
    };
    let rpcgen = if input.no_rpcgen_preset {
        RpcgenPreset::Off
    } else if input.rpcgen_preset {
        RpcgenPreset::On
    } else {
        RpcgenPreset::Auto
    };
    let cpp = CppOptions {
        preprocessor: if input.no_cpp {
            Preprocessor::Off
        } else if let Some(command) = &input.cpp {
            Preprocessor::External(command.split_whitespace().map(str::to_owned).collect())
        } else {
            Preprocessor::Builtin
        },
        include_dirs: input.include_dirs.clone(),
        defines: input
            .defines
            .iter()
            .map(|d| (d.name.clone(), d.body.clone()))
            .collect(),
        undefines: input.undefines.clone(),
        base_dir: PathBuf::new(),
    };
    let LoadedFiles {
        sources, loaded, ..
    } = match load_paths(&input.files, &options, rpcgen, &cpp) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let color = if std::io::stderr().is_terminal() {
        ColorChoice::Auto
    } else {
        ColorChoice::Never
    };
    // Buffered: the renderer writes a piece at a time, and thousands of
    // diagnostics would otherwise cost a system call per piece.
    let mut stderr = BufferedStandardStream::stderr(color);
    sources.emit(&mut stderr, &loaded.diagnostics.0);
    let _ = stderr.flush();
    let Some(spec) = loaded.spec else {
        eprintln!(
            "{} error(s), {} warning(s)",
            loaded.diagnostics.error_count(),
            loaded.diagnostics.warning_count()
        );
        return ExitCode::FAILURE;
    };
    if let Command::Generate {
        output,
        strip_prefix,
        strings_as_bytes,
        serde_feature,
        ..
    } = &cli.command
    {
        let options = GenOptions {
            strip_prefix: strip_prefix.clone(),
            strings_as_bytes: *strings_as_bytes,
            serde_feature: serde_feature.clone(),
            command: Some(command_line()),
            ..GenOptions::default()
        };
        return write_output(output, generate_source(&spec, &sources, &options));
    }
    match json {
        None => ExitCode::SUCCESS,
        Some(true) => match serde_json::to_string_pretty(&spec) {
            Ok(s) => {
                println!("{s}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: cannot serialise the IR: {e}");
                ExitCode::FAILURE
            }
        },
        Some(false) => {
            print_summary(&spec);
            ExitCode::SUCCESS
        }
    }
}

/// The command as typed, for the generated file's preamble; paths are kept
/// as given so the line is reproducible from the same directory.
fn command_line() -> String {
    let mut args = std::env::args();
    args.next();
    std::iter::once("xdrgen".to_owned())
        .chain(args)
        .collect::<Vec<_>>()
        .join(" ")
}

fn write_output(path: &std::path::Path, source: Result<String, String>) -> ExitCode {
    let source = match source {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if path.as_os_str() == "-" {
        print!("{source}");
        return ExitCode::SUCCESS;
    }
    match std::fs::write(path, source) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot write `{}`: {e}", path.display());
            ExitCode::from(2)
        }
    }
}

/// A short human-readable outline of the specification.
fn print_summary(spec: &xdrgen::ir::Spec) {
    println!("files: {}", spec.files.join(", "));
    println!("constants: {}", spec.constants.len());
    println!("types: {}", spec.types.len());
    for p in &spec.programs {
        for v in &p.versions {
            let messages = v
                .procedures
                .iter()
                .filter(|p| p.kind == xdrgen::ir::ProcedureKind::Message)
                .count();
            println!(
                "program {} ({:#x}) version {} ({}): {} procedures, {} messages",
                p.name,
                p.number,
                v.name,
                v.number,
                v.procedures.len(),
                messages
            );
        }
    }
}
