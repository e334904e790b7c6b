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
use crate::codegen::{doc_attrs, Generator};
use crate::ir::{
    AclCondition, AclRule, Annotations, BaseType, Generate, Priority, Procedure, ProcedureKind,
    Program, StreamDirection, TypeKind, TypeRef,
};

impl Generator<'_> {
    pub(crate) fn programs(&self) -> TokenStream {
        let programs = self.layout.programs().into_iter().map(|names| {
            let p = names.program;
            let module = format_ident!("{}", names.module);
            let number = Literal::u32_unsuffixed(p.number);
            let doc = doc_attrs(p.doc.as_deref().or(Some(&format!("Program `{}`.", p.name))));
            let body = match names.versions.as_slice() {
                [only] => self.version(p, only, 1),
                many => {
                    let vs = many.iter().map(|v| {
                        let m = format_ident!("{}", v.module.as_deref().unwrap_or_default());
                        let body = self.version(p, v, 2);
                        let vdoc = format!(" Version `{}` ({}).", v.version.name, v.version.number);
                        quote! {
                            #[doc = #vdoc]
                            pub mod #m { #body }
                        }
                    });
                    quote!(#(#vs)*)
                }
            };
            quote! {
                #doc
                pub mod #module {
                    /// The program number.
                    pub const NUMBER: u32 = #number;
                    #body
                }
            }
        });
        quote!(#(#programs)*)
    }

    /// The tables of one version, in a module `depth` levels below the
    /// types.
    fn version(&self, p: &Program, names: &VersionNames<'_>, depth: usize) -> TokenStream {
        let rt = &self.rt;
        let version = Literal::u32_unsuffixed(names.version.number);
        let procs: Vec<&Procedure> = names.procedures.iter().map(|n| n.procedure).collect();
        let variants: Vec<proc_macro2::Ident> = names
            .procedures
            .iter()
            .map(|n| format_ident!("{}", n.marker))
            .collect();
        let up = |n: usize| -> TokenStream {
            let supers = (0..n).map(|_| quote!(super::));
            quote!(#(#supers)*)
        };
        let types_from_procs = up(depth + 1);

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
        let rows = procs.iter().map(|pr| self.info_row(pr));
        let markers = procs.iter().zip(&variants).enumerate().map(|(i, (pr, v))| {
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
        });
        let calls: Vec<&proc_macro2::Ident> = procs
            .iter()
            .zip(&variants)
            .filter(|(pr, _)| pr.kind == ProcedureKind::Call)
            .map(|(_, v)| v)
            .collect();
        let messages: Vec<&proc_macro2::Ident> = procs
            .iter()
            .zip(&variants)
            .filter(|(pr, _)| pr.kind == ProcedureKind::Message)
            .map(|(_, v)| v)
            .collect();
        let call_enum = self.dispatch_enum(
            "Call",
            " The arguments of a call to any procedure of this version.",
            &calls,
            quote!(Args),
            quote!(ArgsCodec),
        );
        let reply_enum = self.dispatch_enum(
            "Reply",
            " The reply to a call of any procedure of this version.",
            &calls,
            quote!(Ret),
            quote!(RetCodec),
        );
        let mut message_enum = self.dispatch_enum(
            "Message",
            " A one-way message (event) of this version.",
            &messages,
            quote!(Args),
            quote!(ArgsCodec),
        );
        let message_procs: Vec<&Procedure> = procs
            .iter()
            .copied()
            .filter(|pr| pr.kind == ProcedureKind::Message)
            .collect();
        message_enum.extend(self.callback_id_accessor(&message_procs, &messages));
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

            /// Every procedure's description, in definition order.
            pub static PROCEDURES: [#rt::ProcedureInfo; #count] = [#(#rows),*];

            /// One marker type per procedure, for calls typed at compile time.
            pub mod procs {
                #(#markers)*
            }

            #call_enum
            #reply_enum
            #message_enum
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
    /// decoded by procedure number: the dispatch table for frames.
    fn dispatch_enum(
        &self,
        name: &str,
        doc: &str,
        variants: &[&proc_macro2::Ident],
        value: TokenStream,
        codec: TokenStream,
    ) -> TokenStream {
        let rt = &self.rt;
        let name = format_ident!("{}", name);
        let decl = variants
            .iter()
            .map(|v| quote!(#v(<procs::#v as #rt::RemoteProcedure>::#value),));
        let procedure = variants
            .iter()
            .map(|v| quote!(Self::#v(_) => Procedure::#v,));
        let decode = variants.iter().map(|v| {
            quote! {
                Procedure::#v => #rt::decode_all::<<procs::#v as #rt::RemoteProcedure>::#codec>(body)
                    .map(|x| ::std::option::Option::Some(Self::#v(x))),
            }
        });
        let encode = variants.iter().map(|v| {
            quote!(Self::#v(x) => <<procs::#v as #rt::RemoteProcedure>::#codec as #rt::Codec>::encode(x, w),)
        });
        let len = variants.iter().map(|v| {
            quote!(Self::#v(x) => <<procs::#v as #rt::RemoteProcedure>::#codec as #rt::Codec>::len(x),)
        });
        // An empty enum has no values: its methods only satisfy the types.
        let (procedure_body, decode_body, encode_body, len_body) = if variants.is_empty() {
            (
                quote!(match *self {}),
                quote! {
                    let _ = (procedure, body);
                    ::std::result::Result::Ok(::std::option::Option::None)
                },
                quote!(match *self {}),
                quote!(match *self {}),
            )
        } else {
            (
                quote!(match *self { #(#procedure)* }),
                quote! {
                    match procedure {
                        #(#decode)*
                        _ => ::std::result::Result::Ok(::std::option::Option::None),
                    }
                },
                quote!(match self { #(#encode)* }),
                quote!(match self { #(#len)* }),
            )
        };
        quote! {
            #[doc = #doc]
            #[derive(Debug, Clone, PartialEq)]
            pub enum #name { #(#decl)* }

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
