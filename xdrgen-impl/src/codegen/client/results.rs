//! Typed values: numbers on the wire as the C API's enums and flag sets
//! ([`ValueType`]), yes/no answers as `bool`, C strings (`char name[N]`)
//! as `String`, and the typed result structs of replies that hold them.

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use super::params::Fields;
use super::{Ctx, ValueType};
use crate::codegen::form::{Form, Primitive};
use crate::codegen::ident;

/// The raw value of a sibling field by name: its type, form and value.
pub(super) type Sibling<'a> = dyn Fn(&str) -> Option<(ValueType, Form, TokenStream)> + 'a;

/// A typed value's Rust type and the expression making it from `raw`, a
/// field of the wire form `form`; `sibling(name)` gives the raw value of a
/// sibling field, for a [`ValueType::Dependent`] value. `None` when the
/// form is not a number the type can hold.
pub(super) fn typed_value(
    module: &Ident,
    vt: &ValueType,
    form: &Form,
    raw: TokenStream,
    sibling: &Sibling<'_>,
) -> Option<(TokenStream, TokenStream)> {
    let Form::Primitive(p) = form else {
        return None;
    };
    let as_i32 = match p {
        Primitive::I32 => raw.clone(),
        Primitive::U32 => quote!(#raw as i32),
        Primitive::I8 | Primitive::U8 | Primitive::I16 | Primitive::U16 => {
            quote!(i32::from(#raw))
        }
        _ => return None,
    };
    Some(match vt {
        ValueType::Enum(t) => {
            let t = format_ident!("{}", t);
            (quote!(#module::#t), quote!(#module::#t::from(#as_i32)))
        }
        ValueType::Bool => (quote!(bool), quote!(#raw != 0)),
        ValueType::Flags(t) => {
            let t = format_ident!("{}", t);
            let bits = match p {
                Primitive::U32 => raw,
                _ => quote!(#as_i32 as u32),
            };
            (
                quote!(#module::#t),
                quote!(#module::#t::from_bits_retain(#bits)),
            )
        }
        ValueType::Dependent { ty, of } => {
            let (of_vt, of_form, of_raw) = sibling(of)?;
            if !matches!(of_vt, ValueType::Enum(_)) {
                return None;
            }
            let (_, of_value) = typed_value(module, &of_vt, &of_form, of_raw, &|_| None)?;
            let t = format_ident!("{}", ty);
            (
                quote!(#module::#t),
                quote!(#module::#t::new(#of_value, #as_i32)),
            )
        }
    })
}

/// A C string on the wire: an array of `char`, fixed (`char model[32]`)
/// or counted with its NUL (`char label<N>`).
pub(super) fn is_c_string(form: &Form) -> bool {
    let element = match form {
        Form::Array { element, .. } | Form::List(element) => element,
        _ => return false,
    };
    **element == Form::Primitive(Primitive::I8)
}

/// The `String` of a C string held in `raw` (up to its first NUL; bytes
/// that are not UTF-8 replaced).
pub(super) fn c_string(raw: TokenStream) -> TokenStream {
    quote! {
        String::from_utf8_lossy(
            &#raw.iter().take_while(|c| **c != 0).map(|c| *c as u8).collect::<Vec<u8>>(),
        )
        .into_owned()
    }
}

/// A typed result: the struct's declaration and conversion, made once per
/// reply type.
pub(super) struct TypedResult {
    /// The struct's name.
    pub name: Ident,
    /// Its declaration and `From` the wire reply.
    pub items: TokenStream,
}

impl Ctx<'_> {
    /// The module of the C API's types, as the methods name it.
    pub(super) fn value_module(&self) -> Ident {
        format_ident!("{}", super::imports::last_segment(&self.config.flag_module))
    }

    /// The typed value of reply field `field` of procedure `proc`, made from
    /// `raw`, if the configuration types it.
    pub(super) fn reply_value(
        &self,
        proc: &str,
        field: &str,
        form: &Form,
        raw: TokenStream,
        fields: &Fields,
        reply: &TokenStream,
    ) -> Option<(TokenStream, TokenStream)> {
        let bare = field.trim_start_matches("r#");
        let typed = self.config.reply_values.get(proc);
        if let Some(vt) = typed.and_then(|t| t.get(bare)) {
            let module = self.value_module();
            let sibling = |name: &str| {
                let vt = typed?.get(name)?.clone();
                let (f, form, kept) = fields
                    .iter()
                    .find(|(f, _, _)| f.trim_start_matches("r#") == name)?;
                let id = ident(f);
                Some((vt, form.clone(), self.plain(kept, quote!(#reply.#id))))
            };
            return typed_value(&module, vt, form, raw, &sibling);
        }
        if is_c_string(form) {
            return Some((quote!(String), c_string(raw)));
        }
        None
    }

    /// Whether a struct reply has a field to type.
    pub(super) fn has_typed_field(&self, proc: &str, fields: &Fields) -> bool {
        let typed = self.config.reply_values.get(proc);
        fields.iter().any(|(f, form, _)| {
            is_c_string(form) || typed.is_some_and(|t| t.contains_key(f.trim_start_matches("r#")))
        })
    }

    /// The typed result struct of a reply of `fields` whose wire type is
    /// `wire`, named by the configuration.
    pub(super) fn typed_result(
        &self,
        proc: &str,
        method: &str,
        wire: &TokenStream,
        fields: &Fields,
    ) -> Result<TypedResult, String> {
        let name = self.config.reply_names.get(proc).ok_or(format!(
            "{proc}: a typed reply of several fields needs a name"
        ))?;
        let name = format_ident!("{}", name);
        let reply = quote!(r);
        let mut decls = Vec::new();
        let mut inits = Vec::new();
        for (field, form, kept) in fields {
            let id = ident(field);
            let raw = self.plain(kept, quote!(#reply.#id));
            let typed = self.reply_value(proc, field, form, raw.clone(), fields, &reply);
            let (ty, value) = match (typed, self.typed_params_conversion(form)) {
                (Some(typed), _) => typed,
                (None, Some((ty, convert))) => (ty, convert(raw)),
                (None, None) => (self.rust(form), raw),
            };
            let doc = format!(" The reply's `{}`.", field.trim_start_matches("r#"));
            decls.push(quote!(#[doc = #doc] pub #id: #ty,));
            inits.push(quote!(#id: #value,));
        }
        let doc = format!(
            " What [`{}::{method}`] returns: the reply with the C API's types.",
            self.config.client
        );
        let conversion = quote! {
            impl From<#wire> for #name {
                fn from(#reply: #wire) -> Self {
                    #name {
                        #(#inits)*
                    }
                }
            }
        };
        // Another procedure's reply of the same C struct: one more `From`.
        let declared = self.result_names.borrow().contains(&name.to_string());
        if declared {
            return Ok(TypedResult {
                name,
                items: conversion,
            });
        }
        self.result_names.borrow_mut().push(name.to_string());
        let items = quote! {
            #[doc = #doc]
            #[derive(Debug, Clone, PartialEq)]
            #[non_exhaustive]
            pub struct #name {
                #(#decls)*
            }

            #conversion
        };
        Ok(TypedResult { name, items })
    }
}
