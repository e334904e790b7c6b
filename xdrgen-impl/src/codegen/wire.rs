//! From IR type references to a Rust type and the codec that writes it.
//!
//! A typedef is a newtype with its own `Encode` / `Decode`, so a field of a
//! typedef's type is `Plain<Newtype>`, and the typedef's own impl carries
//! its wire form (`remote_string` → `Opt<Plain<NonnullString>>`, and
//! `NonnullString` → `Str<4194304>`).
//!
//! Fixed-size arrays larger than
//! [`MAX_INLINE_ARRAY_BYTES`](super::MAX_INLINE_ARRAY_BYTES) are kept behind
//! a `Box` (`Box<[u8; N]>` with codec `Boxed<FixedOpaque<N>>`, `Box<[T; N]>`
//! with `Boxed<FixedArray<C, N>>`); smaller ones are held by value.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

use crate::codegen::form::{Form, Spelling};
use crate::codegen::layout::{TypeModule, TypePath};
use crate::codegen::Generator;
use crate::ir::{BaseType, Shape, TypeRef};

impl Generator<'_> {
    /// The Rust type of a value of `ty` (`boxed` for optionals on a cycle).
    pub(crate) fn rust_type(&self, ty: &TypeRef, boxed: bool) -> TokenStream {
        self.form_tokens(&self.layout.form(ty, boxed))
    }

    /// A form written for the generated items: std types by absolute path,
    /// type names from where the items are (see `type_prefix`).
    fn form_tokens(&self, form: &Form) -> TokenStream {
        form.tokens(&Spelling {
            absolute_std: true,
            runtime: &self.rt,
            type_path: &|p| self.path_tokens(p),
        })
    }

    /// The Rust type of one element of `base` (a scalar of it).
    fn base_type(&self, base: &BaseType) -> TokenStream {
        self.rust_type(&TypeRef::scalar(base.clone()), false)
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
                return self.boxed_codec_if_large(ty, quote!(#rt::FixedOpaque<#n>));
            }
            (BaseType::Opaque, shape) => {
                let max = bound(shape);
                return quote!(#rt::Opaque<#max>);
            }
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
                self.boxed_codec_if_large(ty, quote!(#rt::FixedArray<#element, #n>))
            }
            Shape::Variable(max) => {
                let max = u32_lit(max.unwrap_or(u32::MAX));
                quote!(#rt::VarArray<#element, #max>)
            }
        }
    }

    /// Whether a value of `ty` is encoded as its Rust type says: its
    /// codec is `Plain<T>` of its own type.
    pub(crate) fn is_plain(&self, ty: &TypeRef) -> bool {
        ty.shape == Shape::Scalar && !matches!(ty.base, BaseType::String | BaseType::Opaque)
    }

    /// `Boxed<codec>` for a large array, else the array's codec as it is.
    fn boxed_codec_if_large(&self, ty: &TypeRef, codec: TokenStream) -> TokenStream {
        if self.layout.is_large_array(ty) {
            let rt = &self.rt;
            quote!(#rt::Boxed<#codec>)
        } else {
            codec
        }
    }

    /// The Rust name of an IR type, as a path usable in this module.
    pub(crate) fn type_ident(&self, name: &str) -> TokenStream {
        let path = self.layout.type_path(name).unwrap_or_else(|| TypePath {
            module: TypeModule::Own,
            name: name.to_owned(),
        });
        self.path_tokens(&path)
    }

    /// A type's path as written where the items are: with the current
    /// `type_prefix`, and its extern module's path.
    fn path_tokens(&self, p: &TypePath) -> TokenStream {
        let prefix = self.type_prefix.borrow().clone();
        let id = format_ident!("{}", p.name);
        let TypeModule::Extern(i) = p.module else {
            return quote!(#prefix #id);
        };
        let path: TokenStream = self
            .layout
            .extern_module(i)
            .and_then(|m| m.path.parse().ok())
            .unwrap_or_default();
        // A relative path (`super::remote`) is relative to the types'
        // module, so it takes the same prefix as a local name; an
        // absolute one (`crate::...`, `::...`) does not.
        let absolute = matches!(
            path.clone().into_iter().next(),
            Some(proc_macro2::TokenTree::Ident(i)) if i == "crate"
        ) || path.to_string().starts_with("::");
        if absolute {
            quote!(#path::#id)
        } else {
            quote!(#prefix #path::#id)
        }
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

#[cfg(test)]
mod tests {
    use crate::codegen::MAX_INLINE_ARRAY_BYTES;
    use crate::codegen::{generate_tokens, GenOptions};
    use crate::{load, Options, SourceMap};

    fn generate(text: &str) -> String {
        let mut sources = SourceMap::new();
        sources.add("t.x", text);
        let spec = load(&sources, &Options::default()).spec.unwrap();
        generate_tokens(&spec, &GenOptions::default())
            .to_string()
            .split_whitespace()
            .collect()
    }

    #[test]
    fn arrays_are_boxed_just_above_the_limit() {
        let limit = MAX_INLINE_ARRAY_BYTES;
        let code = generate(&format!(
            "typedef opaque at[{limit}]; typedef opaque above[{}];
             typedef hyper h_at[{}]; typedef hyper h_above[{}];
             typedef opaque uuid[16];",
            limit + 1,
            limit / 8,
            limit / 8 + 1,
        ));
        assert!(
            code.contains(&format!("pubstructAt(pub[u8;{limit}]);")),
            "{code}"
        );
        assert!(code.contains(&format!(
            "pubstructAbove(pub::std::boxed::Box<[u8;{}]>);",
            limit + 1
        )));
        assert!(code.contains(&format!("pubstructHAt(pub[i64;{}]);", limit / 8)));
        assert!(code.contains(&format!(
            "pubstructHAbove(pub::std::boxed::Box<[i64;{}]>);",
            limit / 8 + 1
        )));
        assert!(code.contains("pubstructUuid(pub[u8;16]);"));
    }

    #[test]
    fn elements_count_with_their_size_in_memory() {
        // Each `u` takes its largest arm's room whatever arm it holds; each
        // `v` is a Vec (24 bytes) whatever its encoding; each `b` a pointer.
        let n = MAX_INLINE_ARRAY_BYTES / 1000 + 1;
        let m = MAX_INLINE_ARRAY_BYTES / 24 + 1;
        let k = MAX_INLINE_ARRAY_BYTES / 8;
        let code = generate(&format!(
            "union u switch (int d) {{ case 0: opaque x[996]; default: void; }};
             typedef u us[{n}];
             typedef int v<>; typedef v vs[{m}];
             typedef opaque big[{}]; typedef big bs[{k}];",
            MAX_INLINE_ARRAY_BYTES * 2,
        ));
        assert!(
            code.contains(&format!("pubstructUs(pub::std::boxed::Box<[U;{n}]>);")),
            "{code}"
        );
        assert!(code.contains(&format!("pubstructVs(pub::std::boxed::Box<[V;{m}]>);")));
        assert!(code.contains(&format!("pubstructBs(pub[Big;{k}]);")));
    }

    #[test]
    fn deeply_shared_types_are_measured_once() {
        // Each struct holds the one before twice: 2^80 ints in the last,
        // measured (saturating) without visiting each.
        let mut text = String::from("struct s0 { int x; };\n");
        for i in 1..=80 {
            text.push_str(&format!("struct s{i} {{ s{} a; s{} b; }};\n", i - 1, i - 1));
        }
        text.push_str("typedef s80 two[2]; typedef s1 small[2];");
        let code = generate(&text);
        assert!(
            code.contains("pubstructTwo(pub::std::boxed::Box<[S80;2]>);"),
            "{code}"
        );
        assert!(code.contains("pubstructSmall(pub[S1;2]);"));
    }
}
