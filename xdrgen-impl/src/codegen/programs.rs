//! Procedure tables: for each program a module with its number, version,
//! `Procedure` enum, static `PROCEDURES` table, one marker type per
//! procedure (module `procs`) implementing `RemoteProcedure`, and the
//! `Call`, `Reply` and `Message` enums. Each is a table of one row per
//! procedure (see [`rows`](super::rows)) that a runtime macro expands.
//!
//! A program with one version (every libvirt program) keeps its tables in
//! the program module; a program with several versions gets one submodule
//! per version.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

use crate::codegen::layout::VersionNames;
use crate::codegen::naming;
use crate::codegen::rows::{Row, Rows};
use crate::codegen::{doc_attrs, doc_lines, Chunk, Generator, Job, Piece};
use crate::ir::{
    AclCondition, AclRule, Annotations, BaseType, Generate, Priority, Procedure, ProcedureKind,
    Program, StreamDirection, TypeKind, TypeRef,
};

/// One piece of a version's tables, generated and formatted on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VersionPart {
    /// `VERSION` and the `Procedure` enum.
    Procedures,
    /// The static `PROCEDURES` table.
    Table,
    /// The marker types, in `procs`.
    Markers,
    /// The `Call` and `Reply` enums, or the `Message` enum.
    Dispatch(DispatchKind),
}

/// Which dispatch enums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DispatchKind {
    /// `Call` and `Reply`, over the same procedures.
    CallReply,
    Message,
}

/// Where a program piece belongs: program and version indices into
/// [`ModuleLayout::programs`](crate::codegen::ModuleLayout::programs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProgramJob {
    pub program: usize,
    /// `None`: the program module's own `NUMBER`.
    pub version: Option<(usize, VersionPart)>,
}

