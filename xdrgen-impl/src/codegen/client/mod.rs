//! Typed async client methods for a libvirt-style program: one `async fn`
//! per callable procedure, on a client type the caller provides.
//!
//! A method takes one parameter per field of the procedure's argument
//! struct, in the form a caller has at hand (`&str` for strings, `&[u8]`
//! for opaque data, the client's typed-parameter type for typed parameter
//! lists, a flag-set type where [`FlagArgs`] names one, references for
//! structs, plain values for numbers and enums), builds the argument struct
//! and calls the procedure's marker type through `call::<P>(&args)`
//! (`call_stream` for `@readstream` / `@writestream` procedures, `call_fds`
//! for those [`ClientConfig::fds`] names). It returns `()` for no reply, the
//! only field of a one-field reply, the reply struct otherwise; with the
//! `ByteStream` or the descriptors where there are some.
//!
//! A method whose first argument is an object with a [`Handle`] is also a
//! method of that handle, forwarding to the client's; a reply that is one
//! such object returns its handle, and a reply of a list of objects and
//! their count (`ret`) gets a method returning a `Vec` of handles (on the
//! handle, or on the client without the `connect_` of the method's name),
//! which asks for the list (`need_results` 1).
//!
//! Not generated: methods for messages (events are not calls) and the
//! procedures [`ClientConfig::skip`] names. The event messages of the
//! families [`ClientConfig::events`] describes become enums of typed events
//! instead, a module of their own ([`ClientCode::events`]). Types, procedure markers and program
//! modules are named by the spec's [`ModuleLayout`], the names its
//! [`generate_source`](crate::codegen::generate_source) gave them.
//!
//! The client module ([`ClientConfig::client_module`]) provides the client
//! type with `call`, `call_stream` and `call_fds`, `ClientError`,
//! `ByteStream`, and the handle types.

mod config;
mod events;
mod handles;
mod imports;
mod method;
mod params;
mod reply;
mod results;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use crate::codegen::form::{Form, Spelling};
use crate::codegen::layout::{ModuleLayout, TypePath};
use crate::codegen::naming::{self, Namespace};
use crate::codegen::GenOptions;
use crate::ir::{ProcedureKind, Spec};

pub use config::{
    ClientConfig, CountFrom, EventFamily, EventMessage, Events, Fds, FlagArgs, Handle, TypedParams,
    TypedParamsConversion, ValueType,
};
pub use events::EventCode;

/// The client methods of one program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCode {
    /// The module's text, formatted (`use` lines and `impl` blocks; no
    /// preamble, no module documentation).
    pub body: String,
    /// The number of methods on the client type.
    pub methods: usize,
    /// Arguments that take a flag set.
    pub typed_flags: usize,
    /// `flags` arguments left as `u32`, as `PROCEDURE: why`.
    pub untyped_flags: Vec<String>,
    /// Number arguments that take an enum of the C API.
    pub typed_values: usize,
    /// The typed events ([`ClientConfig::events`]), a module of their own.
    pub events: Option<EventCode>,
}

/// The client methods of the program of `spec`, whose items
/// [`generate_source`](crate::codegen::generate_source) generates with
/// `options` into [`ClientConfig::types_module`].
///
/// # Errors
/// When the spec has not exactly one program of its own with one version,
/// a procedure does not fit the client (several arguments, a stream
/// without `call_stream`, a method name that is taken), or the methods are
/// not valid Rust (a bug).
pub fn generate(
    spec: &Spec,
    options: &GenOptions,
    config: &ClientConfig,
) -> Result<ClientCode, String> {
    let layout = ModuleLayout::new(spec, options);
    let modules = imports::Modules::new(&layout, config)?;
    let program = &layout.single_version_program("client methods")?;
    let version = &program.versions[0];
    let ctx = Ctx {
        layout: &layout,
        rt: options
            .runtime_path
            .parse()
            .unwrap_or_else(|_| quote!(::xdrgen::rt)),
        config,
        modules: &modules,
        typed_flags: Cell::new(0),
        untyped_flags: RefCell::new(Vec::new()),
        typed_values: Cell::new(0),
        results: RefCell::new(Vec::new()),
        result_names: RefCell::new(Vec::new()),
    };
    let hand_written: Vec<&str> = config.hand_written.iter().map(String::as_str).collect();
    let mut method_names = Namespace::with_reserved(&hand_written);
    let mut methods = Vec::new();
    let mut handle_methods: BTreeMap<&str, Vec<TokenStream>> = BTreeMap::new();
    for p in &version.procedures {
        let pr = p.procedure;
        if pr.kind != ProcedureKind::Call {
            continue;
        }
        let short = p.short;
        if config.skip.iter().any(|s| s == short)
            || config
                .skip_prefixes
                .iter()
                .any(|s| short.starts_with(s.as_str()))
        {
            continue;
        }
        let wanted = naming::method_name(&config.method_prefix, short)?;
        let name = method_names.claim(std::slice::from_ref(&wanted));
        if name != wanted {
            return Err(format!(
                "{}: method name `{wanted}` is already taken",
                pr.name
            ));
        }
        let count_from = match config.count_from.get(&pr.name) {
            Some(from) => {
                let source = version
                    .procedures
                    .iter()
                    .find(|q| q.procedure.name == from.procedure)
                    .ok_or(format!(
                        "{}: its count comes from {}, which this version lacks",
                        pr.name, from.procedure
                    ))?;
                Some((
                    source.procedure,
                    source.marker.as_str(),
                    from.count.as_str(),
                ))
            }
            None => None,
        };
        let out = ctx.method(pr, &p.marker, &name, count_from)?;
        methods.push(out.raw);
        methods.extend(out.client_extra);
        if let Some((h, m)) = out.handle {
            handle_methods.entry(&h.rust).or_default().push(m);
        }
    }
    let count = methods.len();
    let client = format_ident!("{}", config.client);
    let handle_impls = handle_methods.iter().map(|(h, ms)| {
        let h = format_ident!("{}", h);
        quote! {
            impl #h {
                #(#ms)*
            }
        }
    });
    let results = ctx.results.take();
    let methods = quote! {
        impl #client {
            #(#methods)*
        }
        #(#handle_impls)*
        #(#results)*
    };
    let uses = modules.uses(&methods, &version.procs_path(program))?;
    let events = ctx.events(&version.procedures, &version.procs_path(program))?;
    let tokens = quote! {
        #uses
        #methods
    };
    let file: syn::File = syn::parse2(tokens).map_err(|e| {
        format!(
            "client methods of `{}` are not valid Rust (a bug): {e}",
            program.program.name
        )
    })?;
    Ok(ClientCode {
        body: prettyplease::unparse(&file),
        methods: count,
        typed_flags: ctx.typed_flags.get(),
        untyped_flags: ctx.untyped_flags.take(),
        typed_values: ctx.typed_values.get(),
        events,
    })
}

