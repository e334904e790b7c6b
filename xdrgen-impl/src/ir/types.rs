//! Resolution of type definitions: names looked up, shapes checked, bounds
//! evaluated, inline bodies hoisted, unions checked against their
//! discriminant.

use std::collections::{HashMap, HashSet};

use crate::diag::{Diagnostic, Span};
use crate::ir::model::*;
use crate::ir::symbols::{duplicate, Symbols, ValueSym};
use crate::syntax::ast::{self, DeclarationKind, Keyword, TypeSpecKind};

/// One type definition as written, before resolution.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TypeSource<'a> {
    Alias(&'a ast::Declaration),
    Enum(&'a ast::EnumBody),
    Struct(&'a ast::StructBody),
    Union(&'a ast::UnionBody),
    /// Used but defined nowhere, in an rpcgen spec: left to the code
    /// around the generated code, as rpcgen leaves it to C.
    External,
}

impl TypeSource<'_> {
    pub fn kind(&self) -> NamedKind {
        match self {
            TypeSource::Alias(_) => NamedKind::Alias,
            TypeSource::Enum(_) => NamedKind::Enum,
            TypeSource::Struct(_) => NamedKind::Struct,
            TypeSource::Union(_) => NamedKind::Union,
            TypeSource::External => NamedKind::External,
        }
    }
}

/// A named (or hoisted inline) type waiting to be resolved.
#[derive(Debug)]
pub(crate) struct PendingType<'a> {
    pub name: String,
    pub span: Span,
    pub doc: Option<String>,
    pub inline: bool,
    pub source: TypeSource<'a>,
    /// Index into `Symbols::enums` for enums.
    pub enum_index: Option<usize>,
    /// Set for types no file defines.
    pub synthetic: Option<Synthetic>,
}

/// The type namespace.
#[derive(Debug, Default)]
pub(crate) struct TypeTable<'a> {
    pub pending: Vec<PendingType<'a>>,
    pub by_name: HashMap<String, usize>,
}

impl<'a> TypeTable<'a> {
    /// Registers a type (and, for enums, its members as values), then any
    /// inline types its body contains, named `{name}_{field}`.
    pub fn define(
        &mut self,
        pending: PendingType<'a>,
        symbols: &mut Symbols<'a>,
        diags: &mut Vec<Diagnostic>,
    ) {
        if let Some(&prev) = self.by_name.get(&pending.name) {
            diags.push(duplicate(
                &pending.name,
                Some(pending.span),
                Some(self.pending[prev].span),
            ));
            return;
        }
        let mut pending = pending;
        if let TypeSource::Enum(body) = pending.source {
            let e = symbols.enums.len();
            symbols.enums.push(crate::ir::symbols::EnumDecl { body });
            pending.enum_index = Some(e);
            for (m, member) in body.members.iter().enumerate() {
                symbols.define_value(
                    &member.name.name,
                    ValueSym::Member(e, m),
                    Some(member.name.span),
                    diags,
                );
            }
        }
        // Inline types come before their container so definitions read in
        // dependency order.
        let name = pending.name.clone();
        let source = pending.source;
        for (field, ty) in inline_children(source) {
            let child = match &ty.kind {
                TypeSpecKind::InlineEnum(b) => TypeSource::Enum(b),
                TypeSpecKind::InlineStruct(b) => TypeSource::Struct(b),
                TypeSpecKind::InlineUnion(b) => TypeSource::Union(b),
                _ => continue,
            };
            self.define(
                PendingType {
                    name: inline_name(&name, &field.name),
                    span: field.span,
                    doc: None,
                    inline: true,
                    source: child,
                    enum_index: None,
                    synthetic: None,
                },
                symbols,
                diags,
            );
        }
        self.by_name.insert(name, self.pending.len());
        self.pending.push(pending);
    }

    fn lookup(&self, name: &str) -> Option<&PendingType<'a>> {
        self.by_name.get(name).map(|&i| &self.pending[i])
    }
}

