//! The Rust form of a value of an IR type: what [`ModuleLayout::form`]
//! makes of a [`TypeRef`], the one decision of which Rust type holds it.
//!
//! A typedef keeps its name ([`ModuleLayout::form`], as generated fields
//! are declared: the typedef's newtype) or is replaced by what it stands for
//! ([`ModuleLayout::resolved_form`], for code that needs the shape, like
//! the client methods' parameters, which take and give plain values);
//! [`ModuleLayout::wrap_typedefs`] and [`ModuleLayout::unwrap_typedefs`]
//! convert a value between the two. [`Form::tokens`] writes a form as Rust.
//!
//! Fixed-size arrays larger than [`MAX_INLINE_ARRAY_BYTES`] are kept behind
//! a `Box` (`Box<[u8; N]>`, `Box<[T; N]>`); smaller ones are held by value.

use proc_macro2::{Delimiter, Literal, TokenStream, TokenTree};
use quote::quote;

use crate::codegen::layout::{ModuleLayout, TypeModule, TypePath};
use crate::ir::{BaseType, NamedKind, Shape, TypeKind, TypeRef};

/// The largest fixed-size array (`T x[N]`, `opaque x[N]`) held by value, in
/// bytes of its Rust value; a larger one is a `Box<[T; N]>`, which
/// `Codec::decode_boxed` builds directly on the heap.
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
pub const MAX_INLINE_ARRAY_BYTES: u64 = 16 * 1024;

/// The Rust type holding a value of an IR type, structurally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Form {
    /// `String`: a `string<N>`.
    String,
    /// `Vec<u8>`: an `opaque<N>`, or a `string<N>` with
    /// [`GenOptions::strings_as_bytes`](super::GenOptions::strings_as_bytes).
    Bytes,
    /// `[u8; N]`: an `opaque[N]`; boxed when larger than
    /// [`MAX_INLINE_ARRAY_BYTES`].
    FixedBytes {
        /// `N`.
        len: u32,
        /// `Box<[u8; N]>`.
        boxed: bool,
    },
    /// A number, `bool` or quadruple.
    Primitive(Primitive),
    /// A named type.
    Named(Named),
    /// `Option<T>`: an optional (`T *`).
    Optional {
        /// `T`.
        value: Box<Form>,
        /// `Option<Box<T>>`, for an optional on a cycle of types.
        boxed: bool,
    },
    /// `[T; N]`: a fixed-size array; boxed when larger than
    /// [`MAX_INLINE_ARRAY_BYTES`].
    Array {
        /// `T`.
        element: Box<Form>,
        /// `N`.
        len: u32,
        /// `Box<[T; N]>`.
        boxed: bool,
    },
    /// `Vec<T>`: a variable-length array.
    List(Box<Form>),
}

/// A type with a Rust name of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// Its XDR name.
    pub xdr: String,
    /// What it is (never [`NamedKind::Alias`] in a
    /// [resolved form](ModuleLayout::resolved_form)).
    pub kind: NamedKind,
    /// Where its Rust type is.
    pub path: TypePath,
}

/// The Rust types of XDR's numbers, `bool` and quadruple.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Primitive {
    /// `int`: `i32`.
    I32,
    /// `unsigned int`: `u32`.
    U32,
    /// `hyper`: `i64`.
    I64,
    /// `unsigned hyper`: `u64`.
    U64,
    /// `char`: `i8` (4 bytes on the wire).
    I8,
    /// `unsigned char`: `u8` (4 bytes on the wire).
    U8,
    /// `short`: `i16` (4 bytes on the wire).
    I16,
    /// `unsigned short`: `u16` (4 bytes on the wire).
    U16,
    /// `float`: `f32`.
    F32,
    /// `double`: `f64`.
    F64,
    /// `bool`.
    Bool,
    /// `quadruple`: the runtime's `Quadruple`.
    Quadruple,
}

