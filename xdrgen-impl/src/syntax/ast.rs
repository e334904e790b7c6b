//! The syntax tree of one `.x` file, exactly as written.
//!
//! Nothing is resolved here: names are just names, values are literals or
//! names. Every node has a [`Span`]; definitions, fields and enum members keep
//! the comments written just before them.

use serde::{Deserialize, Serialize};

use crate::diag::{FileId, Span};
use crate::syntax::annotations::Annotations;

/// A parsed `.x` file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct File {
    /// Which file of the [`SourceMap`](crate::diag::SourceMap).
    pub file: FileId,
    /// Top-level items in source order.
    pub items: Vec<Item>,
    /// Every comment in the file, in source order.
    pub comments: Vec<Comment>,
}

/// A comment, with its delimiters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    /// Where it is.
    pub span: Span,
    /// The raw text, including `/*` `*/` or `//`.
    pub raw: String,
}

impl Comment {
    /// Whether this is a `/** ... */` documentation comment.
    pub fn is_doc(&self) -> bool {
        self.raw.starts_with("/**") && self.raw != "/**/"
    }

    /// The text without delimiters and without the leading `*` of each line,
    /// trimmed, with blank edge lines dropped.
    pub fn text(&self) -> String {
        let body = if let Some(b) = self.raw.strip_prefix("//") {
            b
        } else {
            let b = self.raw.strip_prefix("/*").unwrap_or(&self.raw);
            let b = b.strip_suffix("*/").unwrap_or(b);
            b.strip_prefix('*').unwrap_or(b)
        };
        let lines: Vec<&str> = body
            .lines()
            .map(|l| {
                let t = l.trim();
                let t = t.strip_prefix('*').unwrap_or(t);
                t.strip_prefix(' ').unwrap_or(t).trim_end()
            })
            .collect();
        let first = lines.iter().position(|l| !l.is_empty());
        let last = lines.iter().rposition(|l| !l.is_empty());
        match (first, last) {
            (Some(a), Some(b)) => lines[a..=b].join("\n"),
            _ => String::new(),
        }
    }
}

/// An identifier with its location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ident {
    /// The name.
    pub name: String,
    /// Where it is written.
    pub span: Span,
}

/// A value: an integer literal or the name of a constant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Value {
    /// A literal, already converted (`-5`, `0x10`, `017`).
    Literal {
        /// The number. Literals outside the 64-bit range are rejected when parsed.
        value: i128,
        /// Where it is written.
        span: Span,
    },
    /// A constant's (or enum member's) name.
    Name(Ident),
}

impl Value {
    /// Where the value is written.
    pub fn span(&self) -> Span {
        match self {
            Value::Literal { span, .. } => *span,
            Value::Name(i) => i.span,
        }
    }
}

/// A top-level item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// What it is.
    pub kind: ItemKind,
    /// From its first keyword to its closing `;` (or end of line).
    pub span: Span,
    /// Comments written just before it.
    pub doc: Vec<Comment>,
}

/// The kinds of top-level item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ItemKind {
    /// `const NAME = value;`
    Const {
        /// Its name.
        name: Ident,
        /// Its value.
        value: Value,
    },
    /// `const NAME = "text";`, rpcgen's string constant (a C `#define`
    /// of a string literal).
    StringConst {
        /// Its name.
        name: Ident,
        /// Its text, without the quotes.
        value: StringLit,
    },
    /// `typedef declaration;`
    Typedef(Declaration),
    /// `enum name { ... };`
    Enum {
        /// Its name.
        name: Ident,
        /// Its members.
        body: EnumBody,
    },
    /// `struct name { ... };`
    Struct {
        /// Its name.
        name: Ident,
        /// Its fields.
        body: StructBody,
    },
    /// `union name switch (...) { ... };`
    Union {
        /// Its name.
        name: Ident,
        /// Its discriminant and arms.
        body: UnionBody,
    },
    /// An RFC 5531 `program NAME { version ... } = N;` block.
    Program(ProgramDef),
    /// An rpcgen `%` line, passed through to C output by rpcgen; the text
    /// after the `%`.
    Passthrough(String),
    /// A `#` preprocessor line (not interpreted); the whole line.
    Directive(String),
}

/// A `"..."` literal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StringLit {
    /// The text between the quotes.
    pub value: String,
    /// Where it is written, quotes included.
    pub span: Span,
}

/// `{ A = 1, B = 2 }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnumBody {
    /// Members in order.
    pub members: Vec<EnumMember>,
    /// From `{` to `}`.
    pub span: Span,
}

/// One enum member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnumMember {
    /// Its name.
    pub name: Ident,
    /// Its value; `None` (an rpcgen extension) means one more than the
    /// previous member, or 0 for the first.
    pub value: Option<Value>,
    /// Comments written just before it.
    pub doc: Vec<Comment>,
    /// libvirt's `@name: value` annotations, from the last `/** */` comment
    /// before the member.
    pub annotations: Annotations,
}

/// `{ declaration; ... }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StructBody {
    /// Fields in order.
    pub fields: Vec<Field>,
    /// From `{` to `}`.
    pub span: Span,
}

