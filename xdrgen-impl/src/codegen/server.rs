//! A typed service trait for the server side of a program version: one
//! method per callable procedure, taking the procedure's arguments and
//! returning its reply type, each with a default that refuses the call;
//! and a `dispatch` function that answers a decoded `Call` with the method
//! of its procedure and wraps the result in the `Reply` of the same
//! procedure. What rpcgen's `_svc.c` dispatcher and `-Ss` server template
//! are for C, in the shape of an async Rust trait; a program with several
//! versions gets one trait per version, as rpcgen makes one dispatcher
//! per version.
//!
//! A method reads `fn name(&self, peer: &Peer, args: Args) -> impl
//! Future<Output = Result<Ret, Error>> + Send` (no `args` for a procedure
//! without arguments, `()` for one without a reply), so an implementation
//! may write it as an `async fn`. A `@readstream` / `@writestream`
//! procedure's method also takes the call's stream. With a descriptor type
//! configured, a procedure that passes file descriptors (which `.x` files
//! do not show; the caller lists them) takes those of the call as `fds:
//! Vec<Fd>` and returns `(Ret, Vec<Fd>)` when its reply passes some, and
//! `dispatch` takes the call's descriptors and returns the reply's. Types, the `Call` and
//! `Reply` enums and the procedure markers are named by the spec's
//! [`ModuleLayout`], as [`generate_source`](crate::codegen::generate_source)
//! named them.

use std::collections::BTreeMap;

use proc_macro2::{Ident, Literal, TokenStream};
use quote::{format_ident, quote};

pub use crate::codegen::client::Fds;
use crate::codegen::form::Spelling;
use crate::codegen::layout::{ModuleLayout, ProgramNames, TypePath, VersionNames};
use crate::codegen::modules::{idents, last_segment, path_tokens, TypeModules};
use crate::codegen::naming::{self, Namespace};
use crate::codegen::GenOptions;
use crate::ir::{BaseType, NamedKind, Procedure, ProcedureKind, Spec, StreamDirection, TypeRef};

/// How to generate the service trait of one spec's program.
///
/// Procedures in [`skip`](ServerConfig::skip) and
/// [`skip_prefixes`](ServerConfig::skip_prefixes) are named without the
/// program's member prefix (`CONNECT_CLOSE` for `REMOTE_PROC_CONNECT_CLOSE`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerConfig {
    /// The program served, by its name in the spec (`MOUNTPROG`); empty
    /// for the spec's only program.
    pub program: String,
    /// The version of it served, by number; `None` for the program's only
    /// version. A program with several versions gets a trait per version:
    /// one call each, each trait with a name of its own and in a module
    /// of its own (its `dispatch` is named the same).
    pub version: Option<u32>,
    /// The path of the module [`generate_source`](crate::codegen::generate_source)
    /// made for the spec, as seen from the trait's module (`super::remote`).
    pub types_module: String,
    /// The trait's name (`RemoteService`).
    pub trait_name: String,
    /// The trait's supertraits (`Send + Sync + 'static`); empty for none.
    pub supertraits: String,
    /// Written before every method name (`qemu_`).
    pub method_prefix: String,
    /// The type each method gets as `peer`, by path (`crate::server::Peer`):
    /// who called.
    pub peer: String,
    /// The error type of every method, by path (`crate::error::RemoteError`).
    pub error: String,
    /// The function the default methods answer with, by path: called with
    /// the program's number (`u32`) and the procedure's (`i32`, as the
    /// header carries it), it returns the error (`crate::server::unsupported_procedure`).
    pub unsupported: String,
    /// The stream type a stream procedure's method takes, by path
    /// (`crate::server::ServerStream`); empty when the server has none,
    /// which makes a stream procedure an error.
    pub stream: String,
    /// The file descriptor type, by path (`std::os::fd::OwnedFd`); empty
    /// when the server passes none: [`fds`](ServerConfig::fds) must then
    /// name no procedure of the program, and `dispatch` takes no
    /// descriptors.
    pub fd: String,
    /// Procedures that pass file descriptors, which the `.x` files do not
    /// show, by their name in the spec (`REMOTE_PROC_DOMAIN_OPEN_GRAPHICS_FD`);
    /// names of other programs are ignored.
    pub fds: BTreeMap<String, Fds>,
    /// Procedures (without the member prefix) that get no method, because
    /// the server answers them itself; `dispatch` refuses them as the
    /// default methods do.
    pub skip: Vec<String>,
    /// Procedure name prefixes (after the member prefix) skipped likewise.
    pub skip_prefixes: Vec<String>,
}

