//! Rust items for constants and types with their `Encode` / `Decode`
//! implementations: a struct's as a `record!` table (a row per field with
//! its codec), a typedef's through `typedef!`, enums' and unions' written
//! out; errors name the field.

use std::collections::HashMap;

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use crate::codegen::form::Form;
use crate::codegen::layout::ModuleLayout;
use crate::codegen::naming::{self, variant_names};
use crate::codegen::rows::{Row, Rows};
use crate::codegen::{doc_attrs, doc_lines, ident, Chunk, Generator};
use crate::ir::{
    Constant, DiscriminantType, Enum, StringConstant, Struct, TypeDef, TypeKind, TypeRef, Union,
};

impl Generator<'_> {
    /// `pub const NAME: T = value;`, typed by its value: `u32` when it fits,
    /// else `i32`, `i64`, `u64`.
    pub(crate) fn constant(&self, c: &Constant) -> TokenStream {
        let name = format_ident!("{}", self.layout.const_name(&c.name).unwrap_or(&c.name));
        let doc = doc_attrs(c.doc.as_deref());
        let v = c.value;
        let (ty, lit) = if let Ok(n) = u32::try_from(v) {
            (quote!(u32), proc_macro2::Literal::u32_unsuffixed(n))
        } else if let Ok(n) = i32::try_from(v) {
            (quote!(i32), proc_macro2::Literal::i32_unsuffixed(n))
        } else if let Ok(n) = i64::try_from(v) {
            (quote!(i64), proc_macro2::Literal::i64_unsuffixed(n))
        } else {
            let n = u64::try_from(v).unwrap_or(u64::MAX);
            (quote!(u64), proc_macro2::Literal::u64_unsuffixed(n))
        };
        quote! {
            #doc
            pub const #name: #ty = #lit;
        }
    }

    /// `pub const NAME: &str = "text";`
    pub(crate) fn string_constant(&self, c: &StringConstant) -> TokenStream {
        let name = format_ident!("{}", self.layout.const_name(&c.name).unwrap_or(&c.name));
        let doc = doc_attrs(c.doc.as_deref());
        let text = &c.value;
        quote! {
            #doc
            pub const #name: &str = #text;
        }
    }

    /// The item(s) for one type definition.
    pub(crate) fn type_def(&self, t: &TypeDef) -> Vec<Chunk> {
        let items = match &t.kind {
            TypeKind::Alias(target) if ModuleLayout::renames(target) => {
                let name = self.type_ident(&t.name);
                let doc = doc_attrs(t.doc.as_deref());
                let ty = self.rust_type(target, t.recursive);
                quote! {
                    #doc
                    pub type #name = #ty;
                }
            }
            TypeKind::Alias(target) => self.newtype(t, target),
            TypeKind::Enum(e) => return self.enumeration(t, e),
            TypeKind::Struct(s) => return self.structure(t, s),
            TypeKind::Union(u) => self.union(t, u),
        };
        vec![Chunk::Items(items)]
    }

    /// A typedef with a shape of its own: `pub struct Name(pub Inner);`
    /// with its impls from the runtime's `typedef!`, encoded through the
    /// typedef's own wire form.
    fn newtype(&self, t: &TypeDef, target: &TypeRef) -> TokenStream {
        let name = self.type_ident(&t.name);
        let doc = doc_attrs(t.doc.as_deref());
        let derives = self.derives(t, false);
        let transparent = match &self.options.serde_feature {
            Some(f) => quote!(#[cfg_attr(feature = #f, serde(transparent))]),
            None => quote!(),
        };
        let rt = &self.rt;
        let inner = self.rust_type(target, t.recursive);
        let codec = self.codec(target, t.recursive);
        let string =
            (self.layout.form(target, t.recursive) == Form::String).then(|| quote!(, string));
        quote! {
            #doc
            #derives
            #transparent
            pub struct #name(pub #inner);

            #rt::typedef!(#name, #inner, #codec #string);
        }
    }

    /// `#[derive(..)]` and, when asked for, serde's behind its feature.
    fn derives(&self, t: &TypeDef, copy: bool) -> TokenStream {
        let derive = self.derive_attr(t, copy);
        let serde = self.serde_attr();
        quote!(#derive #serde)
    }

    /// `#[derive(Debug, Clone, PartialEq, ..)]`: `Copy` when asked, `Eq`
    /// and `Hash` unless a floating-point value is reachable.
    fn derive_attr(&self, t: &TypeDef, copy: bool) -> TokenStream {
        let mut d = vec![quote!(Debug), quote!(Clone)];
        if copy {
            d.push(quote!(Copy));
        }
        d.push(quote!(PartialEq));
        if self.eq_hash_ok(&t.name) {
            d.push(quote!(Eq));
            d.push(quote!(Hash));
        }
        quote!(#[derive(#(#d),*)])
    }

    /// An `enumeration!` table: the enum's attributes, its name, then a
    /// row per member; members repeating an earlier value become
    /// associated constants naming the first, since a Rust enum cannot
    /// repeat a discriminant.
    fn enumeration(&self, t: &TypeDef, e: &Enum) -> Vec<Chunk> {
        let name = self.type_ident(&t.name);
        let rt = &self.rt;
        let member_names: Vec<&str> = e.members.iter().map(|m| m.name.as_str()).collect();
        let variants = variant_names(&member_names);
        let mut rows = vec![Row {
            docs: doc_lines(t.doc.as_deref()),
            tokens: self.derive_attr(t, true),
        }];
        let serde = self.serde_attr();
        if !serde.is_empty() {
            rows.push(Row::new(serde));
        }
        rows.push(Row::new(quote!(#name;)));
        let mut first_with_value: HashMap<i32, usize> = HashMap::new();
        let mut aliases = Vec::new();
        for (i, m) in e.members.iter().enumerate() {
            let v = format_ident!("{}", variants[i]);
            match first_with_value.get(&m.value) {
                Some(&j) => {
                    let target = format_ident!("{}", variants[j]);
                    let c = format_ident!("{}", naming::shouty(&variants[i]));
                    let mdoc = doc_attrs(m.doc.as_deref());
                    aliases.push(quote! {
                        #mdoc
                        pub const #c: Self = Self::#target;
                    });
                }
                None => {
                    first_with_value.insert(m.value, i);
                    let value = proc_macro2::Literal::i32_unsuffixed(m.value);
                    rows.push(Row {
                        docs: doc_lines(m.doc.as_deref()),
                        tokens: quote!(#v = #value,),
                    });
                }
            }
        }
        let mut out = vec![Chunk::Rows(Rows::invocation(
            quote!(#rt::enumeration),
            rows,
        ))];
        if !aliases.is_empty() {
            out.push(Chunk::Items(quote!(impl #name { #(#aliases)* })));
        }
        out
    }

    /// The struct, then its codec as a `record!` table: a row per field
    /// with the field's codec and XDR name.
    fn structure(&self, t: &TypeDef, s: &Struct) -> Vec<Chunk> {
        let name = self.type_ident(&t.name);
        let doc = doc_attrs(t.doc.as_deref());
        let derives = self.derives(t, false);
        let rt = &self.rt;
        let xdr_name = &t.name;
        let field_names = naming::struct_field_names(s);
        let mut decl = Vec::new();
        let recursive = t.recursive.then(|| quote!(, recursive));
        let mut rows = vec![Row::new(quote!(#name = #xdr_name #recursive;))];
        for (f, rust) in s.fields.iter().zip(&field_names) {
            let id = ident(rust);
            let ty = self.rust_type(&f.ty, f.boxed);
            let codec = self.codec(&f.ty, f.boxed);
            let fdoc = doc_attrs(f.doc.as_deref());
            let xdr_field = &f.name;
            decl.push(quote! { #fdoc pub #id: #ty, });
            rows.push(Row::new(quote!(#id: #codec = #xdr_field;)));
        }
        vec![
            Chunk::Items(quote! {
                #doc
                #derives
                pub struct #name { #(#decl)* }
            }),
            Chunk::Rows(Rows::invocation(quote!(#rt::record), rows)),
        ]
    }

    fn union(&self, t: &TypeDef, u: &Union) -> TokenStream {
        let name = self.type_ident(&t.name);
        let doc = doc_attrs(t.doc.as_deref());
        let derives = self.derives(t, false);
        let rt = &self.rt;
        let xdr_name = &t.name;
        let disc_ty = self.discriminant_type(&u.discriminant.ty);
        let disc_len = proc_macro2::Literal::usize_unsuffixed(u.discriminant.ty.encoded_len());
        let variants = union_variant_names(u);
        let mut decl = Vec::new();
        let mut enc = Vec::new();
        let mut len = Vec::new();
        let mut dec = Vec::new();
        let enum_variants = self.enum_variants(&u.discriminant.ty);
        let all_labels: Vec<i64> = u
            .arms
            .iter()
            .flat_map(|a| a.cases.iter().map(|c| c.value))
            .collect();
        for (arm, vname) in u.arms.iter().zip(&variants) {
            let v = format_ident!("{}", vname);
            let labels: Vec<TokenStream> = arm
                .cases
                .iter()
                .map(|c| self.label_value(&u.discriminant.ty, &enum_variants, c.value))
                .collect();
            let values: Vec<proc_macro2::Literal> = arm
                .cases
                .iter()
                .map(|c| proc_macro2::Literal::i64_unsuffixed(c.value))
                .collect();
            let field_doc = arm.field.as_ref().and_then(|f| f.doc.as_deref());
            let vdoc = doc_attrs(field_doc);
            let keeps = arm.cases.len() > 1;
            let dec_pattern = quote!(#(#values)|*);
            match (&arm.field, keeps) {
                (None, false) => {
                    let label = &labels[0];
                    decl.push(quote! { #vdoc #v, });
                    enc.push(quote! { Self::#v => #rt::Encode::encode(&#label, w), });
                    len.push(quote! { Self::#v => #disc_len, });
                    dec.push(quote! { #dec_pattern => ::std::result::Result::Ok(Self::#v), });
                }
                (None, true) => {
                    decl.push(quote! { #vdoc #v(#disc_ty), });
                    enc.push(quote! {
                        Self::#v(d) => {
                            #rt::check_discriminant(w, *d as i64, &[#(#values),*])?;
                            #rt::Encode::encode(d, w)
                        }
                    });
                    len.push(quote! { Self::#v(_) => #disc_len, });
                    dec.push(quote! { #dec_pattern => ::std::result::Result::Ok(Self::#v(d)), });
                }
                (Some(f), false) => {
                    let label = &labels[0];
                    let ty = self.rust_type(&f.ty, f.boxed);
                    let codec = self.codec(&f.ty, f.boxed);
                    let xdr_field = &f.name;
                    decl.push(quote! { #vdoc #v(#ty), });
                    enc.push(quote! {
                        Self::#v(x) => {
                            #rt::Encode::encode(&#label, w)?;
                            #rt::field(<#codec as #rt::Codec>::encode(x, w), #xdr_name, #xdr_field)
                        }
                    });
                    len.push(quote! { Self::#v(x) => #disc_len + <#codec as #rt::Codec>::len(x), });
                    dec.push(quote! {
                        #dec_pattern => ::std::result::Result::Ok(Self::#v(
                            #rt::field(<#codec as #rt::Codec>::decode(r), #xdr_name, #xdr_field)?
                        )),
                    });
                }
                (Some(f), true) => {
                    let ty = self.rust_type(&f.ty, f.boxed);
                    let codec = self.codec(&f.ty, f.boxed);
                    let xdr_field = &f.name;
                    decl.push(quote! { #vdoc #v(#disc_ty, #ty), });
                    enc.push(quote! {
                        Self::#v(d, x) => {
                            #rt::check_discriminant(w, *d as i64, &[#(#values),*])?;
                            #rt::Encode::encode(d, w)?;
                            #rt::field(<#codec as #rt::Codec>::encode(x, w), #xdr_name, #xdr_field)
                        }
                    });
                    len.push(
                        quote! { Self::#v(_, x) => #disc_len + <#codec as #rt::Codec>::len(x), },
                    );
                    dec.push(quote! {
                        #dec_pattern => ::std::result::Result::Ok(Self::#v(
                            d,
                            #rt::field(<#codec as #rt::Codec>::decode(r), #xdr_name, #xdr_field)?
                        )),
                    });
                }
            }
        }
        let taken: Vec<proc_macro2::Literal> = all_labels
            .iter()
            .map(|v| proc_macro2::Literal::i64_unsuffixed(*v))
            .collect();
        let default_arm = match &u.default {
            None => quote! {
                _ => ::std::result::Result::Err(#rt::Error::new(#rt::ErrorKind::UnknownDiscriminant(d as i64), at)),
            },
            Some(def) => {
                let v = format_ident!("{}", variants[u.arms.len()]);
                let vdoc = doc_attrs(def.field.as_ref().and_then(|f| f.doc.as_deref()));
                match &def.field {
                    None => {
                        decl.push(quote! { #vdoc #v(#disc_ty), });
                        enc.push(quote! {
                            Self::#v(d) => {
                                #rt::check_default_discriminant(w, *d as i64, &[#(#taken),*])?;
                                #rt::Encode::encode(d, w)
                            }
                        });
                        len.push(quote! { Self::#v(_) => #disc_len, });
                        quote! { _ => ::std::result::Result::Ok(Self::#v(d)), }
                    }
                    Some(f) => {
                        let ty = self.rust_type(&f.ty, f.boxed);
                        let codec = self.codec(&f.ty, f.boxed);
                        let xdr_field = &f.name;
                        decl.push(quote! { #vdoc #v(#disc_ty, #ty), });
                        enc.push(quote! {
                            Self::#v(d, x) => {
                                #rt::check_default_discriminant(w, *d as i64, &[#(#taken),*])?;
                                #rt::Encode::encode(d, w)?;
                                #rt::field(<#codec as #rt::Codec>::encode(x, w), #xdr_name, #xdr_field)
                            }
                        });
                        len.push(quote! { Self::#v(_, x) => #disc_len + <#codec as #rt::Codec>::len(x), });
                        quote! {
                            _ => ::std::result::Result::Ok(Self::#v(
                                d,
                                #rt::field(<#codec as #rt::Codec>::decode(r), #xdr_name, #xdr_field)?
                            )),
                        }
                    }
                }
            }
        };
        // Match on the discriminant's numeric value so enum, int, unsigned
        // and bool discriminants share one shape.
        let read_disc = quote!(let d = <#disc_ty as #rt::Decode>::decode(r)?;);
        // Only an unknown discriminant needs the position, for its error.
        let position = if u.default.is_none() {
            quote!(let at = r.position();)
        } else {
            quote!()
        };
        let match_on = quote!(d as i64);
        let body = self.depth_guarded(
            t,
            quote! {
                #position
                #read_disc
                match #match_on {
                    #(#dec)*
                    #default_arm
                }
            },
        );
        quote! {
            #doc
            #derives
            pub enum #name { #(#decl)* }

            impl #rt::Encode for #name {
                fn encode(&self, w: &mut #rt::Writer<'_>) -> ::std::result::Result<(), #rt::Error> {
                    match self { #(#enc)* }
                }
                fn encoded_len(&self) -> usize {
                    match self { #(#len)* }
                }
            }

            impl #rt::Decode for #name {
                const MIN_LEN: usize = #disc_len;
                #[allow(unreachable_patterns)]
                fn decode(r: &mut #rt::Reader<'_>) -> ::std::result::Result<Self, #rt::Error> {
                    #body
                }
            }
        }
    }

    /// The body of `decode`; for a recursive type, counted against the
    /// reader's depth limit so hostile input cannot exhaust the stack.
    fn depth_guarded(&self, t: &TypeDef, body: TokenStream) -> TokenStream {
        if !t.recursive {
            return body;
        }
        let rt = &self.rt;
        quote!(#rt::nested(r, |r| { #body }))
    }

    fn discriminant_type(&self, d: &DiscriminantType) -> TokenStream {
        match d {
            DiscriminantType::Int => quote!(i32),
            DiscriminantType::UnsignedInt => quote!(u32),
            DiscriminantType::Bool => quote!(bool),
            DiscriminantType::Enum(e) => self.type_ident(e),
            DiscriminantType::Char => quote!(i8),
            DiscriminantType::UnsignedChar => quote!(u8),
            DiscriminantType::Short => quote!(i16),
            DiscriminantType::UnsignedShort => quote!(u16),
            DiscriminantType::Hyper => quote!(i64),
            DiscriminantType::UnsignedHyper => quote!(u64),
        }
    }

    /// A case label as a value of the discriminant's Rust type; `variants`
    /// is [`Self::enum_variants`] of the discriminant.
    fn label_value(
        &self,
        d: &DiscriminantType,
        variants: &EnumVariants,
        value: i64,
    ) -> TokenStream {
        use proc_macro2::Literal;
        // Resolution kept every label in its type's range, and made every
        // label of an enum a member's value.
        let v = match d {
            DiscriminantType::Int => Literal::i32_suffixed(value as i32),
            DiscriminantType::UnsignedInt => Literal::u32_suffixed(value as u32),
            DiscriminantType::Char => Literal::i8_suffixed(value as i8),
            DiscriminantType::UnsignedChar => Literal::u8_suffixed(value as u8),
            DiscriminantType::Short => Literal::i16_suffixed(value as i16),
            DiscriminantType::UnsignedShort => Literal::u16_suffixed(value as u16),
            DiscriminantType::Hyper => Literal::i64_suffixed(value),
            DiscriminantType::UnsignedHyper => Literal::u64_suffixed(value as u64),
            DiscriminantType::Bool if value != 0 => return quote!(true),
            DiscriminantType::Bool => return quote!(false),
            DiscriminantType::Enum(e) => {
                let ty = self.type_ident(e);
                return match variants.get(&value) {
                    Some(v) => quote!(#ty::#v),
                    None => quote!(_),
                };
            }
        };
        quote!(#v)
    }

    /// For an enum discriminant, the Rust variant of each value: the first
    /// member that has it (later members with the same value are
    /// constants). Built once per union, so a union with many arms costs
    /// time in proportion to its size.
    fn enum_variants(&self, d: &DiscriminantType) -> EnumVariants {
        let mut table = EnumVariants::new();
        let DiscriminantType::Enum(e) = d else {
            return table;
        };
        let Some(TypeDef {
            kind: TypeKind::Enum(en),
            ..
        }) = self.type_by_name(e)
        else {
            return table;
        };
        let names: Vec<&str> = en.members.iter().map(|m| m.name.as_str()).collect();
        for (m, v) in en.members.iter().zip(variant_names(&names)) {
            table
                .entry(i64::from(m.value))
                .or_insert_with(|| format_ident!("{}", v));
        }
        table
    }

    /// Whether `Eq` and `Hash` can be derived: no `float` or `double`
    /// field is reachable.
    pub(crate) fn eq_hash_ok(&self, name: &str) -> bool {
        !self.layout.reaches_floating_point(name)
    }
}

/// An enum's Rust variant by value ([`Generator::enum_variants`]).
type EnumVariants = HashMap<i64, Ident>;

/// Variant names for a union's arms (and its `default`, last): a single
/// named label gives its member name without the words all labels share; an
/// arm with several labels or a number is named after its field; a void
/// arm after its labels.
fn union_variant_names(u: &Union) -> Vec<String> {
    let named: Vec<&str> = u
        .arms
        .iter()
        .filter(|a| a.cases.len() == 1)
        .filter_map(|a| a.cases[0].name.as_deref())
        .collect();
    let common = naming::common_word_prefix(&named);
    let mut ns = naming::Namespace::with_reserved(&["Self"]);
    let mut out = Vec::new();
    for arm in &u.arms {
        let mut candidates = Vec::new();
        if let [label] = arm.cases.as_slice() {
            if let Some(n) = &label.name {
                candidates.push(naming::upper_camel(n.get(common..).unwrap_or(n)));
                candidates.push(naming::upper_camel(n));
            }
        }
        if let Some(f) = &arm.field {
            candidates.push(naming::upper_camel(&f.name));
        }
        let labels: Vec<String> = arm
            .cases
            .iter()
            .map(|c| match &c.name {
                Some(n) => naming::upper_camel(n.get(common..).unwrap_or(n)),
                None if c.value < 0 => format!("Minus{}", c.value.unsigned_abs()),
                None => c.value.to_string(),
            })
            .collect();
        candidates.push(format!("Case{}", labels.join("Or")));
        out.push(ns.claim(&candidates));
    }
    if u.default.is_some() {
        out.push(ns.claim(&["Default".to_owned(), "DefaultArm".to_owned()]));
    }
    out
}
