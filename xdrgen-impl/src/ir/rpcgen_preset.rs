//! Applying the rpcgen preset ([`preset::RPCGEN_TYPES`]): finding the
//! preset type names the files use without defining, and writing each as
//! the `typedef` it stands for, so the resolver treats it like any other.
//!
//! Also decides whether the preset applies when left to
//! [`RpcgenPreset::Auto`]: not for libvirt-style specs, whose files define
//! everything they use.

use std::collections::{HashMap, HashSet};

use crate::diag::Span;
use crate::ir::preset::{self, RpcgenForm};
use crate::ir::{LibvirtPrograms, RpcgenPreset};
use crate::syntax::ast::{self, DeclarationKind, ItemKind, TypeSpecKind};

/// Whether the preset applies to these files.
pub(crate) fn applies(mode: RpcgenPreset, files: &[ast::File], libvirt: &LibvirtPrograms) -> bool {
    match mode {
        RpcgenPreset::On => true,
        RpcgenPreset::Off => false,
        RpcgenPreset::Auto => match libvirt {
            LibvirtPrograms::Only(list) => list.is_empty(),
            LibvirtPrograms::Detect => !looks_like_libvirt(files),
        },
    }
}

/// libvirt's convention by names alone (the types are not resolved yet):
/// a `X_PROGRAM` constant with a `X_PROTOCOL_VERSION` or
/// `X_PROGRAM_VERSION` constant, and an enum `*_procedure` / `*Procedure`.
fn looks_like_libvirt(files: &[ast::File]) -> bool {
    let items = || files.iter().flat_map(|f| &f.items);
    let consts: HashSet<&str> = items()
        .filter_map(|i| match &i.kind {
            ItemKind::Const { name, .. } => Some(name.name.as_str()),
            _ => None,
        })
        .collect();
    let has_program = consts.iter().any(|c| {
        c.strip_suffix("_PROGRAM").is_some_and(|stem| {
            consts.contains(format!("{stem}_PROTOCOL_VERSION").as_str())
                || consts.contains(format!("{stem}_PROGRAM_VERSION").as_str())
        })
    });
    has_program
        && items().any(|i| {
            matches!(&i.kind, ItemKind::Enum { name, .. }
                if name.name.ends_with("_procedure") || name.name.ends_with("Procedure"))
        })
}

/// The type names the files use but do not define: the preset's, as the
/// `typedef`s they stand for, and the others, left external; each in order
/// of first use, spanned at that use.
pub(crate) fn undefined(files: &[ast::File]) -> (Vec<ast::Declaration>, Vec<ast::Ident>) {
    let mut defined = HashSet::new();
    for item in files.iter().flat_map(|f| &f.items) {
        match &item.kind {
            ItemKind::Typedef(ast::Declaration {
                kind: DeclarationKind::Named { name, .. },
                ..
            })
            | ItemKind::Enum { name, .. }
            | ItemKind::Struct { name, .. }
            | ItemKind::Union { name, .. } => {
                defined.insert(name.name.as_str());
            }
            _ => {}
        }
    }
    let forms: HashMap<&str, RpcgenForm> = preset::RPCGEN_TYPES.iter().copied().collect();
    let mut uses = Uses::default();
    for item in files.iter().flat_map(|f| &f.items) {
        uses.item(&item.kind);
    }
    let mut seen = HashSet::new();
    let mut preset = Vec::new();
    let mut external = Vec::new();
    for id in uses.0 {
        if defined.contains(id.name.as_str()) || !seen.insert(id.name.clone()) {
            continue;
        }
        match forms.get(id.name.as_str()) {
            Some(form) => preset.push(typedef(&id.name, *form, id.span)),
            None => external.push(id),
        }
    }
    (preset, external)
}

/// `typedef <form> name;` written at `span`.
fn typedef(name: &str, form: RpcgenForm, span: Span) -> ast::Declaration {
    let (kind, shape) = match form {
        RpcgenForm::Int => (TypeSpecKind::Int, ast::Shape::Scalar),
        RpcgenForm::UnsignedInt => (TypeSpecKind::UnsignedInt, ast::Shape::Scalar),
        RpcgenForm::Hyper => (TypeSpecKind::Hyper, ast::Shape::Scalar),
        RpcgenForm::UnsignedHyper => (TypeSpecKind::UnsignedHyper, ast::Shape::Scalar),
        RpcgenForm::Short => (TypeSpecKind::Short, ast::Shape::Scalar),
        RpcgenForm::UnsignedShort => (TypeSpecKind::UnsignedShort, ast::Shape::Scalar),
        RpcgenForm::Char => (TypeSpecKind::Char, ast::Shape::Scalar),
        RpcgenForm::UnsignedChar => (TypeSpecKind::UnsignedChar, ast::Shape::Scalar),
        RpcgenForm::Bool => (TypeSpecKind::Bool, ast::Shape::Scalar),
        RpcgenForm::VarOpaque(n) => (
            TypeSpecKind::Opaque,
            ast::Shape::Variable(Some(literal(n, span))),
        ),
        RpcgenForm::FixedOpaque(n) => (TypeSpecKind::Opaque, ast::Shape::Fixed(literal(n, span))),
    };
    ast::Declaration {
        kind: DeclarationKind::Named {
            ty: ast::TypeSpec { kind, span },
            name: ast::Ident {
                name: name.to_owned(),
                span,
            },
            shape,
        },
        span,
    }
}

fn literal(n: u32, span: Span) -> ast::Value {
    ast::Value::Literal {
        value: i128::from(n),
        span,
    }
}

/// Every type name used, in source order. Inline bodies nest at most
/// [`MAX_NESTING`](crate::syntax::MAX_NESTING) deep, which bounds
/// the recursion.
#[derive(Default)]
struct Uses(Vec<ast::Ident>);

impl Uses {
    fn item(&mut self, kind: &ItemKind) {
        match kind {
            ItemKind::Typedef(d) => self.declaration(d),
            ItemKind::Struct { body, .. } => self.struct_body(body),
            ItemKind::Union { body, .. } => self.union_body(body),
            ItemKind::Program(p) => {
                for proc in p.versions.iter().flat_map(|v| &v.procedures) {
                    for t in proc.result.iter().chain(&proc.args) {
                        self.type_spec(&t.ty);
                    }
                }
            }
            _ => {}
        }
    }

    fn declaration(&mut self, d: &ast::Declaration) {
        if let DeclarationKind::Named { ty, .. } = &d.kind {
            self.type_spec(ty);
        }
    }

    fn struct_body(&mut self, b: &ast::StructBody) {
        for f in &b.fields {
            self.declaration(&f.decl);
        }
    }

    fn union_body(&mut self, b: &ast::UnionBody) {
        self.declaration(&b.discriminant);
        for a in &b.arms {
            self.declaration(&a.field.decl);
        }
        if let Some(d) = &b.default {
            self.declaration(&d.decl);
        }
    }

    fn type_spec(&mut self, t: &ast::TypeSpec) {
        match &t.kind {
            TypeSpecKind::Named { name, .. } => self.0.push(name.clone()),
            TypeSpecKind::InlineStruct(b) => self.struct_body(b),
            TypeSpecKind::InlineUnion(b) => self.union_body(b),
            _ => {}
        }
    }
}
