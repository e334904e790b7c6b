//! Typed events: for each [`EventFamily`] of the configuration, an enum
//! with a variant per event message of the family, its fields typed as the
//! client's methods type them (object handles, typed parameters, the C
//! API's enums and flag sets), and its conversion from a received message
//! (the client module's `Event` trait).
//!
//! libvirt's conventions are read as they are written in its `.x` files: a
//! message sent to a registered callback starts with `int callbackID`
//! (dropped: the stream it arrives on is the callback's), and the newer
//! form of an older message holds the older one as `msg` (its fields take
//! its place).

use std::collections::{BTreeMap, BTreeSet};

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use super::results::typed_value;
use super::{Ctx, EventFamily, EventMessage, Handle};
use crate::codegen::form::{Form, Primitive};
use crate::codegen::layout::{ProcedureName, TypeModule};
use crate::codegen::{ident, naming};
use crate::ir::{BaseType, NamedKind, ProcedureKind, Shape, TypeRef};

/// The first field of a message sent to a registered callback.
const CALLBACK_ID: &str = "callbackID";
/// The field holding an older message inside its newer form.
const NESTED: &str = "msg";

/// The typed events of a program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventCode {
    /// The module's text, formatted (`use` lines and items; no preamble,
    /// no module documentation).
    pub body: String,
    /// Each enum's name and number of variants, in the configuration's
    /// order.
    pub enums: Vec<(String, usize)>,
}

/// A message field as the wire has it.
struct WireField {
    /// The field's Rust name (a nested message's by its own).
    rust: String,
    /// The same without `r#`.
    key: String,
    /// Its XDR name.
    xdr: String,
    /// How the conversion reads it from the message `m` (`m.msg.dom`).
    access: TokenStream,
    form: Form,
}

/// A variant's field.
struct VariantField {
    name: Ident,
    ty: TokenStream,
    value: TokenStream,
    doc: String,
    handle: Option<String>,
}

