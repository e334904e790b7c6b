//! `xdr_include!("file.x")`: XDR specifications turned into Rust at compile
//! time.
//!
//! The thin procedural-macro front end of `xdrgen` (use it as
//! `xdrgen::xdr_include!` with xdrgen's `macros` feature). It reads the
//! `.x` files relative to the calling crate's `Cargo.toml`, runs xdrgen's
//! parser, resolver and code generator, and turns a bad specification into
//! a compile error at the path literal carrying the `file:line:col`
//! diagnostics. The crate is rebuilt when a `.x` file changes.
//!
//! ```ignore
//! xdrgen::xdr_include!("remote_protocol.x");
//! xdrgen::xdr_include!(
//!     "remote_protocol.x", "qemu_protocol.x",
//!     strip_prefix = "qemu",
//!     strings_as_bytes = false,
//!     serde_feature = "serde",
//!     define(VIR_UUID_BUFLEN = 16),
//!     libvirt_program(QEMU_PROGRAM, QEMU_PROTOCOL_VERSION, qemu_procedure, qemu),
//! );
//! xdrgen::xdr_include!("nis.x", include_dir("specs/include"), undefine(RPC_XDR));
//! ```
//!
//! Options are the CLI's: `strip_prefix = "..."`, `strings_as_bytes =
//! bool`, `serde_feature = "..."` (serde derives behind that feature of the
//! calling crate; none by default), `define(NAME = value, NAME, ...)`
//! (macros; integer ones are constants too, a bare name is 1),
//! `undefine(NAME, ...)`, `include_dir("dir")` (repeatable, relative to
//! the crate), `cpp` or `cpp = "command"` (run an external C
//! preprocessor, by default `cpp -C`, instead of the built-in one),
//! `no_cpp`, `libvirt_program(PROGRAM, VERSION, ENUM, PREFIX)`
//! (repeatable), `no_libvirt_preset`. Files read through `#include` are
//! tracked for rebuilds like the named ones.

use std::path::PathBuf;

use proc_macro::TokenStream;
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Ident, LitBool, LitInt, LitStr, Token};
use xdr_rpcgen_impl::codegen::{generate_tokens, GenOptions};
use xdr_rpcgen_impl::cpp::{CppOptions, Preprocessor};
use xdr_rpcgen_impl::input::load_paths;
use xdr_rpcgen_impl::ir::{LibvirtProgram, LibvirtPrograms, RpcgenPreset};
use xdr_rpcgen_impl::Options;