impl Generator<'_> {
    /// The programs as a sequence of pieces: module openings and closings
    /// around jobs, so that no piece is the whole table (a program of
    /// libvirt's size is half the output).
    pub(crate) fn program_pieces(&self) -> Vec<Piece> {
        let mut out = Vec::new();
        for (pi, names) in self.programs.iter().enumerate() {
            let p = names.program;
            let doc = doc_attrs(p.doc.as_deref().or(Some(&format!("Program `{}`.", p.name))));
            let module = format_ident!("{}", names.module);
            out.push(Piece::Open(quote!(#doc pub mod #module)));
            out.push(Piece::Job(Job::Program(ProgramJob {
                program: pi,
                version: None,
            })));
            let several = names.versions.len() > 1;
            for (vi, v) in names.versions.iter().enumerate() {
                if several {
                    let m = format_ident!("{}", v.module.as_deref().unwrap_or_default());
                    let vdoc = format!(" Version `{}` ({}).", v.version.name, v.version.number);
                    out.push(Piece::Open(quote!(#[doc = #vdoc] pub mod #m)));
                }
                let job = |part| {
                    Piece::Job(Job::Program(ProgramJob {
                        program: pi,
                        version: Some((vi, part)),
                    }))
                };
                out.push(job(VersionPart::Procedures));
                out.push(job(VersionPart::Table));
                out.push(Piece::Open(quote! {
                    /// One marker type per procedure, for calls typed at compile time.
                    pub mod procs
                }));
                out.push(job(VersionPart::Markers));
                out.push(Piece::Close);
                out.push(job(VersionPart::Dispatch(DispatchKind::CallReply)));
                out.push(job(VersionPart::Dispatch(DispatchKind::Message)));
                if several {
                    out.push(Piece::Close);
                }
            }
            out.push(Piece::Close);
        }
        out
    }

    /// The output of one program piece.
    pub(crate) fn program_job(&self, job: ProgramJob) -> Vec<Chunk> {
        let names = &self.programs[job.program];
        let p = names.program;
        let Some((vi, part)) = job.version else {
            let number = Literal::u32_unsuffixed(p.number);
            return vec![Chunk::Items(quote! {
                /// The program number.
                pub const NUMBER: u32 = #number;
            })];
        };
        let v = &names.versions[vi];
        // The version's tables are one module below the program's, or two
        // with a module per version; the types are above them.
        let depth = if names.versions.len() > 1 { 2 } else { 1 };
        match part {
            VersionPart::Procedures => self.procedure_enum(v),
            VersionPart::Table => vec![Chunk::Rows(self.procedure_table(v))],
            VersionPart::Markers => vec![Chunk::Rows(self.markers(p, v, depth))],
            VersionPart::Dispatch(kind) => vec![Chunk::Rows(self.version_dispatch(v, kind))],
        }
    }

    /// `VERSION` and the `Procedure` enum of a version.
    fn procedure_enum(&self, names: &VersionNames<'_>) -> Vec<Chunk> {
        let rt = &self.rt;
        let version = Literal::u32_unsuffixed(names.version.number);
        let count = Literal::usize_unsuffixed(names.procedures.len());
        let mut rows = vec![Row::new(quote!(#count;))];
        rows.extend(names.procedures.iter().enumerate().map(|(i, n)| {
            let v = format_ident!("{}", n.marker);
            let number = Literal::u32_unsuffixed(n.procedure.number);
            let index = Literal::usize_unsuffixed(i);
            let name = &n.procedure.name;
            Row::new(quote!(#v = #number @ #index #name,))
        }));
        vec![
            Chunk::Items(quote! {
                /// The version number.
                pub const VERSION: u32 = #version;
            }),
            Chunk::Rows(Rows::invocation(quote!(#rt::procedure_enum), rows)),
        ]
    }

    /// `PROCEDURES` of a version.
    fn procedure_table(&self, names: &VersionNames<'_>) -> Rows {
        let rt = &self.rt;
        let count = Literal::usize_unsuffixed(names.procedures.len());
        Rows {
            docs: vec![" Every procedure's description, in definition order.".to_owned()],
            head: quote!(pub static PROCEDURES: [#rt::ProcedureInfo; #count] =),
            delimiter: proc_macro2::Delimiter::Bracket,
            rows: names
                .procedures
                .iter()
                .map(|n| Row::new(self.info_row(n.procedure)))
                .collect(),
            semicolon: true,
        }
    }

    /// The marker types of a version, in `procs`, `depth` modules below
    /// the types plus one.
    fn markers(&self, p: &Program, names: &VersionNames<'_>, depth: usize) -> Rows {
        let rt = &self.rt;
        let supers = (0..depth + 1).map(|_| quote!(super::));
        let types_from_procs = quote!(#(#supers)*);
        let program = Literal::u32_unsuffixed(p.number);
        let version = Literal::u32_unsuffixed(names.version.number);
        let mut rows = vec![Row::new(quote!(#program, #version;))];
        for (i, n) in names.procedures.iter().enumerate() {
            let pr = n.procedure;
            let v = format_ident!("{}", n.marker);
            let index = Literal::usize_unsuffixed(i);
            let number = Literal::u32_unsuffixed(pr.number);
            let name = &pr.name;
            let [args, ret] = self.marker_types(pr, &types_from_procs);
            rows.push(Row {
                docs: doc_lines(pr.doc.as_deref()),
                tokens: quote!(#v = #number @ #index #name: #args => #ret;),
            });
        }
        Rows::invocation(quote!(#rt::procedures), rows)
    }

    /// The `Call` and `Reply` enums, or the `Message` enum, of a version:
    /// one variant per procedure of that kind, holding its `Args` or
    /// `Ret`, decoded by procedure number (the dispatch table for frames).
    /// `Message` gets `callback_id()` when some messages carry libvirt's
    /// `callbackID`.
    fn version_dispatch(&self, names: &VersionNames<'_>, kind: DispatchKind) -> Rows {
        let rt = &self.rt;
        let procedure_kind = match kind {
            DispatchKind::CallReply => ProcedureKind::Call,
            DispatchKind::Message => ProcedureKind::Message,
        };
        let procs: Vec<_> = names
            .procedures
            .iter()
            .filter(|n| n.procedure.kind == procedure_kind)
            .map(|n| {
                let id = (kind == DispatchKind::Message)
                    .then(|| self.callback_id_field(n.procedure))
                    .flatten();
                (format_ident!("{}", n.marker), id)
            })
            .collect();
        let header = |doc: &str, tokens| Row {
            docs: vec![doc.to_owned()],
            tokens,
        };
        let mut rows = match kind {
            DispatchKind::CallReply => vec![
                header(
                    " The arguments of a call to any procedure of this version.",
                    quote!(Call: Args / ArgsCodec;),
                ),
                header(
                    " The reply to a call of any procedure of this version.",
                    quote!(Reply: Ret / RetCodec;),
                ),
            ],
            DispatchKind::Message => {
                let with_ids = procs
                    .iter()
                    .any(|(_, id)| id.is_some())
                    .then(|| quote!(, callback_id));
                vec![header(
                    " A one-way message (event) of this version.",
                    quote!(Message: Args / ArgsCodec #with_ids;),
                )]
            }
        };
        rows.extend(procs.iter().map(|(v, id)| match id {
            Some(field) => Row::new(quote!(#v.#field,)),
            None => Row::new(quote!(#v,)),
        }));
        Rows::invocation(quote!(#rt::dispatch), rows)
    }

    /// The Rust field holding libvirt's callback id, when a message follows
    /// its event convention: a struct whose first field is `int
    /// callbackID`, the id the client got when it registered for the event.
    fn callback_id_field(&self, pr: &Procedure) -> Option<proc_macro2::Ident> {
        let BaseType::Named { name, .. } = &pr.message.as_ref()?.base else {
            return None;
        };
        let TypeKind::Struct(st) = &self.type_by_name(name)?.kind else {
            return None;
        };
        let first = st.fields.first()?;
        if first.name != "callbackID" || first.ty != TypeRef::scalar(BaseType::Int) {
            return None;
        }
        let names = naming::struct_field_names(st);
        Some(crate::codegen::ident(&names[0]))
    }

    /// A procedure's `Args` and `Ret` for its marker's row, with type
    /// names reached from the marker's module, each followed by `as Codec`
    /// unless its codec is its own (`Plain<T>`).
    fn marker_types(&self, pr: &Procedure, path: &TokenStream) -> [TokenStream; 2] {
        *self.type_prefix.borrow_mut() = path.clone();
        let void = quote!(());
        let one = |t: &TypeRef| {
            let (ty, codec) = (self.rust_type(t, false), self.codec(t, false));
            if self.is_plain(t) {
                ty
            } else {
                quote!(#ty as #codec)
            }
        };
        let args = match pr.kind {
            ProcedureKind::Message => pr.message.as_ref().map_or(void.clone(), one),
            ProcedureKind::Call => match (pr.args.as_slice(), &pr.argument_struct) {
                (_, Some(name)) => one(&TypeRef::scalar(BaseType::Named {
                    name: name.clone(),
                    kind: crate::ir::NamedKind::Struct,
                })),
                ([], None) => void.clone(),
                ([single], None) => one(single),
                (many, None) => {
                    let tys = many.iter().map(|t| self.rust_type(t, false));
                    let codecs = many.iter().map(|t| self.codec(t, false));
                    quote!((#(#tys),*) as (#(#codecs),*))
                }
            },
        };
        let ret = match pr.kind {
            ProcedureKind::Message => void,
            ProcedureKind::Call => pr.result.as_ref().map_or(void, one),
        };
        *self.type_prefix.borrow_mut() = TokenStream::new();
        [args, ret]
    }

    /// A procedure's row of `PROCEDURES`: `ProcedureInfo::new(..)` and a
    /// `const` method for each part that is not empty.
    fn info_row(&self, pr: &Procedure) -> TokenStream {
        let rt = &self.rt;
        let number = Literal::u32_unsuffixed(pr.number);
        let name = &pr.name;
        let type_name = |t: &TypeRef| match &t.base {
            crate::ir::BaseType::Named { name, .. } => name.clone(),
            other => format!("{other:?}").to_lowercase(),
        };
        let kind = match pr.kind {
            ProcedureKind::Call => quote!(Call),
            ProcedureKind::Message => quote!(Message),
        };
        let mut row = quote!(#rt::ProcedureInfo::new(#number, #name, #rt::ProcedureKind::#kind));
        if !pr.args.is_empty() {
            let args = pr.args.iter().map(type_name);
            row.extend(quote!(.args(&[#(#args),*])));
        }
        if let Some(ret) = pr.result.as_ref().map(type_name) {
            row.extend(quote!(.ret(#ret)));
        }
        if let Some(message) = pr.message.as_ref().map(type_name) {
            row.extend(quote!(.message(#message)));
        }
        let a: &Annotations = &pr.annotations;
        if let Some(priority) = a.priority {
            let p = match priority {
                Priority::High => quote!(High),
                Priority::Low => quote!(Low),
            };
            row.extend(quote!(.priority(#rt::Priority::#p)));
        }
        if let Some(g) = a.generate {
            let v = format_ident!(
                "{}",
                match g {
                    Generate::Both => "Both",
                    Generate::Client => "Client",
                    Generate::Server => "Server",
                    Generate::None => "None",
                }
            );
            row.extend(quote!(.generate(#rt::Generate::#v)));
        }
        if !a.acl.is_empty() {
            let acl = a.acl.iter().map(|rule| match rule {
                AclRule::None => quote!(#rt::AclRule::NONE),
                AclRule::Check {
                    permission,
                    condition,
                } => {
                    let object = &permission.object;
                    let perm = &permission.permission;
                    let check = quote!(#rt::AclRule::check(#object, #perm));
                    match condition {
                        None => check,
                        Some(AclCondition::Flags { negated, flags }) => quote! {
                            #check.when(#rt::AclCondition::Flags { negated: #negated, flags: &[#(#flags),*] })
                        },
                        Some(AclCondition::Param { name, value }) => quote! {
                            #check.when(#rt::AclCondition::Param { name: #name, value: #value })
                        },
                    }
                }
            });
            row.extend(quote!(.acl(&[#(#acl),*])));
        }
        if !a.acl_filter.is_empty() {
            let filters = a.acl_filter.iter().map(|f| {
                let (o, p) = (&f.object, &f.permission);
                quote!(#rt::AclFilter::new(#o, #p))
            });
            row.extend(quote!(.acl_filter(&[#(#filters),*])));
        }
        if let Some(s) = a.stream {
            let dir = match s.direction {
                StreamDirection::Read => quote!(Read),
                StreamDirection::Write => quote!(Write),
            };
            let param = Literal::u32_unsuffixed(s.param);
            row.extend(quote!(.stream(#rt::StreamDirection::#dir, #param)));
        }
        if let Some(flag) = &a.sparse_flag {
            row.extend(quote!(.sparse_flag(#flag)));
        }
        row.extend(quote!(,));
        row
    }
}
