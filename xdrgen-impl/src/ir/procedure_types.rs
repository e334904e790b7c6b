//! The argument and result types of procedures in `program` blocks, by
//! rpcgen's rules, and the struct rpcgen `-N` makes of several arguments.
//!
//! rpcgen accepts more than named types here: `string` alone (meaning
//! `string<>`), `string<N>`, and `T *`. A single `T *` argument is only C's
//! pass-by-reference, so the wire holds a `T`; among several arguments
//! rpcgen `-N` encodes it with `xdr_pointer`, an optional `T`. Arrays and
//! `opaque<N>` / `opaque[N]` are accepted as their XDR meaning (rpcgen
//! itself refuses them); a pointer result is refused, as rpcgen does, since
//! it has no encoding of its own.

use std::collections::HashMap;

use crate::diag::{Diagnostic, Span};
use crate::ir::model::*;
use crate::ir::types::{checked_bound, Length};
use crate::syntax::ast::{self, TypeSpecKind as K};

/// Where a procedure type is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The result.
    Result,
    /// The only argument.
    OnlyArgument,
    /// One of several arguments.
    OneOfSeveral,
}

/// Resolves a procedure's argument or result type; `eval` evaluates bounds.
pub(crate) fn resolve(
    t: &ast::ProcedureType,
    role: Role,
    kinds: &HashMap<&str, NamedKind>,
    eval: &mut dyn FnMut(&ast::Value) -> Option<i128>,
    diags: &mut Vec<Diagnostic>,
) -> Option<TypeRef> {
    let base = base_type(&t.ty, kinds, diags)?;
    let err = |diags: &mut Vec<Diagnostic>, msg: &str, note: &str| {
        diags.push(Diagnostic::error(t.span, msg.to_owned()).with_note(note.to_owned()));
        None
    };
    let shape = match (&base, &t.shape) {
        (BaseType::String, ast::Shape::Scalar) => Shape::Variable(None),
        (BaseType::String | BaseType::Opaque, ast::Shape::Optional) => {
            return err(
                diags,
                "a pointer to `string` or `opaque` is not allowed here",
                "declare a typedef of it and use the typedef's name",
            )
        }
        (BaseType::String, ast::Shape::Fixed(_)) => {
            return err(
                diags,
                "`string` cannot have a fixed length",
                "write `string<N>` or `string`",
            )
        }
        (BaseType::Opaque, ast::Shape::Scalar) => {
            return err(
                diags,
                "`opaque` needs a length",
                "write `opaque<N>`, `opaque<>` or `opaque[N]`",
            )
        }
        (_, ast::Shape::Scalar) => Shape::Scalar,
        (_, ast::Shape::Optional) => match role {
            Role::OnlyArgument => Shape::Scalar,
            Role::OneOfSeveral => Shape::Optional,
            Role::Result => {
                return err(
                    diags,
                    "a procedure result cannot be a pointer",
                    "rpcgen refuses it too; declare `typedef T *name;` and return `name`",
                )
            }
        },
        (_, ast::Shape::Fixed(v)) => Shape::Fixed(bound(v, Length::Fixed, eval, diags)?),
        (_, ast::Shape::Variable(None)) => Shape::Variable(None),
        (_, ast::Shape::Variable(Some(v))) => {
            Shape::Variable(Some(bound(v, Length::Maximum, eval, diags)?))
        }
    };
    Some(TypeRef { base, shape })
}

fn base_type(
    t: &ast::TypeSpec,
    kinds: &HashMap<&str, NamedKind>,
    diags: &mut Vec<Diagnostic>,
) -> Option<BaseType> {
    Some(match &t.kind {
        K::Int | K::Long => BaseType::Int,
        K::UnsignedInt | K::UnsignedLong => BaseType::UnsignedInt,
        K::Hyper => BaseType::Hyper,
        K::UnsignedHyper => BaseType::UnsignedHyper,
        K::Char => BaseType::Char,
        K::UnsignedChar => BaseType::UnsignedChar,
        K::Short => BaseType::Short,
        K::UnsignedShort => BaseType::UnsignedShort,
        K::Float => BaseType::Float,
        K::Double => BaseType::Double,
        K::Quadruple => BaseType::Quadruple,
        K::Bool => BaseType::Bool,
        K::String => BaseType::String,
        K::Opaque => BaseType::Opaque,
        K::Named { name, .. } => match kinds.get(name.name.as_str()) {
            Some(&kind) => BaseType::Named {
                name: name.name.clone(),
                kind,
            },
            None => {
                diags.push(
                    Diagnostic::error(name.span, format!("undefined type `{}`", name.name))
                        .with_label("not defined in any loaded file"),
                );
                return None;
            }
        },
        K::InlineEnum(_) | K::InlineStruct(_) | K::InlineUnion(_) => {
            diags.push(
                Diagnostic::error(
                    t.span,
                    "procedure arguments and results cannot be inline types",
                )
                .with_note("declare the type with a name and use the name"),
            );
            return None;
        }
    })
}

fn bound(
    v: &ast::Value,
    length: Length,
    eval: &mut dyn FnMut(&ast::Value) -> Option<i128>,
    diags: &mut Vec<Diagnostic>,
) -> Option<u32> {
    let value = eval(v)?;
    checked_bound(value, v.span(), length)
        .map_err(|d| diags.push(d))
        .ok()
}

/// The struct rpcgen `-N` declares for a procedure with several arguments:
/// `<procedure>_<version>_argument`, one field per argument, named as
/// written or `arg1`, `arg2`, ...; encoded as the arguments one after
/// another.
pub(crate) fn argument_struct(
    p: &ast::ProcedureDef,
    version: u32,
    args: &[TypeRef],
    diags: &mut Vec<Diagnostic>,
) -> Option<TypeDef> {
    let name = format!("{}_{version}_argument", p.name.name.to_ascii_lowercase());
    let mut seen: HashMap<String, Span> = HashMap::new();
    let mut fields = Vec::new();
    let mut ok = true;
    for (i, (written, ty)) in p.args.iter().zip(args).enumerate() {
        let (field_name, span) = match &written.name {
            Some(n) => (n.name.clone(), n.span),
            None => (format!("arg{}", i + 1), written.span),
        };
        if let Some(prev) = seen.insert(field_name.clone(), span) {
            diags.push(
                Diagnostic::error(span, format!("argument name `{field_name}` is used twice"))
                    .with_secondary(prev, "first used here"),
            );
            ok = false;
        }
        fields.push(Field {
            name: field_name,
            ty: ty.clone(),
            span: written.span,
            doc: None,
            boxed: false,
        });
    }
    ok.then(|| TypeDef {
        doc: Some(format!(
            "The arguments of procedure `{}` (version {version}), encoded one after \
             another: rpcgen -N's `{name}`.",
            p.name.name
        )),
        name,
        kind: TypeKind::Struct(Struct { fields }),
        span: p.name.span,
        inline: false,
        recursive: false,
        synthetic: Some(Synthetic::Arguments {
            procedure: p.name.name.clone(),
            version,
        }),
    })
}
