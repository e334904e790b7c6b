//! A method's parameters: one per field of the argument struct, in the
//! form a caller has at hand, and the argument value built from them.

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use super::{Ctx, FlagArgs, Handle, TypedParamsConversion, ValueType};
use crate::codegen::form::{Form, Primitive};
use crate::codegen::ident;
use crate::codegen::naming;
use crate::ir::{BaseType, NamedKind, Procedure, Shape, TypeKind, TypeRef};

/// One parameter of a method.
pub(super) struct Param<'c> {
    /// The object handle whose wire identity this parameter takes.
    pub object: Option<&'c Handle>,
    pub name: Ident,
    pub ty: TokenStream,
    /// The argument struct's field value made from the parameter.
    pub value: TokenStream,
}

/// A struct's fields: Rust name, resolved form and the form the struct
/// holds (typedefs kept, see [`Ctx::plain`] and [`Ctx::kept`]).
pub(super) type Fields = Vec<(String, Form, Form)>;

impl<'c> Ctx<'c> {
    /// The parameters of a procedure's method, and the argument value
    /// built from them.
    pub(super) fn params(
        &self,
        pr: &Procedure,
        flags: Option<&FlagArgs>,
    ) -> Result<(Vec<Param<'c>>, TokenStream), String> {
        match pr.args.as_slice() {
            [] => Ok((Vec::new(), quote!(()))),
            [single] => match self.struct_fields(single)? {
                Some((path, fields)) => {
                    let mut params = Vec::new();
                    let mut inits = Vec::new();
                    for (field, form, kept) in fields {
                        let id = ident(&field);
                        let bare = field.trim_start_matches("r#");
                        let set = flags.and_then(|f| f.typed.get(bare));
                        let value = self
                            .config
                            .arg_values
                            .get(&pr.name)
                            .and_then(|v| v.get(bare))
                            .filter(|v| matches!(v, ValueType::Enum(_) | ValueType::Bool));
                        let p = match (set, &form, value) {
                            (
                                None,
                                Form::Primitive(prim @ (Primitive::I32 | Primitive::U32)),
                                Some(value),
                            ) => {
                                self.typed_values.set(self.typed_values.get() + 1);
                                let wire = if *prim == Primitive::U32 {
                                    quote!(u32)
                                } else {
                                    quote!(i32)
                                };
                                let (ty, value) = match value {
                                    ValueType::Enum(t) => {
                                        let module = self.value_module();
                                        let t = format_ident!("{}", t);
                                        let cast =
                                            (*prim == Primitive::U32).then(|| quote!(as u32));
                                        (quote!(impl Into<#module::#t>), quote!(#id.into().0 #cast))
                                    }
                                    _ => (quote!(bool), quote!(#wire::from(#id))),
                                };
                                Param {
                                    object: None,
                                    name: id.clone(),
                                    ty,
                                    value,
                                }
                            }
                            (Some(set), Form::Primitive(Primitive::U32), _) => {
                                self.typed_flags.set(self.typed_flags.get() + 1);
                                let module = format_ident!(
                                    "{}",
                                    super::imports::last_segment(&self.config.flag_module)
                                );
                                let ty = format_ident!("{}", set);
                                Param {
                                    object: None,
                                    name: id.clone(),
                                    ty: quote!(impl Into<#module::#ty>),
                                    value: quote!(#id.into().bits()),
                                }
                            }
                            _ => {
                                if field == "flags" {
                                    let why = match set {
                                        Some(set) => format!("{set} on a non-u32 field"),
                                        None => flags.map_or_else(
                                            || "no flag set given".to_owned(),
                                            |f| f.untyped_reason.clone(),
                                        ),
                                    };
                                    self.untyped_flags
                                        .borrow_mut()
                                        .push(format!("{}: {why}", pr.name));
                                }
                                self.param(id.clone(), &form)
                            }
                        };
                        let v = self.kept(&kept, p.value.clone());
                        inits.push(if id == v.to_string() {
                            quote!(#id)
                        } else {
                            quote!(#id: #v)
                        });
                        params.push(p);
                    }
                    Ok((params, quote!(#path { #(#inits),* })))
                }
                None => {
                    let form = self.layout.resolved_form(single, false);
                    let p = self.param(format_ident!("args"), &form);
                    let v = self.kept(&self.layout.form(single, false), p.value.clone());
                    Ok((vec![p], v))
                }
            },
            _ => Err(format!(
                "{} takes several arguments; client methods expect one struct",
                pr.name
            )),
        }
    }

    /// The parameter taking a field of form `form`.
    pub(super) fn param(&self, name: Ident, form: &Form) -> Param<'c> {
        let (ty, value) = match form {
            Form::String => (quote!(&str), quote!(#name.to_owned())),
            Form::Bytes => (quote!(&[u8]), quote!(#name.to_vec())),
            Form::Optional {
                value,
                boxed: false,
            } if **value == Form::String => {
                (quote!(Option<&str>), quote!(#name.map(str::to_owned)))
            }
            Form::Optional {
                value,
                boxed: false,
            } if matches!(&**value, Form::Named(n) if n.kind != NamedKind::Enum) => {
                let t = self.rust(value);
                (quote!(Option<&#t>), quote!(#name.cloned()))
            }
            f if self.typed_params(f).is_some() => {
                let t = self.typed_params_type();
                match self.typed_params(f) {
                    Some(TypedParamsConversion::Newtype) => (quote!(&#t), quote!(#name.0.clone())),
                    _ => (quote!(&#t), quote!(#name.into())),
                }
            }
            Form::List(inner) if **inner == Form::String => (
                quote!(&[&str]),
                quote!(#name.iter().map(|s| (*s).to_owned()).collect()),
            ),
            Form::List(inner) => {
                let t = self.rust(inner);
                (quote!(&[#t]), quote!(#name.to_vec()))
            }
            f if f.is_copy() => (self.rust(f), quote!(#name)),
            f => {
                let t = self.rust(f);
                (quote!(&#t), quote!(#name.clone()))
            }
        };
        Param {
            object: self.handle_of(form),
            name,
            ty,
            value,
        }
    }

    /// The Rust path and `(field name, form)` of each field, when `ty` is a
    /// plain struct.
    pub(super) fn struct_fields(
        &self,
        ty: &TypeRef,
    ) -> Result<Option<(TokenStream, Fields)>, String> {
        let (BaseType::Named { name, .. }, Shape::Scalar) = (&ty.base, &ty.shape) else {
            return Ok(None);
        };
        let Some(fields) = self.fields_of(name) else {
            return Ok(None);
        };
        let fields = fields
            .into_iter()
            .map(|(_, rust, form, kept)| (rust, form, kept))
            .collect();
        Ok(Some((self.named(name)?, fields)))
    }

    /// `(XDR name, Rust name, resolved form, kept form)` of each field of
    /// the struct `name`, when it is a plain struct.
    pub(super) fn fields_of(&self, name: &str) -> Option<Vec<(String, String, Form, Form)>> {
        let TypeKind::Struct(st) = &self.layout.type_def(name)?.kind else {
            return None;
        };
        let names = naming::struct_field_names(st);
        Some(
            st.fields
                .iter()
                .zip(names)
                .map(|(f, rust)| {
                    (
                        f.name.clone(),
                        rust,
                        self.layout.resolved_form(&f.ty, f.boxed),
                        self.layout.form(&f.ty, f.boxed),
                    )
                })
                .collect(),
        )
    }
}
