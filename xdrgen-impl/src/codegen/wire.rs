//! From IR type references to a Rust type and the codec that writes it.
//!
//! Typedef aliases become Rust type aliases, so a field keeps the alias's
//! name as its type, but its codec is found by expanding the alias down to
//! the wire form (`remote_string` → `Opt<Str<4194304>>`).
//!
//! Fixed-size arrays larger than [`MAX_INLINE_ARRAY_BYTES`] are kept behind
//! a `Box` (`Box<[u8; N]>` with codec `Boxed<FixedOpaque<N>>`, `Box<[T; N]>`
//! with `Boxed<FixedArray<C, N>>`); smaller ones are held by value.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

use crate::codegen::Generator;
use crate::ir::{BaseType, NamedKind, Shape, TypeKind, TypeRef};

/// The largest fixed-size array (`T x[N]`, `opaque x[N]`) held by value, in
/// bytes of its Rust value ([`Generator::value_size`]); a larger one is a
/// `Box<[T; N]>`, which `Codec::decode_boxed` builds directly on the heap.
///
/// A by-value array is returned through the stack by every `decode` on the
/// way to the value holding it, each frame with a copy or more: a
/// specification declaring `opaque x[100000000]` would overflow any thread's
/// stack and abort the process, and even modest sizes cost many times their
/// size. Decoding a struct of one 64 KiB array took about 900 KiB of stack
/// unoptimised (100-300 KiB optimised), of one 16 KiB array about 256 KiB
/// (32-96 KiB optimised), where a spawned thread has 2 MiB. Boxing every
/// array would instead change types that are cheap by value and part of
/// generated APIs: libvirt's fixed arrays (16-byte UUIDs, a 32-byte `char`
/// array) and protocols' fixed-size handles and verifiers stay by value.
pub(crate) const MAX_INLINE_ARRAY_BYTES: u64 = 16 * 1024;