/// The name given to an inline type declared as `field` inside `container`.
pub(crate) fn inline_name(container: &str, field: &str) -> String {
    format!("{container}_{field}")
}

/// The inline type bodies directly inside a definition, with the name of the
/// field that declares each.
fn inline_children<'a>(source: TypeSource<'a>) -> Vec<(&'a ast::Ident, &'a ast::TypeSpec)> {
    let decls: Vec<&ast::Declaration> = match source {
        TypeSource::Alias(d) => vec![d],
        TypeSource::Enum(_) | TypeSource::External => vec![],
        TypeSource::Struct(b) => b.fields.iter().map(|f| &f.decl).collect(),
        TypeSource::Union(b) => std::iter::once(&b.discriminant)
            .chain(b.arms.iter().map(|a| &a.field.decl))
            .chain(b.default.iter().map(|f| &f.decl))
            .collect(),
    };
    decls
        .into_iter()
        .filter_map(|d| match &d.kind {
            DeclarationKind::Named { ty, name, .. } => match ty.kind {
                TypeSpecKind::InlineEnum(_)
                | TypeSpecKind::InlineStruct(_)
                | TypeSpecKind::InlineUnion(_) => Some((name, ty)),
                _ => None,
            },
            DeclarationKind::Void => None,
        })
        .collect()
}

/// Resolves every pending type into its IR form.
pub(crate) struct TypeResolver<'s, 'a> {
    pub symbols: &'s mut Symbols<'a>,
    pub table: &'s TypeTable<'a>,
    pub diags: &'s mut Vec<Diagnostic>,
    /// Each enum's member values (by index into `Symbols::enums`), built
    /// when a union first needs them, so checking case labels costs
    /// linear time however many arms and members there are.
    pub enum_values: HashMap<usize, HashSet<i128>>,
}

