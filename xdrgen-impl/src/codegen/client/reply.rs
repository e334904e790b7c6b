//! What a method makes of a procedure's reply: nothing, its one field
//! (typed parameters and objects converted), or the whole reply struct.

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use super::{Ctx, Handle, TypedParamsConversion};
use crate::codegen::form::Form;
use crate::codegen::ident;
use crate::ir::{NamedKind, Procedure};

/// Makes the method's value from the reply held in a variable.
pub(super) type ReplyMap<'c> = Box<dyn Fn(TokenStream) -> TokenStream + 'c>;

/// What a method returns of a reply.
pub(super) struct Reply<'c> {
    /// The Rust type; `None` for no reply.
    pub ty: Option<TokenStream>,
    /// How the value comes out of the reply; `None`: the reply itself.
    pub map: Option<ReplyMap<'c>>,
    /// The one field returned, for the docs.
    pub field: Option<String>,
    /// A reply that is a list of objects and their count (`*_LIST_ALL_*`):
    /// the handle and the list's field.
    pub list_of: Option<(&'c Handle, Ident)>,
}

impl<'c> Ctx<'c> {
    /// What a method makes of the procedure's reply.
    pub(super) fn reply(&self, pr: &Procedure) -> Result<Reply<'c>, String> {
        let Some(ret) = &pr.result else {
            return Ok(Reply {
                ty: None,
                map: None,
                field: None,
                list_of: None,
            });
        };
        Ok(match self.struct_fields(ret)? {
            Some((_, fields)) if fields.len() == 1 => {
                let (field, form) = &fields[0];
                let id = ident(field);
                let (ty, map): (TokenStream, ReplyMap<'c>) = match self.typed_params(form) {
                    Some(conversion) => {
                        let t = self.typed_params_type();
                        let map: ReplyMap<'c> = match conversion {
                            TypedParamsConversion::Newtype => Box::new(move |v| quote!(#t(#v.#id))),
                            TypedParamsConversion::From => {
                                Box::new(move |v| quote!(#t::from(#v.#id)))
                            }
                        };
                        let t = self.typed_params_type();
                        (quote!(#t), map)
                    }
                    None => match self.handle_of(form) {
                        // A single object comes back as its handle.
                        Some(h) => {
                            let ty = format_ident!("{}", h.rust);
                            (
                                quote!(#ty),
                                Box::new(move |v| quote!(#ty::from_wire(self.clone(), #v.#id))),
                            )
                        }
                        None => (self.rust(form), Box::new(move |v| quote!(#v.#id))),
                    },
                };
                Reply {
                    ty: Some(ty),
                    map: Some(map),
                    field: Some(field.trim_start_matches("r#").to_owned()),
                    list_of: None,
                }
            }
            Some((path, fields)) => {
                let list_of = match fields.as_slice() {
                    [(list, Form::List(item)), (count, count_form)]
                        if count == "ret" && is_number_or_enum(count_form) =>
                    {
                        self.handle_of(item).map(|h| (h, ident(list)))
                    }
                    _ => None,
                };
                Reply {
                    ty: Some(path),
                    map: None,
                    field: None,
                    list_of,
                }
            }
            None => Reply {
                ty: Some(self.rust(&self.layout.resolved_form(ret, false))),
                map: None,
                field: None,
                list_of: None,
            },
        })
    }
}

/// A number, `bool` or enum (a count).
fn is_number_or_enum(form: &Form) -> bool {
    match form {
        Form::Primitive(_) => true,
        Form::Named(n) => n.kind == NamedKind::Enum,
        _ => false,
    }
}
