//! From IR type references to a Rust type and the codec that writes it.
//!
//! Typedef aliases become Rust type aliases, so a field keeps the alias's
//! name as its type, but its codec is found by expanding the alias down to
//! the wire form (`remote_string` → `Opt<Str<4194304>>`).

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

use crate::codegen::Generator;
use crate::ir::{BaseType, NamedKind, Shape, TypeKind, TypeRef};

impl Generator<'_> {
    /// The Rust type of a value of `ty` (`boxed` for optionals on a cycle).
    pub(crate) fn rust_type(&self, ty: &TypeRef, boxed: bool) -> TokenStream {
        let bytes = quote!(::std::vec::Vec<u8>);
        match (&ty.base, &ty.shape) {
            (BaseType::String, _) if self.options.strings_as_bytes => bytes,
            (BaseType::String, _) => quote!(::std::string::String),
            (BaseType::Opaque, Shape::Fixed(n)) => {
                let n = usize_lit(*n);
                quote!([u8; #n])
            }
            (BaseType::Opaque, _) => bytes,
            (base, shape) => {
                let elem = self.base_type(base);
                match shape {
                    Shape::Scalar => elem,
                    Shape::Optional if boxed => {
                        quote!(::std::option::Option<::std::boxed::Box<#elem>>)
                    }
                    Shape::Optional => quote!(::std::option::Option<#elem>),
                    Shape::Fixed(n) => {
                        let n = usize_lit(*n);
                        quote!([#elem; #n])
                    }
                    Shape::Variable(_) => quote!(::std::vec::Vec<#elem>),
                }
            }
        }
    }

    fn base_type(&self, base: &BaseType) -> TokenStream {
        match base {
            BaseType::Int => quote!(i32),
            BaseType::UnsignedInt => quote!(u32),
            BaseType::Hyper => quote!(i64),
            BaseType::UnsignedHyper => quote!(u64),
            BaseType::Char => quote!(i8),
            BaseType::UnsignedChar => quote!(u8),
            BaseType::Short => quote!(i16),
            BaseType::UnsignedShort => quote!(u16),
            BaseType::Float => quote!(f32),
            BaseType::Double => quote!(f64),
            BaseType::Bool => quote!(bool),
            BaseType::Quadruple => {
                let rt = &self.rt;
                quote!(#rt::Quadruple)
            }
            // Only reachable with a shape; handled by `rust_type`.
            BaseType::String | BaseType::Opaque => quote!(::std::vec::Vec<u8>),
            BaseType::Named { name, .. } => self.type_ident(name),
        }
    }

    /// The codec type that encodes a value of `ty`.
    pub(crate) fn codec(&self, ty: &TypeRef, boxed: bool) -> TokenStream {
        let rt = &self.rt;
        let element = match (&ty.base, &ty.shape) {
            (BaseType::String, shape) => {
                let max = bound(shape);
                return if self.options.strings_as_bytes {
                    quote!(#rt::StrBytes<#max>)
                } else {
                    quote!(#rt::Str<#max>)
                };
            }
            (BaseType::Opaque, Shape::Fixed(n)) => {
                let n = usize_lit(*n);
                return quote!(#rt::FixedOpaque<#n>);
            }
            (BaseType::Opaque, shape) => {
                let max = bound(shape);
                return quote!(#rt::Opaque<#max>);
            }
            (
                BaseType::Named {
                    name,
                    kind: NamedKind::Alias,
                },
                _,
            ) => self.alias_codec(name),
            (base, _) => {
                let t = self.base_type(base);
                quote!(#rt::Plain<#t>)
            }
        };
        match &ty.shape {
            Shape::Scalar => element,
            Shape::Optional if boxed => quote!(#rt::OptBox<#element>),
            Shape::Optional => quote!(#rt::Opt<#element>),
            Shape::Fixed(n) => {
                let n = usize_lit(*n);
                quote!(#rt::FixedArray<#element, #n>)
            }
            Shape::Variable(max) => {
                let max = u32_lit(max.unwrap_or(u32::MAX));
                quote!(#rt::VarArray<#element, #max>)
            }
        }
    }

    /// The codec of an alias: the codec of what it stands for.
    fn alias_codec(&self, name: &str) -> TokenStream {
        match self.spec.type_def(name) {
            Some(def) => match &def.kind {
                TypeKind::Alias(target) => self.codec(target, def.recursive),
                _ => {
                    let t = self.type_ident(name);
                    let rt = &self.rt;
                    quote!(#rt::Plain<#t>)
                }
            },
            None => quote!(()),
        }
    }

    /// The Rust name of an IR type, as a path usable in this module.
    pub(crate) fn type_ident(&self, name: &str) -> TokenStream {
        let prefix = self.type_prefix.borrow().clone();
        if let Some((path, rust)) = self.extern_type(name) {
            let id = format_ident!("{}", rust);
            // A relative path (`super::remote`) is relative to the types'
            // module, so it takes the same prefix as a local name; an
            // absolute one (`crate::...`, `::...`) does not.
            let absolute = matches!(
                path.clone().into_iter().next(),
                Some(proc_macro2::TokenTree::Ident(i)) if i == "crate"
            ) || path.to_string().starts_with("::");
            return if absolute {
                quote!(#path::#id)
            } else {
                quote!(#prefix #path::#id)
            };
        }
        let rust = self.names.type_name(name).unwrap_or(name);
        let id = format_ident!("{}", rust);
        quote!(#prefix #id)
    }
}

fn bound(shape: &Shape) -> Literal {
    match shape {
        Shape::Variable(Some(n)) => u32_lit(*n),
        _ => u32_lit(u32::MAX),
    }
}

pub(crate) fn u32_lit(n: u32) -> Literal {
    Literal::u32_unsuffixed(n)
}

pub(crate) fn usize_lit(n: u32) -> Literal {
    Literal::usize_unsuffixed(n as usize)
}