impl<'a> TypeResolver<'_, 'a> {
    /// The types defined (external ones are not: they have no definition).
    pub fn resolve_all(&mut self) -> Vec<TypeDef> {
        let table = self.table;
        table
            .pending
            .iter()
            .filter_map(|p| {
                let kind = match p.source {
                    TypeSource::External => return None,
                    TypeSource::Alias(d) => match self.declaration(&p.name, d, Context::Typedef) {
                        Some(f) => TypeKind::Alias(f.ty),
                        None => TypeKind::Alias(TypeRef::scalar(BaseType::Int)),
                    },
                    TypeSource::Enum(b) => TypeKind::Enum(self.enumeration(p, b)),
                    TypeSource::Struct(b) => TypeKind::Struct(Struct {
                        fields: b
                            .fields
                            .iter()
                            .filter_map(|f| {
                                let mut out =
                                    self.declaration(&p.name, &f.decl, Context::Struct)?;
                                out.doc = doc_text(&f.doc);
                                Some(out)
                            })
                            .collect(),
                    }),
                    TypeSource::Union(b) => TypeKind::Union(self.union(&p.name, b)),
                };
                Some(TypeDef {
                    name: p.name.clone(),
                    kind,
                    span: p.span,
                    doc: p.doc.clone(),
                    inline: p.inline,
                    recursive: false,
                    synthetic: p.synthetic.clone(),
                })
            })
            .collect()
    }

    fn enumeration(&mut self, p: &PendingType<'a>, body: &ast::EnumBody) -> Enum {
        let e = p.enum_index.unwrap_or_default();
        let mut seen: HashMap<i32, &str> = HashMap::new();
        let mut members = Vec::new();
        for (m, member) in body.members.iter().enumerate() {
            let Some(v) = self.symbols.member_value(e, m, self.diags) else {
                continue;
            };
            let Ok(value) = i32::try_from(v) else {
                self.diags.push(
                    Diagnostic::error(
                        member.name.span,
                        format!(
                            "enum member `{}` = {v} does not fit in 32 bits",
                            member.name.name
                        ),
                    )
                    .with_note("XDR enums are encoded as signed 32-bit integers"),
                );
                continue;
            };
            if let Some(prev) = seen.insert(value, &member.name.name) {
                self.diags.push(Diagnostic::warning(
                    member.name.span,
                    format!(
                        "enum member `{}` has the same value ({value}) as `{prev}`",
                        member.name.name
                    ),
                ));
            }
            members.push(EnumMember {
                name: member.name.name.clone(),
                value,
                span: member.name.span,
                doc: doc_text(&member.doc),
                annotations: member.annotations.clone(),
            });
        }
        Enum { members }
    }

    fn union(&mut self, name: &str, body: &ast::UnionBody) -> Union {
        let disc_field = self.declaration(name, &body.discriminant, Context::Discriminant);
        let disc_ty = disc_field.as_ref().and_then(|f| self.discriminant_type(f));
        let discriminant = Discriminant {
            name: disc_field
                .as_ref()
                .map(|f| f.name.clone())
                .unwrap_or_default(),
            ty: disc_ty.clone().unwrap_or(DiscriminantType::Int),
            span: body.discriminant.span,
        };
        let mut seen: HashMap<i64, Span> = HashMap::new();
        let mut arms = Vec::new();
        for arm in &body.arms {
            let mut cases = Vec::new();
            for v in &arm.cases {
                let Some(label) = self.case_label(v, disc_ty.as_ref()) else {
                    continue;
                };
                if let Some(prev) = seen.insert(label.value, label.span) {
                    self.diags.push(
                        Diagnostic::error(
                            label.span,
                            format!("duplicate case value {}", label.value),
                        )
                        .with_label("already handled")
                        .with_secondary(prev, "first handled here"),
                    );
                    continue;
                }
                cases.push(label);
            }
            let field = self.arm_field(name, &arm.field);
            arms.push(UnionArm { cases, field });
        }
        let default = body.default.as_ref().map(|f| DefaultArm {
            field: self.arm_field(name, f),
        });
        Union {
            discriminant,
            arms,
            default,
        }
    }

    fn arm_field(&mut self, union: &str, f: &ast::Field) -> Option<Field> {
        let mut out = self.declaration(union, &f.decl, Context::Arm)?;
        out.doc = doc_text(&f.doc);
        Some(out)
    }

    fn discriminant_type(&mut self, f: &Field) -> Option<DiscriminantType> {
        let resolved = self.unalias(&f.ty);
        let ty = match resolved.as_ref().map(|t| (&t.base, &t.shape)) {
            Some((BaseType::Int, Shape::Scalar)) => Some(DiscriminantType::Int),
            Some((BaseType::UnsignedInt, Shape::Scalar)) => Some(DiscriminantType::UnsignedInt),
            Some((BaseType::Bool, Shape::Scalar)) => Some(DiscriminantType::Bool),
            Some((BaseType::Char, Shape::Scalar)) => Some(DiscriminantType::Char),
            Some((BaseType::UnsignedChar, Shape::Scalar)) => Some(DiscriminantType::UnsignedChar),
            Some((BaseType::Short, Shape::Scalar)) => Some(DiscriminantType::Short),
            Some((BaseType::UnsignedShort, Shape::Scalar)) => Some(DiscriminantType::UnsignedShort),
            Some((BaseType::Hyper, Shape::Scalar)) => Some(DiscriminantType::Hyper),
            Some((BaseType::UnsignedHyper, Shape::Scalar)) => Some(DiscriminantType::UnsignedHyper),
            Some((
                BaseType::Named {
                    name,
                    kind: NamedKind::Enum,
                },
                Shape::Scalar,
            )) => Some(DiscriminantType::Enum(name.clone())),
            _ => None,
        };
        if ty.is_none() {
            self.diags.push(
                Diagnostic::error(
                    f.span,
                    "a union discriminant must be an integer, `bool` or an enum",
                )
                .with_label("wrong discriminant type"),
            );
        }
        ty
    }

    fn case_label(&mut self, v: &ast::Value, disc: Option<&DiscriminantType>) -> Option<CaseLabel> {
        let name = match v {
            ast::Value::Name(id) => Some(id.name.clone()),
            ast::Value::Literal { .. } => None,
        };
        let value = match (v, disc) {
            (ast::Value::Name(id), Some(DiscriminantType::Bool)) if id.name == "TRUE" => 1,
            (ast::Value::Name(id), Some(DiscriminantType::Bool)) if id.name == "FALSE" => 0,
            _ => self.symbols.value(v, self.diags)?,
        };
        let span = v.span();
        let fits = match disc {
            None => true,
            Some(DiscriminantType::Enum(e)) => {
                let ok = self.enum_has(e, name.as_deref(), value);
                if !ok {
                    let what = name.clone().unwrap_or_else(|| value.to_string());
                    self.diags.push(
                        Diagnostic::error(span, format!("`{what}` is not a member of enum `{e}`"))
                            .with_label("not a value of the discriminant's type"),
                    );
                    return None;
                }
                true
            }
            Some(d) => d
                .integer_range()
                .is_some_and(|(min, max, _)| (min..=max).contains(&value)),
        };
        if !fits {
            let ty = disc
                .and_then(DiscriminantType::integer_range)
                .map_or("", |r| r.2);
            let mut d =
                Diagnostic::error(span, format!("case value {value} is not a valid `{ty}`"))
                    .with_label("out of the discriminant's range");
            if disc == Some(&DiscriminantType::UnsignedHyper) && value > 0 {
                d = d.with_note("xdrgen takes an unsigned hyper's case labels up to 2^63 - 1");
            }
            self.diags.push(d);
            return None;
        }
        Some(CaseLabel {
            value: i64::try_from(value).ok()?,
            name,
            span,
        })
    }

    /// Whether a case label fits enum `e`: a member of `e` by name, or
    /// (a number, or a constant as rpcgen takes) a member's value.
    fn enum_has(&mut self, e: &str, name: Option<&str>, value: i128) -> bool {
        let Some(idx) = self.table.lookup(e).and_then(|p| p.enum_index) else {
            return false;
        };
        if let Some(ValueSym::Member(owner, _)) = name.and_then(|n| self.symbols.values.get(n)) {
            return *owner == idx;
        }
        if !self.enum_values.contains_key(&idx) {
            let members = self.symbols.enums[idx].body.members.len();
            let values = (0..members)
                .filter_map(|m| self.symbols.member_value(idx, m, self.diags))
                .collect();
            self.enum_values.insert(idx, values);
        }
        self.enum_values[&idx].contains(&value)
    }

    /// Follows aliases through the pending table (the IR is not built yet).
    fn unalias(&mut self, ty: &TypeRef) -> Option<TypeRef> {
        let mut current = ty.clone();
        for _ in 0..=self.table.pending.len() {
            let BaseType::Named { name, .. } = &current.base else {
                return Some(current);
            };
            let Some(TypeSource::Alias(decl)) = self.table.lookup(name).map(|p| p.source) else {
                return Some(current);
            };
            let target = self.declaration(name, decl, Context::Silent)?;
            let shape = match (&current.shape, &target.ty.shape) {
                (s, Shape::Scalar) => s.clone(),
                (Shape::Scalar, s) => s.clone(),
                _ => return None,
            };
            current = TypeRef {
                base: target.ty.base,
                shape,
            };
        }
        None
    }

    /// Resolves a declaration into a field; `None` for `void` or errors.
    fn declaration(
        &mut self,
        container: &str,
        d: &ast::Declaration,
        ctx: Context,
    ) -> Option<Field> {
        let loud = ctx != Context::Silent;
        let (ty, name, shape) = match &d.kind {
            DeclarationKind::Void => {
                if ctx != Context::Arm && loud {
                    self.diags.push(
                        Diagnostic::error(d.span, "`void` is only allowed in union arms")
                            .with_label("not allowed here"),
                    );
                }
                return None;
            }
            DeclarationKind::Named { ty, name, shape } => (ty, name, shape),
        };
        let base = self.base_type(container, ty, name, loud)?;
        let shape = self.shape(&base, ty.span, shape, loud)?;
        Some(Field {
            name: name.name.clone(),
            ty: TypeRef { base, shape },
            span: d.span,
            doc: None,
            boxed: false,
        })
    }

    fn base_type(
        &mut self,
        container: &str,
        ty: &ast::TypeSpec,
        field: &ast::Ident,
        loud: bool,
    ) -> Option<BaseType> {
        Some(match &ty.kind {
            TypeSpecKind::Int | TypeSpecKind::Long => BaseType::Int,
            TypeSpecKind::UnsignedInt | TypeSpecKind::UnsignedLong => BaseType::UnsignedInt,
            TypeSpecKind::Hyper => BaseType::Hyper,
            TypeSpecKind::UnsignedHyper => BaseType::UnsignedHyper,
            TypeSpecKind::Char => BaseType::Char,
            TypeSpecKind::UnsignedChar => BaseType::UnsignedChar,
            TypeSpecKind::Short => BaseType::Short,
            TypeSpecKind::UnsignedShort => BaseType::UnsignedShort,
            TypeSpecKind::Float => BaseType::Float,
            TypeSpecKind::Double => BaseType::Double,
            TypeSpecKind::Quadruple => BaseType::Quadruple,
            TypeSpecKind::Bool => BaseType::Bool,
            TypeSpecKind::String => BaseType::String,
            TypeSpecKind::Opaque => BaseType::Opaque,
            TypeSpecKind::InlineEnum(_)
            | TypeSpecKind::InlineStruct(_)
            | TypeSpecKind::InlineUnion(_) => {
                let name = inline_name(container, &field.name);
                let kind = self.table.lookup(&name)?.source.kind();
                BaseType::Named { name, kind }
            }
            TypeSpecKind::Named { keyword, name } => {
                let Some(target) = self.table.lookup(&name.name) else {
                    if loud {
                        self.diags.push(self.undefined_type(name));
                    }
                    return None;
                };
                let kind = target.source.kind();
                if let (Some(k), false) = (keyword, kind == NamedKind::External) {
                    let expected = match k {
                        Keyword::Struct => NamedKind::Struct,
                        Keyword::Enum => NamedKind::Enum,
                        Keyword::Union => NamedKind::Union,
                    };
                    if kind != expected && loud {
                        self.diags.push(
                            Diagnostic::error(
                                ty.span,
                                format!("`{}` is not {}", name.name, article(expected)),
                            )
                            .with_label(format!("written as {}", article(expected)))
                            .with_secondary(
                                target.span,
                                format!("defined as {} here", article(kind)),
                            ),
                        );
                    }
                }
                BaseType::Named {
                    name: name.name.clone(),
                    kind,
                }
            }
        })
    }

    fn undefined_type(&self, name: &ast::Ident) -> Diagnostic {
        let mut d = Diagnostic::error(name.span, format!("undefined type `{}`", name.name))
            .with_label("not defined in any loaded file");
        if self.symbols.values.contains_key(name.name.as_str()) {
            d = d.with_note(format!("`{}` is a constant, not a type", name.name));
        }
        d
    }

    fn shape(
        &mut self,
        base: &BaseType,
        ty_span: Span,
        shape: &ast::Shape,
        loud: bool,
    ) -> Option<Shape> {
        let what = match base {
            BaseType::String => Some("string"),
            BaseType::Opaque => Some("opaque"),
            _ => None,
        };
        let err = |diags: &mut Vec<Diagnostic>, msg: String| {
            if loud {
                diags.push(Diagnostic::error(ty_span, msg));
            }
        };
        let out = match shape {
            ast::Shape::Scalar => {
                if let Some(w) = what {
                    let forms = if w == "string" {
                        "`string name<N>` or `string name<>`"
                    } else {
                        "`opaque name[N]` or `opaque name<N>`"
                    };
                    err(self.diags, format!("`{w}` needs a length: write {forms}"));
                    return None;
                }
                Shape::Scalar
            }
            ast::Shape::Optional => {
                if let Some(w) = what {
                    err(
                        self.diags,
                        format!("`*` cannot be applied to `{w}`; declare a typedef of it and make that optional"),
                    );
                    return None;
                }
                Shape::Optional
            }
            ast::Shape::Fixed(v) => {
                if what == Some("string") {
                    err(
                        self.diags,
                        "`string` cannot have a fixed length; write `string name<N>`".into(),
                    );
                    return None;
                }
                Shape::Fixed(self.bound(v, Length::Fixed, loud)?)
            }
            ast::Shape::Variable(None) => Shape::Variable(None),
            ast::Shape::Variable(Some(v)) => {
                Shape::Variable(Some(self.bound(v, Length::Maximum, loud)?))
            }
        };
        Some(out)
    }

    fn bound(&mut self, v: &ast::Value, length: Length, loud: bool) -> Option<u32> {
        let mut sink = Vec::new();
        let diags = if loud { &mut *self.diags } else { &mut sink };
        let value = self.symbols.value(v, diags)?;
        match checked_bound(value, v.span(), length) {
            Ok(n) => Some(n),
            Err(d) => {
                if loud {
                    self.diags.push(d);
                }
                None
            }
        }
    }
}