impl Ctx<'_> {
    /// The typed events of the procedures `procedures`, whose marker types
    /// are in `procs_path` (the program's `Message` enum beside them);
    /// `None` without families.
    pub(super) fn events(
        &self,
        procedures: &[ProcedureName<'_>],
        procs_path: &str,
    ) -> Result<Option<EventCode>, String> {
        let events = &self.config.events;
        if events.families.is_empty() {
            return Ok(None);
        }
        let message = syn::parse_str::<syn::Path>(&events.message)
            .map_err(|e| format!("`{}` is not a path: {e}", events.message))?;
        let message_type = message
            .segments
            .last()
            .map(|s| s.ident.clone())
            .ok_or("the events' message type has no name")?;
        let program_variant = format_ident!("{}", events.variant);
        let types = self.modules.name(TypeModule::Own);
        let tables = procs_path.strip_suffix("::procs").unwrap_or(procs_path);
        let tables: TokenStream = tables
            .parse()
            .map_err(|_| format!("`{procs_path}` is not a path"))?;

        let mut items = Vec::new();
        let mut enums = Vec::new();
        let mut enum_names = BTreeSet::new();
        for family in &events.families {
            if !enum_names.insert(family.name.as_str()) {
                return Err(format!("two event families are named `{}`", family.name));
            }
            let mut variants = Vec::new();
            let mut arms = Vec::new();
            let mut ids = Vec::new();
            let mut handles = Vec::new();
            let mut uses_client = false;
            let mut names = BTreeSet::new();
            for p in procedures {
                let pr = p.procedure;
                if pr.kind != ProcedureKind::Message {
                    continue;
                }
                let Some(rest) = family
                    .prefixes
                    .iter()
                    .find_map(|prefix| p.short.strip_prefix(prefix.as_str()))
                else {
                    continue;
                };
                let Some(m) = &pr.message else { continue };
                let Some(wire) = self.wire_fields(m)? else {
                    continue;
                };
                let default = EventMessage::default();
                let about = family.messages.get(&pr.name).unwrap_or(&default);
                let variant = format_ident!("{}", variant_name(rest, about));
                if !names.insert(variant.to_string()) {
                    return Err(format!(
                        "{}: `{}::{variant}` is taken by another message",
                        pr.name, family.name
                    ));
                }
                let fields = self.variant_fields(&pr.name, &wire, about)?;
                uses_client |= fields.iter().any(|f| f.handle.is_some());

                let marker = format_ident!("{}", p.marker);
                let mut doc = format!(
                    " [`{}`]({}{procs_path}::{}) (procedure {})",
                    pr.name,
                    types.to_string().replace(' ', ""),
                    p.marker,
                    pr.number
                );
                if let Some(callback) = &about.callback {
                    doc.push_str(&format!(", delivered to the C API's `{callback}`"));
                }
                doc.push('.');
                let id_doc = match (&family.id_type, &about.id) {
                    (Some(t), Some(id)) => {
                        let module = self.value_module_name();
                        let ty = format_ident!("{}", t);
                        let c = format_ident!("{}", id);
                        ids.push(quote!(Self::#variant { .. } => #module::#ty::#c,));
                        Some(format!(
                            " Sent to callbacks registered for [`{t}::{id}`]({module}::{t}::{id})."
                        ))
                    }
                    (Some(t), None) => {
                        return Err(format!("{}: no `{t}` given", pr.name));
                    }
                    _ => None,
                };
                let id_doc = id_doc.map(|d| quote!(#[doc = ""] #[doc = #d]));
                let decls = fields.iter().map(|f| {
                    let (name, ty, doc) = (&f.name, &f.ty, format!(" {}", f.doc));
                    quote!(#[doc = #doc] #name: #ty,)
                });
                variants.push(quote! {
                    #[doc = #doc]
                    #id_doc
                    #variant { #(#decls)* },
                });
                let inits = fields.iter().map(|f| {
                    let (name, value) = (&f.name, &f.value);
                    quote!(#name: #value,)
                });
                arms.push(quote! {
                    #message_type::#program_variant(#types #tables::Message::#marker(m)) => {
                        Ok(Self::#variant { #(#inits)* })
                    }
                });
                handles.push((variant, fields));
            }
            if variants.is_empty() {
                return Err(format!(
                    "event family `{}`: no message with a callback id starts with {}",
                    family.name,
                    family.prefixes.join(" or ")
                ));
            }
            enums.push((family.name.clone(), variants.len()));
            items.push(self.event_enum(family, &variants, &arms, &ids, &handles, uses_client));
        }
        let code = quote!(#(#items)*);
        let uses = self.modules.uses(&code, procs_path)?;
        let tokens = quote! {
            #uses
            use #message;
            #code
        };
        let file: syn::File = syn::parse2(tokens)
            .map_err(|e| format!("typed events are not valid Rust (a bug): {e}"))?;
        Ok(Some(EventCode {
            body: prettyplease::unparse(&file),
            enums,
        }))
    }

    /// The module of the C API's types as the events name it (`api`).
    fn value_module_name(&self) -> Ident {
        format_ident!("{}", super::imports::last_segment(&self.config.flag_module))
    }

    /// A family's enum, its `Event` implementation and accessors.
    fn event_enum(
        &self,
        family: &EventFamily,
        variants: &[TokenStream],
        arms: &[TokenStream],
        ids: &[TokenStream],
        fields: &[(Ident, Vec<VariantField>)],
        uses_client: bool,
    ) -> TokenStream {
        let name = format_ident!("{}", family.name);
        let family_variant = format_ident!("{}", family.family);
        let client = format_ident!("{}", self.config.client);
        let client_arg = if uses_client {
            quote!(client)
        } else {
            quote!(_client)
        };
        let message = format_ident!(
            "{}",
            super::imports::last_segment(&self.config.events.message)
        );
        let docs = family.doc.lines().map(|l| {
            let l = if l.is_empty() {
                String::new()
            } else {
                format!(" {l}")
            };
            quote!(#[doc = #l])
        });
        let mut methods = Vec::new();
        if let (Some(t), false) = (&family.id_type, ids.is_empty()) {
            let module = self.value_module_name();
            let t = format_ident!("{}", t);
            methods.push(quote! {
                /// The kind of event, as registered for.
                pub fn event_id(&self) -> #module::#t {
                    match self {
                        #(#ids)*
                    }
                }
            });
        }
        // The object every event is about, when each has one of one type.
        let objects: Vec<Option<(&Ident, &str)>> = fields
            .iter()
            .map(
                |(_, fs)| match fs.iter().filter(|f| f.handle.is_some()).collect::<Vec<_>>()[..] {
                    [f] => f.handle.as_deref().map(|h| (&f.name, h)),
                    _ => None,
                },
            )
            .collect();
        if let Some(Some((first, handle))) = objects.first() {
            if objects
                .iter()
                .all(|o| o.is_some_and(|(n, h)| n == *first && h == *handle))
                && *first != "event_id"
            {
                let h = format_ident!("{}", handle);
                let arms = fields
                    .iter()
                    .map(|(v, _)| quote!(Self::#v { #first, .. } => #first,));
                let doc = format!(
                    " The {} the event is about.",
                    first.to_string().replace('_', " ")
                );
                methods.push(quote! {
                    #[doc = #doc]
                    pub fn #first(&self) -> &#h {
                        match self {
                            #(#arms)*
                        }
                    }
                });
            }
        }
        let accessors = (!methods.is_empty()).then(|| {
            quote! {
                impl #name {
                    #(#methods)*
                }
            }
        });
        quote! {
            #(#docs)*
            #[derive(Debug, Clone, PartialEq)]
            #[non_exhaustive]
            pub enum #name {
                #(#variants)*
            }

            impl Event for #name {
                const FAMILY: EventFamily = EventFamily::#family_variant;

                fn from_message(#client_arg: &#client, message: #message) -> Result<Self, #message> {
                    match message {
                        #(#arms)*
                        other => Err(other),
                    }
                }
            }

            #accessors
        }
    }

    /// The fields of an event message without its callback id, a nested
    /// message's in its place; `None` when it is not a message sent to a
    /// registered callback.
    fn wire_fields(&self, ty: &TypeRef) -> Result<Option<Vec<WireField>>, String> {
        let Some(fields) = self.struct_of(ty) else {
            return Ok(None);
        };
        match fields.first() {
            Some((xdr, _, Form::Primitive(Primitive::I32), _)) if xdr == CALLBACK_ID => {}
            _ => return Ok(None),
        }
        let mut out = Vec::new();
        for (xdr, rust, form, kept) in fields.into_iter().skip(1) {
            let id = ident(&rust);
            let nested = match &form {
                Form::Named(n) if xdr == NESTED && n.kind == NamedKind::Struct => {
                    self.fields_of(&n.xdr)
                }
                _ => None,
            };
            match nested {
                Some(inner) => {
                    for (xdr, rust, form, inner_kept) in inner {
                        let inner_id = ident(&rust);
                        out.push(WireField {
                            key: rust.trim_start_matches("r#").to_owned(),
                            rust,
                            xdr,
                            access: self.plain(&inner_kept, quote!(m.#id.#inner_id)),
                            form,
                        });
                    }
                }
                None => out.push(WireField {
                    key: rust.trim_start_matches("r#").to_owned(),
                    rust,
                    xdr,
                    access: self.plain(&kept, quote!(m.#id)),
                    form,
                }),
            }
        }
        Ok(Some(out))
    }

    /// `(XDR name, Rust name, form)` of each field of a struct `ty`.
    fn struct_of(&self, ty: &TypeRef) -> Option<Vec<(String, String, Form, Form)>> {
        let (BaseType::Named { name, .. }, Shape::Scalar) = (&ty.base, &ty.shape) else {
            return None;
        };
        self.fields_of(name)
    }

    /// A variant's fields: handles for objects (named by the handle's
    /// word), typed parameters, typed values, the rest as on the wire.
    fn variant_fields(
        &self,
        proc: &str,
        wire: &[WireField],
        about: &EventMessage,
    ) -> Result<Vec<VariantField>, String> {
        for key in about.values.keys() {
            if !wire.iter().any(|w| w.key == *key) {
                return Err(format!("{proc}: no field `{key}` to type"));
            }
        }
        let module = self.value_module_name();
        // An object's field is named by its handle's word, unless two
        // fields hold objects of the same kind.
        let mut handle_count: BTreeMap<&str, usize> = BTreeMap::new();
        for w in wire {
            if let Some(h) = self.handle_of(&w.form) {
                *handle_count.entry(&h.rust).or_default() += 1;
            }
        }
        let mut taken = BTreeSet::new();
        let mut out = Vec::new();
        for w in wire {
            let raw = &w.access;
            let documented = about.field_docs.get(&w.key).cloned();
            let handle: Option<&Handle> = self.handle_of(&w.form);
            let (name, ty, value, doc) = if let Some(vt) = about.values.get(&w.key) {
                let (ty, value) = typed_value(&module, vt, &w.form, raw.clone(), &|of| {
                    let sibling = wire.iter().find(|s| s.key == of)?;
                    let vt = about.values.get(of)?.clone();
                    Some((vt, sibling.form.clone(), sibling.access.clone()))
                })
                .ok_or(format!(
                    "{proc}: field `{}` cannot be typed as {vt:?}",
                    w.key
                ))?;
                (ident(&w.rust), ty, value, documented)
            } else if let Some(h) = handle {
                let t = format_ident!("{}", h.rust);
                let name = if handle_count.get(h.rust.as_str()) == Some(&1) {
                    h.word.clone()
                } else {
                    w.key.clone()
                };
                let doc = documented.or_else(|| {
                    Some(format!(
                        "The {} the event is about.",
                        h.word.replace('_', " ")
                    ))
                });
                (
                    ident(&naming::snake(&name)),
                    quote!(#t),
                    quote!(#t::from_wire(client.clone(), #raw)),
                    doc,
                )
            } else if let Some((ty, convert)) = self.typed_params_conversion(&w.form) {
                (ident(&w.rust), ty, convert(raw.clone()), documented)
            } else {
                (ident(&w.rust), self.rust(&w.form), raw.clone(), documented)
            };
            if !taken.insert(name.to_string()) {
                return Err(format!("{proc}: two fields named `{name}`"));
            }
            out.push(VariantField {
                doc: doc.unwrap_or_else(|| format!("The message's `{}`.", w.xdr)),
                name,
                ty,
                value,
                handle: handle.map(|h| h.rust.clone()),
            });
        }
        Ok(out)
    }
}

/// An event's variant name: of the procedure's name `rest` and the C
/// API's spelling of the same letters, the one with more word breaks
/// (`PMWakeup` over `PMWAKEUP`, `NIC_MAC_CHANGE` over `NICMACChange`).
fn variant_name(rest: &str, about: &EventMessage) -> String {
    let letters = |s: &str| -> String {
        s.chars()
            .filter(|c| *c != '_')
            .map(|c| c.to_ascii_uppercase())
            .collect()
    };
    let words = |name: &str| name.chars().filter(char::is_ascii_uppercase).count();
    let from_rest = naming::upper_camel(rest);
    match &about.spelling {
        Some(spelling) if letters(spelling) == letters(rest) => {
            let from_spelling = naming::upper_camel(spelling);
            if words(&from_spelling) > words(&from_rest) {
                from_spelling
            } else {
                from_rest
            }
        }
        _ => from_rest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spelled(spelling: &str) -> EventMessage {
        EventMessage {
            spelling: Some(spelling.into()),
            ..EventMessage::default()
        }
    }

    #[test]
    fn variants_take_the_spelling_with_more_word_breaks() {
        assert_eq!(variant_name("PMWAKEUP", &spelled("PMWakeup")), "PmWakeup");
        assert_eq!(
            variant_name("NIC_MAC_CHANGE", &spelled("NICMACChange")),
            "NicMacChange"
        );
        // Another word is not a spelling of this one.
        assert_eq!(variant_name("REBOOT", &spelled("Generic")), "Reboot");
        assert_eq!(variant_name("REBOOT", &EventMessage::default()), "Reboot");
    }
}
