//! What a method makes of a procedure's reply: nothing, its one field
//! (typed parameters and objects converted), or the whole reply struct.

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use super::params::Fields;
use super::results::{c_string, is_c_string, typed_value};
use super::{Ctx, Handle};
use crate::codegen::form::{Form, Primitive};
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
    /// A list asked for by count (`nparams`, `maxerrors`): asked for
    /// twice when the first reply gives only the count.
    pub counted: Option<Counted>,
}

/// libvirt's "call with a count of 0 for the count, then with the count"
/// getters: the reply's list and count, and the argument giving the count.
pub(super) struct Counted {
    /// The reply's list (`params`, `errors`).
    pub list: Ident,
    /// The reply's count (`nparams`, `nerrors`).
    pub count: Ident,
    /// The argument (`nparams`, `maxerrors`).
    pub arg: Ident,
    /// Whether the count and the argument differ in type (`int` and
    /// `unsigned int`).
    pub convert: bool,
}

impl<'c> Ctx<'c> {
    /// What a method makes of the procedure's reply.
    pub(super) fn reply(&self, pr: &Procedure, method: &str) -> Result<Reply<'c>, String> {
        let Some(ret) = &pr.result else {
            return Ok(Reply {
                ty: None,
                map: None,
                field: None,
                list_of: None,
                counted: None,
            });
        };
        let reply = self.struct_fields(ret)?;
        let counted = match &reply {
            Some((_, fields)) => self.counted_list(pr, fields)?,
            None => None,
        };
        Ok(match reply {
            Some((_, fields)) if fields.len() == 1 => {
                let (field, form, kept) = &fields[0];
                let id = ident(field);
                let read = self.field_reader(&id, kept);
                let bare = field.trim_start_matches("r#");
                let typed = self
                    .config
                    .reply_values
                    .get(&pr.name)
                    .and_then(|t| t.get(bare));
                let module = self.value_module();
                let (ty, map): (TokenStream, ReplyMap<'c>) =
                    if self.config.bool_replies.contains(&pr.name)
                        && *form == Form::Primitive(Primitive::I32)
                    {
                        let read = read.clone();
                        (
                            quote!(bool),
                            Box::new(move |v| {
                                let x = read(v);
                                quote!(#x != 0)
                            }),
                        )
                    } else if let Some((vt, ty)) = typed.and_then(|vt| {
                        let (ty, _) = typed_value(&module, vt, form, quote!(v), &|_| None)?;
                        Some((vt.clone(), ty))
                    }) {
                        let form = form.clone();
                        let read = read.clone();
                        (
                            ty,
                            Box::new(move |v| {
                                typed_value(&module, &vt, &form, read(v), &|_| None)
                                    .map(|(_, e)| e)
                                    .unwrap_or_default()
                            }),
                        )
                    } else if is_c_string(form) {
                        let read = read.clone();
                        (quote!(String), Box::new(move |v| c_string(read(v))))
                    } else {
                        match self.typed_params_conversion(form) {
                            Some((ty, convert)) => {
                                let read = read.clone();
                                (ty, Box::new(move |v| convert(read(v))))
                            }
                            None => match self.handle_of(form) {
                                // A single object comes back as its handle.
                                Some(h) => {
                                    let ty = format_ident!("{}", h.rust);
                                    (
                                        quote!(#ty),
                                        Box::new(move |v| {
                                            let x = read(v);
                                            quote!(#ty::from_wire(self.clone(), #x))
                                        }),
                                    )
                                }
                                None => (self.rust(form), Box::new(read)),
                            },
                        }
                    };
                Reply {
                    ty: Some(ty),
                    map: Some(map),
                    field: Some(field.trim_start_matches("r#").to_owned()),
                    list_of: None,
                    counted: None,
                }
            }
            Some((_, fields)) if counted.is_some() => {
                let form = &fields[0].1;
                let read = self.field_reader(&ident(&fields[0].0), &fields[0].2);
                let (ty, map): (TokenStream, ReplyMap<'c>) =
                    match self.typed_params_conversion(form) {
                        Some((ty, convert)) => (ty, Box::new(move |v| convert(read(v)))),
                        None => (self.rust(form), Box::new(read)),
                    };
                Reply {
                    ty: Some(ty),
                    map: Some(map),
                    field: Some(fields[0].0.trim_start_matches("r#").to_owned()),
                    list_of: None,
                    counted,
                }
            }
            Some((path, fields)) if self.has_typed_field(&pr.name, &fields) => {
                let result = self.typed_result(&pr.name, method, &path, &fields)?;
                let name = result.name.clone();
                self.results.borrow_mut().push(result.items);
                Reply {
                    ty: Some(quote!(#name)),
                    map: Some(Box::new(move |v| quote!(#name::from(#v)))),
                    field: None,
                    list_of: None,
                    counted: None,
                }
            }
            Some((path, fields)) => {
                let list_of = match fields.as_slice() {
                    // A list of typedefs would need unwrapping: not a list
                    // of objects.
                    [(list, list_form @ Form::List(item), list_kept), (count, count_form, _)]
                        if count == "ret"
                            && is_number_or_enum(count_form)
                            && list_form == list_kept =>
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
                    counted: None,
                }
            }
            None => Reply {
                ty: Some(self.rust(&self.layout.resolved_form(ret, false))),
                map: None,
                field: None,
                list_of: None,
                counted: None,
            },
        })
    }

    /// Whether a reply of `fields` is a list asked for by count: libvirt's
    /// "call with a count of 0 for the count, then with the count" getters
    /// (`params` and `nparams` in the reply, `nparams` in the arguments;
    /// `errors` and `nerrors` in the reply, `maxerrors` in the arguments).
    fn counted_list(&self, pr: &Procedure, fields: &Fields) -> Result<Option<Counted>, String> {
        let [(list, Form::List(_), _), (count, count_form, _)] = fields.as_slice() else {
            return Ok(None);
        };
        let is_count = |f: &Form| matches!(f, Form::Primitive(Primitive::I32 | Primitive::U32));
        let bare = list.trim_start_matches("r#");
        if !is_count(count_form) || *count != format!("n{bare}") || pr.annotations.stream.is_some()
        {
            return Ok(None);
        }
        let [args] = pr.args.as_slice() else {
            return Ok(None);
        };
        let Some((_, arg_fields)) = self.struct_fields(args)? else {
            return Ok(None);
        };
        let max = format!("max{bare}");
        Ok(arg_fields
            .iter()
            .find(|(f, form, _)| (f == count || *f == max) && is_count(form))
            .map(|(arg, arg_form, _)| Counted {
                list: ident(list),
                count: ident(count),
                arg: ident(arg),
                convert: arg_form != count_form,
            }))
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