impl Generator<'_> {
    /// The Rust type of a value of `ty` (`boxed` for optionals on a cycle).
    pub(crate) fn rust_type(&self, ty: &TypeRef, boxed: bool) -> TokenStream {
        let bytes = quote!(::std::vec::Vec<u8>);
        match (&ty.base, &ty.shape) {
            (BaseType::String, _) if self.options.strings_as_bytes => bytes,
            (BaseType::String, _) => quote!(::std::string::String),
            (BaseType::Opaque, Shape::Fixed(n)) => {
                let n = usize_lit(*n);
                self.box_if_large(ty, quote!([u8; #n]))
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
                        self.box_if_large(ty, quote!([#elem; #n]))
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
                return self.boxed_codec_if_large(ty, quote!(#rt::FixedOpaque<#n>));
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
                self.boxed_codec_if_large(ty, quote!(#rt::FixedArray<#element, #n>))
            }
            Shape::Variable(max) => {
                let max = u32_lit(max.unwrap_or(u32::MAX));
                quote!(#rt::VarArray<#element, #max>)
            }
        }
    }

    /// Whether `ty` is a fixed-size array too large to hold by value
    /// (more than [`MAX_INLINE_ARRAY_BYTES`]).
    fn is_large_array(&self, ty: &TypeRef) -> bool {
        match ty.shape {
            Shape::Fixed(n) => self.array_size(&ty.base, n) > MAX_INLINE_ARRAY_BYTES,
            _ => false,
        }
    }

    /// `Box<array>` for a large array, else the array type as it is.
    fn box_if_large(&self, ty: &TypeRef, array: TokenStream) -> TokenStream {
        if self.is_large_array(ty) {
            quote!(::std::boxed::Box<#array>)
        } else {
            array
        }
    }

    /// `Boxed<codec>` for a large array, else the array's codec as it is.
    fn boxed_codec_if_large(&self, ty: &TypeRef, codec: TokenStream) -> TokenStream {
        if self.is_large_array(ty) {
            let rt = &self.rt;
            quote!(#rt::Boxed<#codec>)
        } else {
            codec
        }
    }

    /// The bytes of `[base; n]` held by value.
    fn array_size(&self, base: &BaseType, n: u32) -> u64 {
        u64::from(n).saturating_mul(self.element_size(base))
    }

    /// About the bytes a Rust value of `ty` takes where it is held: its
    /// `size_of` without alignment padding, so what a `decode` returning it
    /// puts on the stack (`boxed` as for [`Generator::rust_type`]). It is the
    /// size in memory, not on the wire: a union of a large arm encodes in 4
    /// bytes when another arm is chosen but always takes the large arm's
    /// room, and a `Vec` takes 24 bytes for a 4-byte empty encoding.
    fn value_size(&self, ty: &TypeRef, boxed: bool) -> u64 {
        const POINTER: u64 = 8;
        const VEC: u64 = 24;
        match ty.shape {
            Shape::Scalar => self.element_size(&ty.base),
            Shape::Optional if boxed => POINTER,
            Shape::Optional => self.element_size(&ty.base).saturating_add(4),
            Shape::Variable(_) => VEC,
            Shape::Fixed(_) if self.is_large_array(ty) => POINTER,
            Shape::Fixed(n) => self.array_size(&ty.base, n),
        }
    }

    /// The bytes of one element of type `base`.
    fn element_size(&self, base: &BaseType) -> u64 {
        match base {
            BaseType::Char | BaseType::UnsignedChar | BaseType::Bool | BaseType::Opaque => 1,
            BaseType::Short | BaseType::UnsignedShort => 2,
            BaseType::Int | BaseType::UnsignedInt | BaseType::Float => 4,
            BaseType::Hyper | BaseType::UnsignedHyper | BaseType::Double => 8,
            BaseType::Quadruple => 16,
            // Always variable (a `String` or `Vec<u8>`).
            BaseType::String => 24,
            BaseType::Named { name, .. } => self.named_size(name),
        }
    }

    /// The size of a named type's value, measured once per type (a spec
    /// nesting structs many levels deep, each holding the one below twice,
    /// is measured in linear time).
    fn named_size(&self, name: &str) -> u64 {
        if let Some(&n) = self.value_sizes.borrow().get(name) {
            return n;
        }
        // Met again while being measured: on a cycle, which goes through a
        // `Box` or `Vec` (a valid spec never gets here).
        self.value_sizes.borrow_mut().insert(name.to_owned(), 8);
        let field_size = |f: &crate::ir::Field| self.value_size(&f.ty, f.boxed);
        let n = match self.spec.type_def(name) {
            None => 0,
            Some(def) => match &def.kind {
                TypeKind::Alias(target) => self.value_size(target, def.recursive),
                TypeKind::Enum(_) => 4,
                TypeKind::Struct(s) => s.fields.iter().map(field_size).fold(0, u64::saturating_add),
                // The discriminant and the largest arm.
                TypeKind::Union(u) => {
                    let arms = u.arms.iter().filter_map(|a| a.field.as_ref());
                    let default = u.default.iter().filter_map(|d| d.field.as_ref());
                    let largest = arms.chain(default).map(field_size).max().unwrap_or(0);
                    largest.saturating_add(4)
                }
            },
        };
        self.value_sizes.borrow_mut().insert(name.to_owned(), n);
        n
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

#[cfg(test)]
mod tests {
    use super::MAX_INLINE_ARRAY_BYTES;
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
        assert!(code.contains(&format!("typeAt=[u8;{limit}];")), "{code}");
        assert!(code.contains(&format!("typeAbove=::std::boxed::Box<[u8;{}]>;", limit + 1)));
        assert!(code.contains(&format!("typeHAt=[i64;{}];", limit / 8)));
        assert!(code.contains(&format!(
            "typeHAbove=::std::boxed::Box<[i64;{}]>;",
            limit / 8 + 1
        )));
        assert!(code.contains("typeUuid=[u8;16];"));
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
            code.contains(&format!("typeUs=::std::boxed::Box<[U;{n}]>;")),
            "{code}"
        );
        assert!(code.contains(&format!("typeVs=::std::boxed::Box<[V;{m}]>;")));
        assert!(code.contains(&format!("typeBs=[Big;{k}];")));
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
            code.contains("typeTwo=::std::boxed::Box<[S80;2]>;"),
            "{code}"
        );
        assert!(code.contains("typeSmall=[S1;2];"));
    }
}