impl Primitive {
    /// The primitive an IR base type is, if it is one.
    pub fn of(base: &BaseType) -> Option<Primitive> {
        Some(match base {
            BaseType::Int => Primitive::I32,
            BaseType::UnsignedInt => Primitive::U32,
            BaseType::Hyper => Primitive::I64,
            BaseType::UnsignedHyper => Primitive::U64,
            BaseType::Char => Primitive::I8,
            BaseType::UnsignedChar => Primitive::U8,
            BaseType::Short => Primitive::I16,
            BaseType::UnsignedShort => Primitive::U16,
            BaseType::Float => Primitive::F32,
            BaseType::Double => Primitive::F64,
            BaseType::Bool => Primitive::Bool,
            BaseType::Quadruple => Primitive::Quadruple,
            BaseType::String | BaseType::Opaque | BaseType::Named { .. } => return None,
        })
    }

    /// Its Rust type (the quadruple under the runtime's path `rt`).
    pub fn tokens(self, rt: &TokenStream) -> TokenStream {
        match self {
            Primitive::I32 => quote!(i32),
            Primitive::U32 => quote!(u32),
            Primitive::I64 => quote!(i64),
            Primitive::U64 => quote!(u64),
            Primitive::I8 => quote!(i8),
            Primitive::U8 => quote!(u8),
            Primitive::I16 => quote!(i16),
            Primitive::U16 => quote!(u16),
            Primitive::F32 => quote!(f32),
            Primitive::F64 => quote!(f64),
            Primitive::Bool => quote!(bool),
            Primitive::Quadruple => quote!(#rt::Quadruple),
        }
    }
}

/// How [`Form::tokens`] writes a form.
pub struct Spelling<'s> {
    /// Standard library types by absolute path (`::std::vec::Vec`), as
    /// generated items write them so that no name of a spec can shadow
    /// them; otherwise by their prelude names (`Vec`).
    pub absolute_std: bool,
    /// The runtime's path (`::xdrgen::rt`).
    pub runtime: &'s TokenStream,
    /// Writes the path of a named type, as seen where the tokens go.
    pub type_path: &'s dyn Fn(&TypePath) -> TokenStream,
}