/// `expr`, of the `kept` form, with the typedefs' newtypes unwrapped.
fn plain(layout: &ModuleLayout<'_>, kept: &Form, expr: TokenStream) -> TokenStream {
    layout.unwrap_typedefs(kept, expr.clone()).unwrap_or(expr)
}

/// What the method generators share.
struct Ctx<'a> {
    layout: &'a ModuleLayout<'a>,
    /// The runtime's path.
    rt: TokenStream,
    config: &'a ClientConfig,
    modules: &'a imports::Modules,
    /// Counted while generating.
    typed_flags: Cell<usize>,
    untyped_flags: RefCell<Vec<String>>,
    /// Arguments typed by [`ClientConfig::arg_values`], counted.
    typed_values: Cell<usize>,
    /// The typed result structs made so far, and their names.
    results: RefCell<Vec<TokenStream>>,
    result_names: RefCell<Vec<String>>,
}

impl<'a> Ctx<'a> {
    /// A form's Rust type as the methods write it: prelude names, types by
    /// their module's name.
    fn rust(&self, form: &Form) -> TokenStream {
        form.tokens(&Spelling {
            absolute_std: false,
            runtime: &self.rt,
            type_path: &|p| self.type_path(p),
        })
    }

    /// A field's value `expr`, of the `kept` form it has in its struct,
    /// as the plain value the methods give (typedefs' newtypes unwrapped).
    fn plain(&self, kept: &Form, expr: TokenStream) -> TokenStream {
        plain(self.layout, kept, expr)
    }

    /// Reads field `id` of a value as a plain value: a function of the
    /// value's expression, owning what it needs (for a [`reply::ReplyMap`]).
    fn field_reader(
        &self,
        id: &Ident,
        kept: &Form,
    ) -> impl Fn(TokenStream) -> TokenStream + Clone + 'a {
        let (layout, id, kept) = (self.layout, id.clone(), kept.clone());
        move |v| plain(layout, &kept, quote!(#v.#id))
    }

    /// A plain value `expr` as a field of the `kept` form (wrapped in the
    /// typedefs' newtypes).
    fn kept(&self, kept: &Form, expr: TokenStream) -> TokenStream {
        self.layout
            .wrap_typedefs(kept, expr.clone(), &|p| self.type_path(p))
            .unwrap_or(expr)
    }

    /// A type's path from the methods' module (`remote::NonnullDomain`).
    fn type_path(&self, p: &TypePath) -> TokenStream {
        let id = format_ident!("{}", p.name);
        let m = self.modules.name(p.module);
        quote!(#m #id)
    }

    /// The Rust path of the XDR type `name`.
    fn named(&self, name: &str) -> Result<TokenStream, String> {
        self.layout
            .type_path(name)
            .map(|p| self.type_path(&p))
            .ok_or(format!("type `{name}` has no Rust name"))
    }

    /// The handle whose wire identity a value of `form` is.
    fn handle_of(&self, form: &Form) -> Option<&'a Handle> {
        match form {
            Form::Named(n) => self.config.handles.iter().find(|h| h.xdr == n.xdr),
            _ => None,
        }
    }

    /// How the typed-parameter type converts a value of `form`, when it is
    /// a list of typed parameters.
    fn typed_params(&self, form: &Form) -> Option<TypedParamsConversion> {
        let Form::List(item) = form else { return None };
        let Form::Named(n) = &**item else { return None };
        let tp = self.config.typed_params.as_ref()?;
        tp.structs
            .iter()
            .find(|(xdr, _)| *xdr == n.xdr)
            .map(|(_, c)| *c)
    }

    /// The typed-parameter type and a conversion from a raw value of the
    /// form `form` to it, if `form` is a list of typed parameters: the
    /// conversion wraps the expression it is given.
    fn typed_params_conversion(
        &self,
        form: &Form,
    ) -> Option<(TokenStream, impl Fn(TokenStream) -> TokenStream + 'static)> {
        let conversion = self.typed_params(form)?;
        let t = self.typed_params_type();
        let ty = quote!(#t);
        Some((ty, move |raw: TokenStream| match conversion {
            TypedParamsConversion::Newtype => quote!(#t(#raw)),
            TypedParamsConversion::From => quote!(#t::from(#raw)),
        }))
    }

    /// The typed-parameter type's name, as the methods write it.
    fn typed_params_type(&self) -> Ident {
        let path = self
            .config
            .typed_params
            .as_ref()
            .map_or("TypedParams", |t| t.path.as_str());
        format_ident!("{}", imports::last_segment(path))
    }
}