/// The service trait of one program version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerCode {
    /// The module's text, formatted (`use` lines, the trait and
    /// `dispatch`; no preamble, no module documentation).
    pub body: String,
    /// The number of methods of the trait.
    pub methods: usize,
}

/// The service trait of the program version of `spec` that `config`
/// picks, whose items
/// [`generate_source`](crate::codegen::generate_source) generates with
/// `options` into [`ServerConfig::types_module`].
///
/// # Errors
/// When [`ServerConfig::program`] and [`ServerConfig::version`] do not
/// pick one version of one program of the spec's own, a stream procedure
/// has no [`ServerConfig::stream`] type, two methods would have the same
/// name, a path of `config` is not a path, or the code is not valid Rust
/// (a bug).
pub fn generate(
    spec: &Spec,
    options: &GenOptions,
    config: &ServerConfig,
) -> Result<ServerCode, String> {
    let layout = ModuleLayout::new(spec, options);
    let modules = TypeModules::new(&layout, &config.types_module)?;
    let (program, version) =
        layout.program_version("service traits", &config.program, config.version)?;
    let (program, version) = (&program, &version);
    let (tables, program_path) = tables_paths(&modules, program, version);
    let gen = Gen {
        layout: &layout,
        modules: &modules,
        config,
        rt: options
            .runtime_path
            .parse()
            .unwrap_or_else(|_| quote!(::xdrgen::rt)),
        tables,
        program_path,
        names: Names::new(config)?,
    };
    let (tokens, methods) = gen.module(program, version)?;
    let file: syn::File = syn::parse2(tokens).map_err(|e| {
        format!(
            "the service trait of `{}` is not valid Rust (a bug): {e}",
            program.program.name
        )
    })?;
    Ok(ServerCode {
        body: prettyplease::unparse(&file),
        methods,
    })
}

