//! Procedure tables: for each program a module with its number, version,
//! `Procedure` enum, static `PROCEDURES` table and one marker type per
//! procedure (module `procs`) implementing `RemoteProcedure`.
//!
//! A program with one version (every libvirt program) keeps its tables in
//! the program module; a program with several versions gets one submodule
//! per version.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

use crate::codegen::layout::VersionNames;
use crate::codegen::naming;
use crate::codegen::{doc_attrs, Generator, Job, Piece};
use crate::ir::{
    AclCondition, AclRule, Annotations, BaseType, Generate, Priority, Procedure, ProcedureKind,
    Program, StreamDirection, TypeKind, TypeRef,
};

/// One piece of a version's tables, generated and formatted on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VersionPart {
    /// `VERSION` with the `Procedure` enum and its impls (0), or
    /// `PROCEDURES` (1).
    Tables(usize),
    /// The marker type of the procedure at this index, in `procs`.
    Marker(usize),
    /// One third of the `Call`, `Reply` or `Message` enum (see
    /// [`DispatchKind`]): its declaration, its inherent impl or its
    /// `Encode` impl. libvirt's are the largest items of the output.
    Dispatch(DispatchKind, usize),
}

/// Which dispatch enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DispatchKind {
    Call,
    Reply,
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
                out.extend((0..2).map(|half| job(VersionPart::Tables(half))));
                out.push(Piece::Open(quote! {
                    /// One marker type per procedure, for calls typed at compile time.
                    pub mod procs
                }));
                out.extend((0..v.procedures.len()).map(|i| job(VersionPart::Marker(i))));
                out.push(Piece::Close);
                for kind in [
                    DispatchKind::Call,
                    DispatchKind::Reply,
                    DispatchKind::Message,
                ] {
                    out.extend((0..3).map(|third| job(VersionPart::Dispatch(kind, third))));
                }
                if several {
                    out.push(Piece::Close);
                }
            }
            out.push(Piece::Close);
        }
        out
    }

    /// The items of one program piece.
    pub(crate) fn program_job(&self, job: ProgramJob) -> TokenStream {
        let names = &self.programs[job.program];
        let p = names.program;
        let Some((vi, part)) = job.version else {
            let number = Literal::u32_unsuffixed(p.number);
            return quote! {
                /// The program number.
                pub const NUMBER: u32 = #number;
            };
        };
        let v = &names.versions[vi];
        // The version's tables are one module below the program's, or two
        // with a module per version; the types are above them.
        let depth = if names.versions.len() > 1 { 2 } else { 1 };
        match part {
            VersionPart::Tables(0) => self.procedure_enum(v),
            VersionPart::Tables(_) => self.procedure_table(v),
            VersionPart::Marker(i) => self.marker(p, v, i, depth),
            VersionPart::Dispatch(kind, third) => self.version_dispatch(v, kind, third),
        }
    }

    fn variants(names: &VersionNames<'_>) -> Vec<proc_macro2::Ident> {
        names
            .procedures
            .iter()
            .map(|n| format_ident!("{}", n.marker))
            .collect()
    }

    /// `VERSION` and the `Procedure` enum of a version.
    fn procedure_enum(&self, names: &VersionNames<'_>) -> TokenStream {
        let rt = &self.rt;
        let version = Literal::u32_unsuffixed(names.version.number);
        let procs: Vec<&Procedure> = names.procedures.iter().map(|n| n.procedure).collect();
        let variants = Self::variants(names);
        let enum_variants = procs.iter().zip(&variants).map(|(pr, v)| {
            let n = Literal::u32_unsuffixed(pr.number);
            let doc = format!(" `{}`", pr.name);
            quote!(#[doc = #doc] #v = #n,)
        });
        let try_arms = procs.iter().zip(&variants).map(|(pr, v)| {
            let n = Literal::u32_unsuffixed(pr.number);
            quote!(#n => ::std::result::Result::Ok(Self::#v),)
        });
        let index_arms = variants.iter().enumerate().map(|(i, v)| {
            let i = Literal::usize_unsuffixed(i);
            quote!(Self::#v => &PROCEDURES[#i],)
        });
        let count = Literal::usize_unsuffixed(procs.len());
        let all = variants.iter().map(|v| quote!(Self::#v,));
        quote! {
            /// The version number.
            pub const VERSION: u32 = #version;

            /// The procedures, by number.
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
            #[repr(u32)]
            pub enum Procedure { #(#enum_variants)* }

            impl Procedure {
                /// Every procedure, in table order.
                pub const ALL: [Procedure; #count] = [#(#all)*];

                /// This procedure's row of [`PROCEDURES`].
                pub fn info(self) -> &'static #rt::ProcedureInfo {
                    match self { #(#index_arms)* }
                }
            }

            impl ::std::convert::TryFrom<u32> for Procedure {
                type Error = u32;
                fn try_from(n: u32) -> ::std::result::Result<Self, u32> {
                    match n {
                        #(#try_arms)*
                        other => ::std::result::Result::Err(other),
                    }
                }
            }
        }
    }

    /// `PROCEDURES` of a version.
    fn procedure_table(&self, names: &VersionNames<'_>) -> TokenStream {
        let rt = &self.rt;
        let count = Literal::usize_unsuffixed(names.procedures.len());
        let rows = names.procedures.iter().map(|n| self.info_row(n.procedure));
        quote! {
            /// Every procedure's description, in definition order.
            pub static PROCEDURES: [#rt::ProcedureInfo; #count] = [#(#rows),*];
        }
    }

    /// The marker type of procedure `i`, in `procs`, `depth` modules below
    /// the types plus one.
    fn marker(&self, p: &Program, names: &VersionNames<'_>, i: usize, depth: usize) -> TokenStream {
        let rt = &self.rt;
        let pr = names.procedures[i].procedure;
        let v = format_ident!("{}", names.procedures[i].marker);
        let supers = (0..depth + 1).map(|_| quote!(super::));
        let types_from_procs = quote!(#(#supers)*);
        let version = Literal::u32_unsuffixed(names.version.number);
        let index = Literal::usize_unsuffixed(i);
        let [args, args_codec, ret, ret_codec] = self.marker_types(pr, &types_from_procs);
        let program = Literal::u32_unsuffixed(p.number);
        let doc = doc_attrs(pr.doc.as_deref());
        let name_doc = format!(" Procedure `{}` ({}).", pr.name, pr.number);
        let n = Literal::u32_unsuffixed(pr.number);
        quote! {
            #[doc = #name_doc]
            #doc
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
            pub struct #v;
            impl #rt::RemoteProcedure for #v {
                const PROGRAM: u32 = #program;
                const VERSION: u32 = #version;
                const NUMBER: u32 = #n;
                const INFO: &'static #rt::ProcedureInfo = &super::PROCEDURES[#index];
                type Args = #args;
                type ArgsCodec = #args_codec;
                type Ret = #ret;
                type RetCodec = #ret_codec;
            }
        }
    }

    /// One third of the `Call`, `Reply` or `Message` enum of a version
    /// (see [`Generator::dispatch_enum`]); the `Encode` third of `Message`
    /// carries `callback_id()`.
    fn version_dispatch(
        &self,
        names: &VersionNames<'_>,
        kind: DispatchKind,
        third: usize,
    ) -> TokenStream {
        let variants = Self::variants(names);
        let of_kind = |kind| -> Vec<&proc_macro2::Ident> {
            names
                .procedures
                .iter()
                .zip(&variants)
                .filter(|(n, _)| n.procedure.kind == kind)
                .map(|(_, v)| v)
                .collect()
        };
        match kind {
            DispatchKind::Call => self.dispatch_enum(
                "Call",
                " The arguments of a call to any procedure of this version.",
                &of_kind(ProcedureKind::Call),
                quote!(Args),
                quote!(ArgsCodec),
                third,
            ),
            DispatchKind::Reply => self.dispatch_enum(
                "Reply",
                " The reply to a call of any procedure of this version.",
                &of_kind(ProcedureKind::Call),
                quote!(Ret),
                quote!(RetCodec),
                third,
            ),
            DispatchKind::Message => {
                let messages = of_kind(ProcedureKind::Message);
                let mut message_enum = self.dispatch_enum(
                    "Message",
                    " A one-way message (event) of this version.",
                    &messages,
                    quote!(Args),
                    quote!(ArgsCodec),
                    third,
                );
                if third == 2 {
                    let message_procs: Vec<&Procedure> = names
                        .procedures
                        .iter()
                        .map(|n| n.procedure)
                        .filter(|pr| pr.kind == ProcedureKind::Message)
                        .collect();
                    message_enum.extend(self.callback_id_accessor(&message_procs, &messages));
                }
                message_enum
            }
        }
    }

    /// `Message::callback_id()`, when some messages follow libvirt's event
    /// convention: a struct whose first field is `int callbackID`, the id
    /// the client got when it registered for the event.
    fn callback_id_accessor(
        &self,
        procs: &[&Procedure],
        variants: &[&proc_macro2::Ident],
    ) -> TokenStream {
        let arms: Vec<TokenStream> = procs
            .iter()
            .zip(variants)
            .filter_map(|(pr, v)| {
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
                let names = naming::field_names(
                    &st.fields
                        .iter()
                        .map(|f| f.name.as_str())
                        .collect::<Vec<_>>(),
                );
                let field = crate::codegen::ident(&names[0]);
                Some(quote!(Self::#v(m) => ::std::option::Option::Some(m.#field),))
            })
            .collect();
        if arms.is_empty() {
            return TokenStream::new();
        }
        quote! {
            impl Message {
                /// The callback id of an event sent to a registered callback
                /// (libvirt's `callbackID`), so a client can route it.
                #[allow(unreachable_patterns)]
                pub fn callback_id(&self) -> ::std::option::Option<i32> {
                    match self {
                        #(#arms)*
                        _ => ::std::option::Option::None,
                    }
                }
            }
        }
    }

    /// An enum with one variant per procedure holding its `Args` or `Ret`,
    /// decoded by procedure number: the dispatch table for frames. `third`
    /// picks the piece: 0 the declaration, 1 the inherent impl, 2 the
    /// `Encode` impl (only that one is built).
    fn dispatch_enum(
        &self,
        name: &str,
        doc: &str,
        variants: &[&proc_macro2::Ident],
        value: TokenStream,
        codec: TokenStream,
        third: usize,
    ) -> TokenStream {
        let rt = &self.rt;
        let name = format_ident!("{}", name);
        // An empty enum has no values: its methods only satisfy the types.
        let empty = variants.is_empty();
        match third {
            0 => {
                let decl = variants
                    .iter()
                    .map(|v| quote!(#v(<procs::#v as #rt::RemoteProcedure>::#value),));
                quote! {
                    #[doc = #doc]
                    #[derive(Debug, Clone, PartialEq)]
                    pub enum #name { #(#decl)* }
                }
            }
            1 => {
                let (procedure_body, decode_body) = if empty {
                    (
                        quote!(match *self {}),
                        quote! {
                            let _ = (procedure, body);
                            ::std::result::Result::Ok(::std::option::Option::None)
                        },
                    )
                } else {
                    let procedure = variants
                        .iter()
                        .map(|v| quote!(Self::#v(_) => Procedure::#v,));
                    let decode = variants.iter().map(|v| {
                        quote! {
                            Procedure::#v => #rt::decode_all::<<procs::#v as #rt::RemoteProcedure>::#codec>(body)
                                .map(|x| ::std::option::Option::Some(Self::#v(x))),
                        }
                    });
                    (
                        quote!(match *self { #(#procedure)* }),
                        quote! {
                            match procedure {
                                #(#decode)*
                                _ => ::std::result::Result::Ok(::std::option::Option::None),
                            }
                        },
                    )
                };
                quote! {
                    impl #name {
                        /// The procedure this value belongs to.
                        pub fn procedure(&self) -> Procedure {
                            #procedure_body
                        }

                        /// Decodes the body of a frame for `procedure`; `None` when
                        /// the procedure has no such body (e.g. a message number
                        /// given to `Call`). The body must be used up exactly.
                        #[allow(unreachable_patterns)]
                        pub fn decode(
                            procedure: Procedure,
                            body: &[u8],
                        ) -> ::std::result::Result<::std::option::Option<Self>, #rt::Error> {
                            #decode_body
                        }
                    }
                }
            }
            _ => {
                let (encode_body, len_body) = if empty {
                    (quote!(match *self {}), quote!(match *self {}))
                } else {
                    let encode = variants.iter().map(|v| {
                        quote!(Self::#v(x) => <<procs::#v as #rt::RemoteProcedure>::#codec as #rt::Codec>::encode(x, w),)
                    });
                    let len = variants.iter().map(|v| {
                        quote!(Self::#v(x) => <<procs::#v as #rt::RemoteProcedure>::#codec as #rt::Codec>::len(x),)
                    });
                    (
                        quote!(match self { #(#encode)* }),
                        quote!(match self { #(#len)* }),
                    )
                };
                quote! {
                    impl #rt::Encode for #name {
                        fn encode(&self, w: &mut #rt::Writer<'_>) -> ::std::result::Result<(), #rt::Error> {
                            let _ = &w;
                            #encode_body
                        }
                        fn encoded_len(&self) -> usize {
                            #len_body
                        }
                    }
                }
            }
        }
    }

    /// The `Args` / `ArgsCodec` and `Ret` / `RetCodec` of a procedure's
    /// marker, with type names reached from the marker's module.
    fn marker_types(&self, pr: &Procedure, path: &TokenStream) -> [TokenStream; 4] {
        let rt = &self.rt;
        *self.type_prefix.borrow_mut() = path.clone();
        let void = (quote!(()), quote!(#rt::Plain<()>));
        let one = |t: &TypeRef| (self.rust_type(t, false), self.codec(t, false));
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
                    let (tys, codecs): (Vec<_>, Vec<_>) = many.iter().map(one).unzip();
                    (quote!((#(#tys),*)), quote!((#(#codecs),*)))
                }
            },
        };
        let ret = match pr.kind {
            ProcedureKind::Message => void,
            ProcedureKind::Call => pr.result.as_ref().map_or(void, one),
        };
        *self.type_prefix.borrow_mut() = TokenStream::new();
        [args.0, args.1, ret.0, ret.1]
    }

    fn info_row(&self, pr: &Procedure) -> TokenStream {
        let rt = &self.rt;
        let number = Literal::u32_unsuffixed(pr.number);
        let name = &pr.name;
        let type_name = |t: &TypeRef| match &t.base {
            crate::ir::BaseType::Named { name, .. } => name.clone(),
            other => format!("{other:?}").to_lowercase(),
        };
        let kind = match pr.kind {
            ProcedureKind::Call => quote!(#rt::ProcedureKind::Call),
            ProcedureKind::Message => quote!(#rt::ProcedureKind::Message),
        };
        let args: Vec<String> = pr.args.iter().map(type_name).collect();
        let ret = option_str(pr.result.as_ref().map(type_name));
        let message = option_str(pr.message.as_ref().map(type_name));
        let a: &Annotations = &pr.annotations;
        let priority = match a.priority {
            None => quote!(::std::option::Option::None),
            Some(Priority::High) => quote!(::std::option::Option::Some(#rt::Priority::High)),
            Some(Priority::Low) => quote!(::std::option::Option::Some(#rt::Priority::Low)),
        };
        let generate = match a.generate {
            None => quote!(::std::option::Option::None),
            Some(g) => {
                let v = format_ident!(
                    "{}",
                    match g {
                        Generate::Both => "Both",
                        Generate::Client => "Client",
                        Generate::Server => "Server",
                        Generate::None => "None",
                    }
                );
                quote!(::std::option::Option::Some(#rt::Generate::#v))
            }
        };
        let acl = a.acl.iter().map(|rule| match rule {
            AclRule::None => quote! {
                #rt::AclRule { object: ::std::option::Option::None, permission: "none", condition: #rt::AclCondition::Always }
            },
            AclRule::Check { permission, condition } => {
                let object = &permission.object;
                let perm = &permission.permission;
                let cond = match condition {
                    None => quote!(#rt::AclCondition::Always),
                    Some(AclCondition::Flags { negated, flags }) => {
                        quote!(#rt::AclCondition::Flags { negated: #negated, flags: &[#(#flags),*] })
                    }
                    Some(AclCondition::Param { name, value }) => {
                        quote!(#rt::AclCondition::Param { name: #name, value: #value })
                    }
                };
                quote! {
                    #rt::AclRule { object: ::std::option::Option::Some(#object), permission: #perm, condition: #cond }
                }
            }
        });
        let filters = a.acl_filter.iter().map(|f| {
            let (o, p) = (&f.object, &f.permission);
            quote!(#rt::AclFilter { object: #o, permission: #p })
        });
        let stream = match a.stream {
            None => quote!(::std::option::Option::None),
            Some(s) => {
                let dir = match s.direction {
                    StreamDirection::Read => quote!(#rt::StreamDirection::Read),
                    StreamDirection::Write => quote!(#rt::StreamDirection::Write),
                };
                let param = Literal::u32_unsuffixed(s.param);
                quote!(::std::option::Option::Some(#rt::StreamInfo { direction: #dir, param: #param }))
            }
        };
        let sparse = option_str(a.sparse_flag.clone());
        quote! {
            #rt::ProcedureInfo {
                number: #number,
                name: #name,
                kind: #kind,
                args: &[#(#args),*],
                ret: #ret,
                message: #message,
                priority: #priority,
                generate: #generate,
                acl: &[#(#acl),*],
                acl_filter: &[#(#filters),*],
                stream: #stream,
                sparse_flag: #sparse,
            }
        }
    }
}

fn option_str(s: Option<String>) -> TokenStream {
    match s {
        Some(s) => quote!(::std::option::Option::Some(#s)),
        None => quote!(::std::option::Option::None),
    }
}
