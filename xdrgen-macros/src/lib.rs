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
//! ```
//!
//! Options are the CLI's: `strip_prefix = "..."`, `strings_as_bytes =
//! bool`, `serde_feature = "..."` (serde derives behind that feature of the
//! calling crate; none by default), `define(NAME = value,
//! ...)`, `libvirt_program(PROGRAM, VERSION, ENUM, PREFIX)` (repeatable),
//! `no_libvirt_preset`.

use std::path::PathBuf;

use proc_macro::TokenStream;
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Ident, LitBool, LitInt, LitStr, Token};
use xdr_rpcgen_impl::codegen::{generate_tokens, GenOptions};
use xdr_rpcgen_impl::ir::{LibvirtProgram, LibvirtPrograms};
use xdr_rpcgen_impl::{load, Options, SourceMap};

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
    gen: GenOptions,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut files = Vec::new();
        let mut options = Options::default();
        let mut gen = GenOptions::default();
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
                        options
                            .defines
                            .extend(defs.into_iter().map(|d| (d.name, d.value)));
                    }
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
                                 serde_feature, define, libvirt_program or no_libvirt_preset"
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
            gen,
        })
    }
}

/// `NAME = 16` or `NAME = -1` inside `define(...)`.
struct Define {
    name: String,
    value: i128,
}

impl Parse for Define {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let name: Ident = input.parse()?;
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
    let mut sources = SourceMap::new();
    let mut paths = Vec::new();
    for lit in &args.files {
        let path = base.join(lit.value());
        let text = std::fs::read_to_string(&path).map_err(|e| {
            syn::Error::new(lit.span(), format!("cannot read `{}`: {e}", path.display()))
        })?;
        sources.add(lit.value(), text);
        paths.push(path.display().to_string());
    }
    let loaded = load(&sources, &args.options);
    let Some(spec) = loaded.spec else {
        let rendered = sources.render(&loaded.diagnostics.0);
        return Err(syn::Error::new(
            args.files[0].span(),
            format!("invalid XDR specification:\n{rendered}"),
        ));
    };
    let items = generate_tokens(&spec, &args.gen);
    // Reading the files through include_bytes! makes cargo rebuild the
    // calling crate when one changes.
    Ok(quote! {
        #(const _: &[u8] = include_bytes!(#paths);)*
        #items
    })
}