/// The paths of a version's tables (`Call`, `Reply`, `procs`) and of its
/// program's `NUMBER`, from the trait's module: `remote::program` for
/// both, or `prog::prog_v2` and `prog` for a program with several versions.
fn tables_paths(
    modules: &TypeModules,
    program: &ProgramNames<'_>,
    v: &VersionNames<'_>,
) -> (TokenStream, TokenStream) {
    let types = modules.name(crate::codegen::layout::TypeModule::Own);
    let p = format_ident!("{}", program.module);
    let program = quote!(#types #p);
    match &v.module {
        Some(m) => {
            let m = format_ident!("{}", m);
            (quote!(#program::#m), program)
        }
        None => (program.clone(), program),
    }
}

struct Gen<'a> {
    layout: &'a ModuleLayout<'a>,
    modules: &'a TypeModules,
    config: &'a ServerConfig,
    rt: TokenStream,
    /// See [`tables_paths`].
    tables: TokenStream,
    /// The program's module, which holds its `NUMBER`.
    program_path: TokenStream,
    names: Names,
}

/// What the code writes of the configured paths: their last segments,
/// brought in by `use` lines.
struct Names {
    peer: Ident,
    error: Ident,
    unsupported: Ident,
    /// None without a stream type.
    stream: Option<Ident>,
    /// None without a descriptor type.
    fd: Option<Ident>,
}

impl Names {
    /// The configured paths, checked.
    fn new(c: &ServerConfig) -> Result<Names, String> {
        let name = |p: &str| {
            path_tokens(p)?;
            syn::parse_str::<Ident>(last_segment(p))
                .map_err(|_| format!("`{p}` does not end in a plain name"))
        };
        Ok(Names {
            peer: name(&c.peer)?,
            error: name(&c.error)?,
            unsupported: name(&c.unsupported)?,
            stream: (!c.stream.is_empty())
                .then(|| name(&c.stream))
                .transpose()?,
            fd: (!c.fd.is_empty()).then(|| name(&c.fd)).transpose()?,
        })
    }
}

/// One procedure's part of the module.
struct Method {
    /// The trait's method; none for a skipped procedure.
    item: Option<TokenStream>,
    /// `dispatch`'s arm.
    arm: TokenStream,
    /// Whether the arm takes the call's descriptors.
    takes_fds: bool,
}

impl Gen<'_> {
    /// The `use` lines, the trait and `dispatch`, and the number of methods.
    fn module(
        &self,
        program: &ProgramNames<'_>,
        v: &VersionNames<'_>,
    ) -> Result<(TokenStream, usize), String> {
        let c = self.config;
        let tables = &self.tables;
        let Names { peer, error, .. } = &self.names;
        let trait_name = syn::parse_str::<syn::Ident>(&c.trait_name)
            .map_err(|_| format!("`{}` is not a trait name", c.trait_name))?;
        let supertraits = if c.supertraits.trim().is_empty() {
            quote!()
        } else {
            let bounds: TokenStream = c
                .supertraits
                .parse()
                .map_err(|_| format!("`{}` are not supertraits", c.supertraits))?;
            quote!(: #bounds)
        };

        // Whether a method takes a stream, or descriptors.
        let mut streams = false;
        let mut fd_variants = Vec::new();
        let mut names = Namespace::with_reserved(&[]);
        let mut items = Vec::new();
        let mut arms = Vec::new();
        for p in &v.procedures {
            if p.procedure.kind != ProcedureKind::Call {
                continue;
            }
            let skipped = c.skip.iter().any(|s| s == p.short)
                || c.skip_prefixes
                    .iter()
                    .any(|s| p.short.starts_with(s.as_str()));
            streams |= !skipped && p.procedure.annotations.stream.is_some();
            let m = self.method(p.procedure, &p.marker, p.short, skipped, &mut names)?;
            if m.takes_fds {
                fd_variants.push(format_ident!("{}", p.marker));
            }
            items.extend(m.item);
            arms.push(m.arm);
        }
        let count = items.len();
        let program_doc = format!(
            " The procedures of program `{}` ({}), version {}, one method each: \
             implement those the server answers, the others answer the call with \
             [`{}`]'s error.",
            program.program.name, program.program.number, v.version.number, self.names.unsupported,
        );
        let trait_doc = if arms.len() == count {
            vec![program_doc]
        } else {
            vec![
                program_doc,
                String::new(),
                " The procedures the server answers itself, or cannot serve, have no \
                 method; `dispatch` refuses them."
                    .to_owned(),
            ]
        };
        let (mut dispatch_doc, stream_param) = match &self.names.stream {
            None => (
                vec![" Answers `call` with the method of `service` for its procedure.".to_owned()],
                quote!(),
            ),
            Some(s) => (
                vec![
                    " Answers `call` with the method of `service` for its procedure; `stream` \
                     is the call's stream, for the procedures that have one (without it they \
                     are refused as unimplemented)."
                        .to_owned(),
                ],
                quote!(stream: Option<#s>,),
            ),
        };
        let (fds_param, answer) = match &self.names.fd {
            None => (quote!(), quote!(Result<#tables::Reply, #error>)),
            Some(fd) => {
                dispatch_doc.extend([
                    String::new(),
                    " `fds` are the file descriptors that came with the call, for the \
                     procedures that take some (the others close them); the reply comes with \
                     those to pass back."
                        .to_owned(),
                ]);
                (
                    quote!(fds: Vec<#fd>,),
                    quote!(Result<(#tables::Reply, Vec<#fd>), #error>),
                )
            }
        };
        // Taken for a uniform signature by a program without streams, or
        // without methods.
        let mut unused = Vec::new();
        if count == 0 {
            unused.extend([quote!(service), quote!(peer)]);
        }
        if self.names.stream.is_some() && !streams {
            unused.push(quote!(stream));
        }
        let unused = match unused.as_slice() {
            [] => None,
            [one] => Some(quote!(let _ = #one;)),
            all => Some(quote!(let _ = (#(#all),*);)),
        };
        // Descriptors of a procedure that takes none are closed at once,
        // not when its method is done.
        let close_fds = match (&self.names.fd, fd_variants.as_slice()) {
            (None, _) => quote!(),
            (Some(_), []) => quote!(drop(fds);),
            (Some(_), taking) => quote! {
                let fds = match &call {
                    #(Call::#taking(_))|* => fds,
                    _ => {
                        drop(fds);
                        Vec::new()
                    }
                };
            },
        };
        let enums = match (arms.is_empty(), count) {
            (true, _) => quote!(),
            (false, 0) => quote!(use #tables::Call;),
            (false, _) => quote!(use #tables::{Call, Reply};),
        };

        let body = quote! {
            #(#[doc = #trait_doc])*
            pub trait #trait_name #supertraits {
                #(#items)*
            }

            #(#[doc = #dispatch_doc])*
            pub async fn dispatch<S: #trait_name>(
                service: &S,
                peer: &#peer,
                call: #tables::Call,
                #stream_param
                #fds_param
            ) -> #answer {
                #enums
                #unused
                #close_fds
                match call {
                    #(#arms)*
                }
            }
        };
        let used = idents(&body);
        let mut uses = self.modules.uses(&used)?;
        // The configured items, grouped by module in the order named.
        let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
        for p in [&c.peer, &c.error, &c.unsupported, &c.stream, &c.fd] {
            let Some((module, item)) = p.rsplit_once("::") else {
                continue;
            };
            if !used.contains(item) {
                continue;
            }
            match groups.iter_mut().find(|(m, _)| *m == module) {
                Some((_, items)) if !items.contains(&item) => items.push(item),
                Some(_) => {}
                None => groups.push((module, vec![item])),
            }
        }
        for (module, items) in groups {
            let module = path_tokens(module)?;
            let items = items.iter().map(|i| format_ident!("{}", i));
            uses.push(quote!(use #module::{#(#items),*};));
        }
        if count > 0 {
            uses.push(quote!(
                use std::future::Future;
            ));
        }
        Ok((quote!(#(#uses)* #body), count))
    }

    /// Procedure `pr`'s method (unless `skipped`) and `dispatch` arm.
    fn method(
        &self,
        pr: &Procedure,
        marker: &str,
        short: &str,
        skipped: bool,
        names: &mut Namespace,
    ) -> Result<Method, String> {
        let c = self.config;
        let tables = &self.tables;
        let variant = format_ident!("{}", marker);
        let Names {
            peer,
            error,
            unsupported,
            stream: stream_ty,
            fd: fd_ty,
        } = &self.names;
        let number = Literal::i32_unsuffixed(pr.number as i32);
        let program_path = &self.program_path;
        let refuse = quote!(#unsupported(#program_path::NUMBER, #number));
        let fds = c.fds.get(&pr.name).copied().unwrap_or_default();
        let fd_ty = match fd_ty {
            Some(t) => Some(t),
            None if fds.send || fds.receive => {
                return Err(format!(
                    "{}: passes file descriptors, and the server has no descriptor type",
                    pr.name
                ))
            }
            None => None,
        };
        if skipped {
            return Ok(Method {
                item: None,
                arm: quote!(Call::#variant(_) => Err(#refuse),),
                takes_fds: false,
            });
        }
        let wanted = naming::method_name(&c.method_prefix, short)?;
        let name = names.claim(std::slice::from_ref(&wanted));
        if name != wanted {
            return Err(format!(
                "{}: method name `{wanted}` is already taken",
                pr.name
            ));
        }
        let method = crate::codegen::ident(&name);

        let args = self.args_type(pr);
        let mut ret = pr.result.as_ref().map_or(quote!(()), |t| self.type_of(t));
        if fds.receive {
            ret = quote!((#ret, Vec<#fd_ty>));
        }
        let mut params = vec![quote!(peer: &#peer)];
        let mut passed = vec![quote!(peer)];
        if let Some(a) = &args {
            params.push(quote!(args: #a));
            passed.push(quote!(args));
        }
        let stream = pr.annotations.stream;
        let mut doc = vec![format!(
            " Answers [`{}`]({}::procs::{marker}) (procedure {}).",
            pr.name,
            tables.to_string().replace(' ', ""),
            pr.number
        )];
        if let Some(s) = stream {
            let Some(ty) = stream_ty else {
                return Err(format!(
                    "{}: a stream procedure, and the server has no stream type",
                    pr.name
                ));
            };
            params.push(quote!(stream: #ty));
            passed.push(quote!(stream));
            doc.push(String::new());
            let (way, annotation) = match s.direction {
                StreamDirection::Read => ("to", "@readstream"),
                StreamDirection::Write => ("from", "@writestream"),
            };
            doc.push(format!(
                " `stream` carries the data {way} the client (`{annotation}`). The reply goes \
                 out when this method returns, and the stream opens then: hand `stream` to a \
                 task that moves the data, rather than waiting on it here."
            ));
        }
        if fds.send {
            params.push(quote!(fds: Vec<#fd_ty>));
            passed.push(quote!(fds));
            doc.push(String::new());
            doc.push(" `fds` are the file descriptors the client passed with the call.".into());
        }
        if fds.receive {
            doc.push(String::new());
            doc.push(" Returns the reply and the file descriptors to pass back with it.".into());
        }
        let unused = match passed.as_slice() {
            [one] => one.clone(),
            all => quote!((#(#all),*)),
        };
        let item = quote! {
            #(#[doc = #doc])*
            fn #method(&self, #(#params),*) -> impl Future<Output = Result<#ret, #error>> + Send {
                let _ = #unused;
                async { Err(#refuse) }
            }
        };
        let args_pat = if args.is_some() {
            quote!(args)
        } else {
            quote!(())
        };
        let call_args: Vec<_> = passed
            .iter()
            .filter(|p| p.to_string() != "stream")
            .collect();
        // With descriptors, every arm answers with those of the reply
        // (none but for the procedures that pass some).
        let wrap = if fds.receive {
            quote!(map(|(ret, fds)| (Reply::#variant(ret), fds)))
        } else if fd_ty.is_some() {
            quote!(map(|ret| (Reply::#variant(ret), Vec::new())))
        } else {
            quote!(map(Reply::#variant))
        };
        let arm = if stream.is_some() {
            quote! {
                Call::#variant(#args_pat) => match stream {
                    Some(stream) => S::#method(service, #(#call_args,)* stream).await.#wrap,
                    None => Err(#refuse),
                },
            }
        } else {
            quote! {
                Call::#variant(#args_pat) => S::#method(service, #(#call_args),*).await.#wrap,
            }
        };
        Ok(Method {
            item: Some(item),
            arm,
            takes_fds: fds.send,
        })
    }

    /// The Rust type a call of `pr` carries, as its `Call` variant holds it;
    /// `None` for no arguments.
    fn args_type(&self, pr: &Procedure) -> Option<TokenStream> {
        match (pr.args.as_slice(), &pr.argument_struct) {
            (_, Some(name)) => Some(self.type_of(&TypeRef::scalar(BaseType::Named {
                name: name.clone(),
                kind: NamedKind::Struct,
            }))),
            ([], None) => None,
            ([single], None) => Some(self.type_of(single)),
            (many, None) => {
                let tys = many.iter().map(|t| self.type_of(t));
                Some(quote!((#(#tys),*)))
            }
        }
    }

    /// A type as the trait writes it: prelude names, generated types by
    /// their module's name.
    fn type_of(&self, ty: &TypeRef) -> TokenStream {
        self.layout.form(ty, false).tokens(&Spelling {
            absolute_std: false,
            runtime: &self.rt,
            type_path: &|p: &TypePath| {
                let m = self.modules.name(p.module);
                let id = format_ident!("{}", p.name);
                quote!(#m #id)
            },
        })
    }
}