/// Compiles XDR specifications into Rust items at this point. See the
/// crate documentation for the options.
#[proc_macro]
pub fn xdr_include(input: TokenStream) -> TokenStream {
    let args = syn::parse_macro_input!(input as Args);
    match expand(&args) {
        Ok(t) => t.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

struct Args {
    files: Vec<LitStr>,
    options: Options,
    cpp: CppOptions,
    gen: GenOptions,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut files = Vec::new();
        let mut options = Options::default();
        let mut gen = GenOptions::default();
        let mut cpp = CppOptions::default();
        let mut programs = Vec::new();
        while !input.is_empty() {
            if input.peek(LitStr) {
                files.push(input.parse()?);
            } else {
                let name: Ident = input.parse()?;
                match name.to_string().as_str() {
                    "strip_prefix" => {
                        input.parse::<Token![=]>()?;
                        gen.strip_prefix = Some(input.parse::<LitStr>()?.value());
                    }
                    "strings_as_bytes" => {
                        input.parse::<Token![=]>()?;
                        gen.strings_as_bytes = input.parse::<LitBool>()?.value;
                    }
                    "serde_feature" => {
                        input.parse::<Token![=]>()?;
                        gen.serde_feature = Some(input.parse::<LitStr>()?.value());
                    }
                    "no_libvirt_preset" => options.libvirt_preset = false,
                    "define" => {
                        let content;
                        syn::parenthesized!(content in input);
                        let defs = Punctuated::<Define, Token![,]>::parse_terminated(&content)?;
                        for d in defs {
                            cpp.defines.push((d.name.clone(), d.value.to_string()));
                            options.defines.push((d.name, d.value));
                        }
                    }
                    "undefine" => {
                        let content;
                        syn::parenthesized!(content in input);
                        let names = Punctuated::<Ident, Token![,]>::parse_terminated(&content)?;
                        cpp.undefines.extend(names.iter().map(ToString::to_string));
                    }
                    "include_dir" => {
                        let content;
                        syn::parenthesized!(content in input);
                        cpp.include_dirs
                            .push(PathBuf::from(content.parse::<LitStr>()?.value()));
                    }
                    "cpp" => {
                        cpp.preprocessor = if input.peek(Token![=]) {
                            input.parse::<Token![=]>()?;
                            let command = input.parse::<LitStr>()?.value();
                            Preprocessor::External(
                                command.split_whitespace().map(str::to_owned).collect(),
                            )
                        } else {
                            Preprocessor::system_cpp()
                        };
                    }
                    "no_cpp" => cpp.preprocessor = Preprocessor::Off,
                    "libvirt_program" => {
                        let content;
                        syn::parenthesized!(content in input);
                        let parts = Punctuated::<Ident, Token![,]>::parse_terminated(&content)?;
                        let p: Vec<String> = parts.iter().map(ToString::to_string).collect();
                        let [program_constant, version_constant, procedure_enum, prefix] =
                            p.as_slice()
                        else {
                            return Err(syn::Error::new(
                                name.span(),
                                "expected libvirt_program(PROGRAM, VERSION, PROCEDURE_ENUM, PREFIX)",
                            ));
                        };
                        programs.push(LibvirtProgram {
                            program_constant: program_constant.clone(),
                            version_constant: version_constant.clone(),
                            procedure_enum: procedure_enum.clone(),
                            prefix: prefix.clone(),
                        });
                    }
                    other => {
                        return Err(syn::Error::new(
                            name.span(),
                            format!(
                            "unknown option `{other}`; expected strip_prefix, strings_as_bytes, \
                                 serde_feature, define, undefine, include_dir, cpp, no_cpp, \
                                 libvirt_program or no_libvirt_preset"
                        ),
                        ))
                    }
                }
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        if files.is_empty() {
            return Err(
                input.error("expected the path of a .x file, e.g. xdr_include!(\"spec.x\")")
            );
        }
        if !programs.is_empty() {
            options.libvirt_programs = LibvirtPrograms::Only(programs);
        }
        Ok(Args {
            files,
            options,
            cpp,
            gen,
        })
    }
}

/// `NAME = 16`, `NAME = -1` or `NAME` (1) inside `define(...)`.
struct Define {
    name: String,
    value: i128,
}

impl Parse for Define {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let name: Ident = input.parse()?;
        if input.is_empty() || input.peek(Token![,]) {
            return Ok(Define {
                name: name.to_string(),
                value: 1,
            });
        }
        input.parse::<Token![=]>()?;
        let negative = input.parse::<Option<Token![-]>>()?.is_some();
        let lit: LitInt = input.parse()?;
        let v: i128 = lit.base10_parse()?;
        Ok(Define {
            name: name.to_string(),
            value: if negative { -v } else { v },
        })
    }
}

fn expand(args: &Args) -> syn::Result<proc_macro2::TokenStream> {
    let base = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_default();
    let cpp = CppOptions {
        base_dir: base.clone(),
        ..args.cpp.clone()
    };
    let names: Vec<PathBuf> = args
        .files
        .iter()
        .map(|l| PathBuf::from(l.value()))
        .collect();
    let files = load_paths(&names, &args.options, RpcgenPreset::Auto, &cpp).map_err(|e| {
        let lit = args
            .files
            .iter()
            .find(|l| base.join(l.value()) == e.path)
            .unwrap_or(&args.files[0]);
        syn::Error::new(lit.span(), e.to_string())
    })?;
    let Some(spec) = files.loaded.spec else {
        let rendered = files.sources.render(&files.loaded.diagnostics.0);
        return Err(syn::Error::new(
            args.files[0].span(),
            format!("invalid XDR specification:\n{rendered}"),
        ));
    };
    let items = generate_tokens(&spec, &args.gen);
    // Reading the files (named and included) through include_bytes! makes
    // cargo rebuild the calling crate when one changes.
    let paths: Vec<String> = names
        .iter()
        .map(|n| base.join(n))
        .chain(files.dependencies)
        .map(|p| p.display().to_string())
        .collect();
    Ok(quote! {
        #(const _: &[u8] = include_bytes!(#paths);)*
        #items
    })
}