/// A declaration with the comments before it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    /// The declaration.
    pub decl: Declaration,
    /// Comments written just before it.
    pub doc: Vec<Comment>,
}

/// `switch (declaration) { case ...: declaration; ... default: declaration; }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnionBody {
    /// The declaration in `switch (...)`.
    pub discriminant: Declaration,
    /// The `case` arms in order.
    pub arms: Vec<UnionArm>,
    /// The `default:` arm.
    pub default: Option<Box<Field>>,
    /// From `switch` to `}`.
    pub span: Span,
}

/// `case A: case B: declaration;`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnionArm {
    /// The labels, at least one.
    pub cases: Vec<Value>,
    /// What the arm holds.
    pub field: Field,
}

/// A declaration, or `void`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Declaration {
    /// What it declares.
    pub kind: DeclarationKind,
    /// The whole declaration, without its `;`.
    pub span: Span,
}

/// The forms of declaration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DeclarationKind {
    /// `void`
    Void,
    /// `type name`, `type *name`, `type name[N]`, `type name<N>`, `type name<>`.
    Named {
        /// The type.
        ty: TypeSpec,
        /// The declared name.
        name: Ident,
        /// Scalar, optional or array.
        shape: Shape,
    },
}

/// How a declared name relates to its type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Shape {
    /// `type name`
    Scalar,
    /// `type *name`
    Optional,
    /// `type name[N]`
    Fixed(Value),
    /// `type name<N>`, or `type name<>` when `None`.
    Variable(Option<Value>),
}

/// A type as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypeSpec {
    /// Which type.
    pub kind: TypeSpecKind,
    /// Where it is written.
    pub span: Span,
}

/// The forms of type specifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TypeSpecKind {
    /// `int`
    Int,
    /// `unsigned int`, or bare `unsigned`
    UnsignedInt,
    /// `hyper`
    Hyper,
    /// `unsigned hyper`
    UnsignedHyper,
    /// `long` (rpcgen: 32 bits on the wire)
    Long,
    /// `unsigned long` (rpcgen: 32 bits on the wire)
    UnsignedLong,
    /// `char` (rpcgen: 4 bytes on the wire)
    Char,
    /// `unsigned char`
    UnsignedChar,
    /// `short` (rpcgen: 4 bytes on the wire)
    Short,
    /// `unsigned short`
    UnsignedShort,
    /// `float`
    Float,
    /// `double`
    Double,
    /// `quadruple`
    Quadruple,
    /// `bool`
    Bool,
    /// `string` (only valid as `string name<N>`)
    String,
    /// `opaque` (only valid as `opaque name[N]` or `opaque name<N>`)
    Opaque,
    /// A type's name, optionally with the keyword that must match its kind
    /// (`struct foo`, `enum foo`, `union foo`).
    Named {
        /// The keyword, when written.
        keyword: Option<Keyword>,
        /// The name.
        name: Ident,
    },
    /// An anonymous `enum { ... }` written inline.
    InlineEnum(EnumBody),
    /// An anonymous `struct { ... }` written inline.
    InlineStruct(StructBody),
    /// An anonymous `union switch (...) { ... }` written inline.
    InlineUnion(Box<UnionBody>),
}

/// `struct`, `enum` or `union` before a type name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Keyword {
    /// `struct`
    Struct,
    /// `enum`
    Enum,
    /// `union`
    Union,
}

/// `program NAME { version ... } = N;`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgramDef {
    /// The program's name.
    pub name: Ident,
    /// Its versions.
    pub versions: Vec<VersionDef>,
    /// Its number.
    pub number: Value,
}

/// `version NAME { procedures } = N;`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionDef {
    /// The version's name.
    pub name: Ident,
    /// Its procedures.
    pub procedures: Vec<ProcedureDef>,
    /// Its number.
    pub number: Value,
    /// From `version` to `;`.
    pub span: Span,
    /// Comments written just before it.
    pub doc: Vec<Comment>,
}

/// `result NAME(arg, ...) = N;`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcedureDef {
    /// The procedure's name.
    pub name: Ident,
    /// The result type; `None` for `void`.
    pub result: Option<ProcedureType>,
    /// The argument types; empty for `void`.
    pub args: Vec<ProcedureType>,
    /// Its number.
    pub number: Value,
    /// From the result type to `;`.
    pub span: Span,
    /// Comments written just before it.
    pub doc: Vec<Comment>,
}

/// A procedure's argument or result type as rpcgen accepts it: a type with
/// an optional `*`, `<N>` or `[N]` and, for arguments (rpcgen's `-N`
/// style), an optional name: `int`, `string`, `string<16>`, `int *`,
/// `string name<8>`, `pt *p`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcedureType {
    /// The element type.
    pub ty: TypeSpec,
    /// `*`, `<N>` or `[N]` written after it.
    pub shape: Shape,
    /// The argument's name, when written.
    pub name: Option<Ident>,
    /// The whole argument or result.
    pub span: Span,
}