/// At most this many elements in a fixed-length array or opaque (256 Mi):
/// decoding one builds all of it before reading, so a spec's
/// `opaque x[4000000000]` would make every decode allocate gigabytes.
/// Real specifications stay far below (libvirt's largest is 4097); arrays
/// of hundreds of megabytes still work (boxed, built on the heap).
pub const MAX_FIXED_LENGTH: u32 = 1 << 28;

/// Which bound a length is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Length {
    /// `[N]`: exactly N, at most [`MAX_FIXED_LENGTH`].
    Fixed,
    /// `<N>`: at most N.
    Maximum,
}

/// A bound's value checked: 32 bits, not negative, and for a fixed length
/// at most [`MAX_FIXED_LENGTH`]. Zero is a bound as rpcgen takes it: a
/// fixed array of nothing, a variable one that must stay empty.
pub(crate) fn checked_bound(value: i128, span: Span, length: Length) -> Result<u32, Diagnostic> {
    match u32::try_from(value) {
        Ok(n) if n > MAX_FIXED_LENGTH && length == Length::Fixed => Err(Diagnostic::error(
            span,
            format!("a fixed length of {n} is more than xdrgen's limit of {MAX_FIXED_LENGTH}"),
        )
        .with_label("too long")
        .with_note("decoding builds the whole array first; use a variable-length `<N>` instead")),
        Ok(n) => Ok(n),
        Err(_) => Err(Diagnostic::error(
            span,
            format!("a bound must be an unsigned 32-bit constant, not {value}"),
        )
        .with_label("invalid bound")),
    }
}

/// Where a declaration appears; decides whether `void` is allowed and
/// whether problems are reported (alias-chasing re-resolves silently).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    Typedef,
    Struct,
    Arm,
    Discriminant,
    Silent,
}

fn article(k: NamedKind) -> &'static str {
    match k {
        NamedKind::Alias => "a typedef",
        NamedKind::Enum => "an enum",
        NamedKind::Struct => "a struct",
        NamedKind::Union => "a union",
        NamedKind::External => "a type defined elsewhere",
    }
}

/// The documentation text of leading comments: each comment's text, with
/// comments made only of `@annotation` lines left out.
pub(crate) fn doc_text(comments: &[ast::Comment]) -> Option<String> {
    let parts: Vec<String> = comments
        .iter()
        .map(|c| c.text())
        .filter(|t| {
            !t.is_empty()
                && !t
                    .lines()
                    .all(|l| l.trim().is_empty() || l.trim_start().starts_with('@'))
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("\n\n"))
}