impl Form {
    /// The Rust type, written as `spelling` says.
    pub fn tokens(&self, spelling: &Spelling<'_>) -> TokenStream {
        let abs = spelling.absolute_std;
        let vec = |t: TokenStream| {
            if abs {
                quote!(::std::vec::Vec<#t>)
            } else {
                quote!(Vec<#t>)
            }
        };
        let boxed = |yes: bool, t: TokenStream| match (yes, abs) {
            (false, _) => t,
            (true, true) => quote!(::std::boxed::Box<#t>),
            (true, false) => quote!(Box<#t>),
        };
        match self {
            Form::String if abs => quote!(::std::string::String),
            Form::String => quote!(String),
            Form::Bytes => vec(quote!(u8)),
            Form::FixedBytes { len, boxed: b } => {
                let n = Literal::usize_unsuffixed(*len as usize);
                boxed(*b, quote!([u8; #n]))
            }
            Form::Primitive(p) => p.tokens(spelling.runtime),
            Form::Named(n) => (spelling.type_path)(&n.path),
            Form::Optional { value, boxed: b } => {
                let t = boxed(*b, value.tokens(spelling));
                if abs {
                    quote!(::std::option::Option<#t>)
                } else {
                    quote!(Option<#t>)
                }
            }
            Form::Array {
                element,
                len,
                boxed: b,
            } => {
                let t = element.tokens(spelling);
                let n = Literal::usize_unsuffixed(*len as usize);
                boxed(*b, quote!([#t; #n]))
            }
            Form::List(element) => vec(element.tokens(spelling)),
        }
    }

    /// Whether the Rust type is `Copy`: numbers, `bool`, enums, byte
    /// arrays held by value, and arrays and optionals of those.
    pub fn is_copy(&self) -> bool {
        match self {
            Form::Primitive(_) | Form::FixedBytes { boxed: false, .. } => true,
            Form::Named(n) => n.kind == NamedKind::Enum,
            Form::Array {
                element,
                boxed: false,
                ..
            } => element.is_copy(),
            Form::Optional {
                value,
                boxed: false,
            } => value.is_copy(),
            _ => false,
        }
    }
}

impl ModuleLayout<'_> {
    /// The form of a value of `ty` as the generated items hold it, aliases
    /// kept by name (`boxed` for optionals on a cycle of types).
    pub fn form(&self, ty: &TypeRef, boxed: bool) -> Form {
        self.form_with(ty, boxed, false)
    }

    /// The form of a value of `ty` with typedef aliases replaced by what
    /// they stand for, down to strings, bytes, primitives, enums, structs
    /// and unions.
    pub fn resolved_form(&self, ty: &TypeRef, boxed: bool) -> Form {
        self.form_with(ty, boxed, true)
    }

    fn form_with(&self, ty: &TypeRef, boxed: bool, resolve: bool) -> Form {
        match (&ty.base, &ty.shape) {
            (BaseType::String, _) if self.options().strings_as_bytes => return Form::Bytes,
            (BaseType::String, _) => return Form::String,
            (BaseType::Opaque, Shape::Fixed(n)) => {
                return Form::FixedBytes {
                    len: *n,
                    boxed: self.is_large_array(ty),
                }
            }
            (BaseType::Opaque, _) => return Form::Bytes,
            _ => {}
        }
        let element = match &ty.base {
            BaseType::Named { name, kind } => {
                let def = self.type_def(name);
                match def.map(|d| (d, &d.kind)) {
                    Some((def, TypeKind::Alias(target))) if resolve => {
                        self.form_with(target, def.recursive, true)
                    }
                    _ => Form::Named(Named {
                        xdr: name.clone(),
                        kind: *kind,
                        // A loaded spec defines every name it uses.
                        path: self.type_path(name).unwrap_or_else(|| TypePath {
                            module: TypeModule::Own,
                            name: name.clone(),
                        }),
                    }),
                }
            }
            base => Form::Primitive(Primitive::of(base).unwrap_or(Primitive::I32)),
        };
        match ty.shape {
            Shape::Scalar => element,
            Shape::Optional => Form::Optional {
                value: Box::new(element),
                boxed,
            },
            Shape::Fixed(len) => Form::Array {
                element: Box::new(element),
                len,
                boxed: self.is_large_array(ty),
            },
            Shape::Variable(_) => Form::List(Box::new(element)),
        }
    }

    /// `expr`, a value of the `kept` form (as [`ModuleLayout::form`] makes
    /// it), turned into its [resolved form](ModuleLayout::resolved_form):
    /// every typedef's newtype unwrapped, inside optionals and arrays too.
    /// `None` when the two forms are the same and `expr` serves as it is.
    pub fn unwrap_typedefs(&self, kept: &Form, expr: TokenStream) -> Option<TokenStream> {
        if let Form::Named(n) = kept {
            if let Some((target, newtype)) = self.typedef_target(n) {
                if !newtype {
                    return self.unwrap_typedefs(&target, expr);
                }
                let inner = quote!(#expr.0);
                return Some(
                    self.unwrap_typedefs(&target, inner.clone())
                        .unwrap_or(inner),
                );
            }
        }
        self.map_parts(kept, expr, &|part, x| self.unwrap_typedefs(part, x))
    }

    /// The reverse of [`ModuleLayout::unwrap_typedefs`]: `expr`, a value of
    /// `kept`'s resolved form, wrapped in the typedefs' newtypes, whose paths
    /// `path` writes.
    pub fn wrap_typedefs(
        &self,
        kept: &Form,
        expr: TokenStream,
        path: &dyn Fn(&TypePath) -> TokenStream,
    ) -> Option<TokenStream> {
        if let Form::Named(n) = kept {
            if let Some((target, newtype)) = self.typedef_target(n) {
                if !newtype {
                    return self.wrap_typedefs(&target, expr, path);
                }
                let inner = self
                    .wrap_typedefs(&target, expr.clone(), path)
                    .unwrap_or(expr);
                let p = path(&n.path);
                return Some(quote!(#p(#inner)));
            }
        }
        self.map_parts(kept, expr, &|part, x| self.wrap_typedefs(part, x, path))
    }

    /// The kept form of what typedef `n` stands for, and whether the
    /// typedef is a newtype (`None`: not a typedef).
    fn typedef_target(&self, n: &Named) -> Option<(Form, bool)> {
        let def = self.type_def(&n.xdr)?;
        match &def.kind {
            TypeKind::Alias(target) => {
                Some((self.form(target, def.recursive), !Self::renames(target)))
            }
            _ => None,
        }
    }

    /// Whether a typedef of `target` only renames a type that has its own
    /// codec and no bound to add (`typedef unsigned int u_int;`,
    /// `typedef nametype other;`): such a typedef is a type alias, every
    /// other one a newtype carrying its wire form.
    pub fn renames(target: &TypeRef) -> bool {
        target.shape == Shape::Scalar
    }

    /// `convert` applied to the values an optional or array `form` holds;
    /// `None` when it changes none of them.
    fn map_parts(
        &self,
        form: &Form,
        expr: TokenStream,
        convert: &dyn Fn(&Form, TokenStream) -> Option<TokenStream>,
    ) -> Option<TokenStream> {
        match form {
            Form::Optional { value, boxed } => {
                let x = if *boxed { quote!((*x)) } else { quote!(x) };
                let c = convert(value, x)?;
                let f = if *boxed {
                    quote!(|x| ::std::boxed::Box::new(#c))
                } else {
                    function(c)
                };
                Some(quote!(#expr.map(#f)))
            }
            Form::Array { element, boxed, .. } => {
                let f = function(convert(element, quote!(x))?);
                Some(if *boxed {
                    quote!(::std::boxed::Box::new((*#expr).map(#f)))
                } else {
                    quote!(#expr.map(#f))
                })
            }
            Form::List(element) => {
                let f = function(convert(element, quote!(x))?);
                // An iterator collected just before goes on instead.
                Some(match strip_collect(&expr) {
                    Some(iter) => quote!(#iter.map(#f).collect()),
                    None => quote!(#expr.into_iter().map(#f).collect::<::std::vec::Vec<_>>()),
                })
            }
            _ => None,
        }
    }

    /// Whether `ty` is a fixed-size array too large to hold by value
    /// (more than [`MAX_INLINE_ARRAY_BYTES`]).
    pub(crate) fn is_large_array(&self, ty: &TypeRef) -> bool {
        match ty.shape {
            Shape::Fixed(n) => self.array_size(&ty.base, n) > MAX_INLINE_ARRAY_BYTES,
            _ => false,
        }
    }

    /// The bytes of `[base; n]` held by value.
    fn array_size(&self, base: &BaseType, n: u32) -> u64 {
        u64::from(n).saturating_mul(self.element_size(base))
    }

    /// About the bytes a Rust value of `ty` takes where it is held: its
    /// `size_of` without alignment padding, so what a `decode` returning it
    /// puts on the stack (`boxed` as for [`ModuleLayout::form`]). It is the
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

    /// Measures every type's value once, each after the types it holds by
    /// value (an iterative walk): measuring then never recurses deeper
    /// than one level however deeply a spec nests, and the formatting
    /// threads, which share the sizes, never see the placeholder of a
    /// type being measured.
    pub(crate) fn measure_all(&self) {
        let mut visited = std::collections::HashSet::new();
        let mut order = Vec::new();
        for t in &self.spec().types {
            if !visited.insert(t.name.as_str()) {
                continue;
            }
            let mut stack = vec![(t.name.as_str(), held(t))];
            while let Some((name, deps)) = stack.last_mut() {
                match deps.pop() {
                    Some(d) => {
                        if visited.insert(d) {
                            if let Some(def) = self.type_def(d) {
                                stack.push((d, held(def)));
                            }
                        }
                    }
                    None => {
                        order.push(*name);
                        stack.pop();
                    }
                }
            }
        }
        for name in order {
            self.named_size(name);
        }
    }

    /// The size of a named type's value, measured once per type (a spec
    /// nesting structs many levels deep, each holding the one below twice,
    /// is measured in linear time).
    fn named_size(&self, name: &str) -> u64 {
        // Each lock is held for one statement: measuring recurses.
        let sizes = || self.value_sizes.lock().unwrap_or_else(|e| e.into_inner());
        let known = sizes().get(name).copied();
        if let Some(n) = known {
            return n;
        }
        let Some(def) = self.type_def(name) else {
            // Not in the spec (an rpcgen spec's external type): nothing is
            // known of it, and nothing is stored.
            return 0;
        };
        // Met again while being measured: on a cycle, which goes through a
        // `Box` or `Vec` (a valid spec never gets here).
        sizes().insert(name.to_owned(), 8);
        let field_size = |f: &crate::ir::Field| self.value_size(&f.ty, f.boxed);
        let n = match &def.kind {
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
        };
        sizes().insert(name.to_owned(), n);
        n
    }
}

/// The types `t`'s value holds in place (not behind a `Box` or a `Vec`),
/// whose sizes make up its own.
fn held(t: &crate::ir::TypeDef) -> Vec<&str> {
    t.references()
        .into_iter()
        .filter_map(|(ty, boxed)| match (&ty.shape, &ty.base) {
            (Shape::Variable(_), _) => None,
            (Shape::Optional, _) if boxed => None,
            (_, BaseType::Named { name, .. }) => Some(name.as_str()),
            _ => None,
        })
        .collect()
}

/// A conversion of `x` as a function: `Path(x)` is `Path` itself (a
/// closure there is what clippy's `redundant_closure` refuses).
fn function(converted: TokenStream) -> TokenStream {
    let tokens: Vec<TokenTree> = converted.clone().into_iter().collect();
    if let Some((TokenTree::Group(g), path)) = tokens.split_last() {
        let is_path = path.iter().all(|t| match t {
            TokenTree::Ident(_) => true,
            TokenTree::Punct(p) => p.as_char() == ':',
            _ => false,
        });
        if g.delimiter() == Delimiter::Parenthesis
            && g.stream().to_string() == "x"
            && is_path
            && !path.is_empty()
        {
            return path.iter().cloned().collect();
        }
    }
    quote!(|x| #converted)
}

/// `iter` of an expression `iter.collect()`.
fn strip_collect(expr: &TokenStream) -> Option<TokenStream> {
    let tokens: Vec<TokenTree> = expr.clone().into_iter().collect();
    match tokens.as_slice() {
        [iter @ .., TokenTree::Punct(dot), TokenTree::Ident(collect), TokenTree::Group(args)]
            if dot.as_char() == '.'
                && collect == "collect"
                && args.delimiter() == Delimiter::Parenthesis
                && args.stream().is_empty()
                && !iter.is_empty() =>
        {
            Some(iter.iter().cloned().collect())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use proc_macro2::TokenStream;
    use quote::{format_ident, quote};

    use super::{Form, Primitive, Spelling, MAX_INLINE_ARRAY_BYTES};
    use crate::codegen::layout::{ModuleLayout, TypeModule, TypePath};
    use crate::codegen::GenOptions;
    use crate::ir::{NamedKind, Spec, TypeKind};
    use crate::{load, Options, SourceMap};

    fn spec(text: &str) -> Spec {
        let mut sources = SourceMap::new();
        sources.add("t.x", text);
        load(&sources, &Options::default()).spec.unwrap()
    }

    /// The form of the first field of struct `name`, kept and resolved.
    fn field_forms(layout: &ModuleLayout<'_>, name: &str) -> (Form, Form) {
        let TypeKind::Struct(s) = &layout.type_def(name).unwrap().kind else {
            panic!("{name} is not a struct")
        };
        let f = &s.fields[0];
        (
            layout.form(&f.ty, f.boxed),
            layout.resolved_form(&f.ty, f.boxed),
        )
    }

    fn text(form: &Form, absolute_std: bool) -> String {
        let rt: TokenStream = quote!(::xdrgen::rt);
        let path = |p: &TypePath| {
            let id = format_ident!("{}", p.name);
            quote!(m::#id)
        };
        form.tokens(&Spelling {
            absolute_std,
            runtime: &rt,
            type_path: &path,
        })
        .to_string()
        .split_whitespace()
        .collect()
    }

    #[test]
    fn sizes_of_a_deep_chain_of_types_are_measured_on_a_small_stack() {
        // 5,000 structs, each holding the one before by value, and an
        // array of the last: whether the array is boxed depends on the
        // size of the whole chain.
        let mut text = String::from("struct s0 { hyper x; };\n");
        for i in 1..=5_000 {
            text.push_str(&format!("struct s{i} {{ s{} a; }};\n", i - 1));
        }
        text.push_str("struct holder { s5000 many[200000]; s5000 few[2]; };\n");
        let spec = spec(&text);
        let boxed = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                let options = GenOptions::default();
                let layout = ModuleLayout::new(&spec, &options);
                let TypeKind::Struct(s) = &layout.type_def("holder").unwrap().kind else {
                    panic!()
                };
                (
                    layout.is_large_array(&s.fields[0].ty),
                    layout.is_large_array(&s.fields[1].ty),
                )
            })
            .unwrap()
            .join()
            .expect("measuring overflowed the stack");
        assert_eq!(boxed, (true, false));
    }

    const TEXT: &str = "
        typedef string name<8>;
        typedef name *maybe_name;
        enum colour { RED = 0 };
        struct s_alias { maybe_name n; };
        struct s_list { colour c<4>; };
        struct s_fixed { opaque u[16]; };
        struct s_quad { quadruple q; };";

    #[test]
    fn aliases_are_kept_or_resolved() {
        let s = spec(TEXT);
        let options = GenOptions::default();
        let layout = ModuleLayout::new(&s, &options);
        let (kept, resolved) = field_forms(&layout, "s_alias");
        assert_eq!(
            kept,
            Form::Named(super::Named {
                xdr: "maybe_name".into(),
                kind: NamedKind::Alias,
                path: TypePath {
                    module: TypeModule::Own,
                    name: "MaybeName".into(),
                },
            })
        );
        assert_eq!(
            resolved,
            Form::Optional {
                value: Box::new(Form::String),
                boxed: false,
            }
        );
        assert_eq!(text(&kept, true), "m::MaybeName");
        assert_eq!(
            text(&resolved, true),
            "::std::option::Option<::std::string::String>"
        );
        assert_eq!(text(&resolved, false), "Option<String>");
        assert!(!resolved.is_copy());
    }

    #[test]
    fn shapes_spelled_both_ways() {
        let s = spec(TEXT);
        let options = GenOptions::default();
        let layout = ModuleLayout::new(&s, &options);
        let (list, _) = field_forms(&layout, "s_list");
        assert_eq!(text(&list, true), "::std::vec::Vec<m::Colour>");
        assert_eq!(text(&list, false), "Vec<m::Colour>");
        let Form::List(colour) = &list else {
            panic!("{list:?}")
        };
        assert!(colour.is_copy() && !list.is_copy());
        let (fixed, _) = field_forms(&layout, "s_fixed");
        assert_eq!(
            fixed,
            Form::FixedBytes {
                len: 16,
                boxed: false
            }
        );
        assert!(fixed.is_copy());
        let (quad, _) = field_forms(&layout, "s_quad");
        assert_eq!(quad, Form::Primitive(Primitive::Quadruple));
        assert_eq!(text(&quad, false), "::xdrgen::rt::Quadruple");
    }

    #[test]
    fn strings_as_bytes_and_large_arrays() {
        let s = spec(&format!(
            "struct s_str {{ string x<4>; }};
             struct s_big {{ int a[{}]; }};",
            MAX_INLINE_ARRAY_BYTES / 4 + 1
        ));
        let options = GenOptions {
            strings_as_bytes: true,
            ..GenOptions::default()
        };
        let layout = ModuleLayout::new(&s, &options);
        assert_eq!(field_forms(&layout, "s_str").0, Form::Bytes);
        let (big, _) = field_forms(&layout, "s_big");
        assert_eq!(
            text(&big, false),
            format!("Box<[i32;{}]>", MAX_INLINE_ARRAY_BYTES / 4 + 1)
        );
        assert!(!big.is_copy());
    }
}
