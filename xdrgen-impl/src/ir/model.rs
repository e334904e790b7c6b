//! The resolved specification: what code generators and tools consume.
//!
//! Every name is resolved, every constant evaluated, every bound a number,
//! anonymous inline types hoisted to named ones, and programs described in
//! one model whether they were written as RFC 5531 `program` blocks or in
//! libvirt's constants-plus-enum convention.
//!
//! # JSON form
//!
//! `xdrgen ir --json` prints [`Spec`] with serde's default externally-tagged
//! representation. Field names and enum tags are part of the tool interface
//! and change only with a minor version bump; new optional fields may be
//! added at any time, so readers should ignore fields they do not know.
//! Spans are `{"file": index into "files", "start": byte, "end": byte}`.
//! 64-bit constant values are plain JSON integers.

use serde::{Deserialize, Serialize};

use crate::diag::Span;
use crate::syntax::annotations::Annotations;

/// A resolved specification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    /// The files it was loaded from, in order (spans index this list).
    pub files: Vec<String>,
    /// Constants: `const` definitions, then the external constants used.
    pub constants: Vec<Constant>,
    /// rpcgen's string constants (`const NAME = "text";`), in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub string_constants: Vec<StringConstant>,
    /// Types in definition order; hoisted inline types come right before the
    /// type that contains them.
    pub types: Vec<TypeDef>,
    /// Programs, in definition order.
    pub programs: Vec<Program>,
    /// The text of `%` pass-through lines, in order.
    pub passthrough: Vec<String>,
    /// Types an rpcgen spec uses without defining or including them, in
    /// order of first use. rpcgen leaves them to C (`xdr_<name>` must exist
    /// elsewhere, as `nis_callback.x` takes `nis_object` from `nis.h`);
    /// generated Rust refers to a type of the same (Rust) name that must be
    /// in scope. Only with the rpcgen preset; otherwise such a name is an
    /// error.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_types: Vec<ExternalType>,
}

/// A type used but not defined: see [`Spec::external_types`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalType {
    /// Its name.
    pub name: String,
    /// Its first use.
    pub span: Span,
}

impl Spec {
    /// The constant with this name.
    pub fn constant(&self, name: &str) -> Option<&Constant> {
        self.constants.iter().find(|c| c.name == name)
    }

    /// The type with this name.
    pub fn type_def(&self, name: &str) -> Option<&TypeDef> {
        self.types.iter().find(|t| t.name == name)
    }

    /// The program with this name.
    pub fn program(&self, name: &str) -> Option<&Program> {
        self.programs.iter().find(|p| p.name == name)
    }

    /// Follows typedef aliases from `ty` until it reaches a type that is not
    /// a plain alias, composing shapes. Returns `None` when an alias
    /// changes the shape of a type that already has one (e.g. an optional of
    /// an array), which has no single [`TypeRef`].
    pub fn unalias(&self, ty: &TypeRef) -> Option<TypeRef> {
        let mut current = ty.clone();
        for _ in 0..=self.types.len() {
            let BaseType::Named { name, .. } = &current.base else {
                return Some(current);
            };
            let Some(TypeDef {
                kind: TypeKind::Alias(target),
                ..
            }) = self.type_def(name)
            else {
                return Some(current);
            };
            let shape = match (&current.shape, &target.shape) {
                (s, Shape::Scalar) => s.clone(),
                (Shape::Scalar, s) => s.clone(),
                _ => return None,
            };
            current = TypeRef {
                base: target.base.clone(),
                shape,
            };
        }
        None
    }
}

/// Where a constant's value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConstantOrigin {
    /// `const NAME = <literal>;`
    Literal,
    /// `const NAME = OTHER;`
    Alias(String),
    /// Supplied by the caller (`--define`).
    Defined,
    /// From a preset of C-header constants (libvirt's, or rpcgen's
    /// `<rpc/*.h>` ones).
    Preset,
    /// A C macro with an integer value: a `#define` the preprocessor read,
    /// or a `%#define` the spec passes through to rpcgen's C header.
    Macro,
}

/// A named integer constant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Constant {
    /// Its name.
    pub name: String,
    /// Its value, within `i64::MIN..=u64::MAX`.
    pub value: i128,
    /// Where it came from.
    pub origin: ConstantOrigin,
    /// Its name in the source; `None` when it did not come from a file.
    pub span: Option<Span>,
    /// The comments before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
}

/// A string constant, rpcgen's `const NAME = "text";`. It is only a value
/// to pass on: using it where a number is needed is an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StringConstant {
    /// Its name.
    pub name: String,
    /// Its text, without the quotes.
    pub value: String,
    /// Its name in the source.
    pub span: Span,
    /// The comments before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
}

/// Why a type that no file defines is part of the specification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Synthetic {
    /// A C type name rpcgen specs take for granted (`uint32_t`, `netobj`,
    /// ...), from the rpcgen preset ([`crate::ir::preset::RPCGEN_TYPES`]);
    /// its span is its first use.
    RpcgenPreset,
    /// The struct rpcgen `-N` makes of a procedure's arguments
    /// (`add_1_argument`): the arguments one after another.
    Arguments {
        /// The procedure's name.
        procedure: String,
        /// The version's number.
        version: u32,
    },
}

/// A named type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypeDef {
    /// Its name; for hoisted inline types, `{container}_{field}`.
    pub name: String,
    /// What it is.
    pub kind: TypeKind,
    /// Where its name is written (for inline types, the field's name).
    pub span: Span,
    /// The comments before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
    /// Whether it was written inline, without a name of its own.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub inline: bool,
    /// Whether it is part of a cycle of type references. For an alias of an
    /// optional type, this means the alias itself must box its value.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recursive: bool,
    /// Set when no file defines it: where it comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synthetic: Option<Synthetic>,
}

impl TypeDef {
    /// The type references it holds (its fields, its arms', or its alias
    /// target), each with whether it is boxed (for the alias: whether the
    /// alias boxes its value).
    pub fn references(&self) -> Vec<(&TypeRef, bool)> {
        fn field(f: &Field) -> (&TypeRef, bool) {
            (&f.ty, f.boxed)
        }
        match &self.kind {
            TypeKind::Alias(r) => vec![(r, self.recursive)],
            TypeKind::Enum(_) => Vec::new(),
            TypeKind::Struct(s) => s.fields.iter().map(field).collect(),
            TypeKind::Union(u) => u
                .arms
                .iter()
                .filter_map(|a| a.field.as_ref())
                .chain(u.default.iter().filter_map(|d| d.field.as_ref()))
                .map(field)
                .collect(),
        }
    }
}

/// The kinds of named type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TypeKind {
    /// `typedef` of another type.
    Alias(TypeRef),
    /// An enumeration.
    Enum(Enum),
    /// A structure.
    Struct(Struct),
    /// A discriminated union.
    Union(Union),
}

/// A reference to a type with its shape.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TypeRef {
    /// The element type.
    pub base: BaseType,
    /// Scalar, optional, fixed or variable array.
    pub shape: Shape,
}

impl TypeRef {
    /// A scalar of `base`.
    pub fn scalar(base: BaseType) -> Self {
        TypeRef {
            base,
            shape: Shape::Scalar,
        }
    }
}

/// Element types.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BaseType {
    /// `int` (and rpcgen's `long`): 32-bit signed.
    Int,
    /// `unsigned int`, `unsigned`, `unsigned long`: 32-bit unsigned.
    UnsignedInt,
    /// `hyper`: 64-bit signed.
    Hyper,
    /// `unsigned hyper`: 64-bit unsigned.
    UnsignedHyper,
    /// `char`: 8-bit signed value in 4 bytes.
    Char,
    /// `unsigned char`: 8-bit unsigned value in 4 bytes.
    UnsignedChar,
    /// `short`: 16-bit signed value in 4 bytes.
    Short,
    /// `unsigned short`: 16-bit unsigned value in 4 bytes.
    UnsignedShort,
    /// `float`: IEEE single.
    Float,
    /// `double`: IEEE double.
    Double,
    /// `quadruple`: IEEE quadruple, 16 bytes.
    Quadruple,
    /// `bool`: 4 bytes, 0 or 1.
    Bool,
    /// `string`: bytes with a length (always [`Shape::Variable`]).
    String,
    /// `opaque`: bytes ([`Shape::Fixed`] or [`Shape::Variable`]).
    Opaque,
    /// A named type.
    Named {
        /// Its name.
        name: String,
        /// What the name is defined as.
        kind: NamedKind,
    },
}

/// What a type name refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NamedKind {
    /// A typedef alias.
    Alias,
    /// An enum.
    Enum,
    /// A struct.
    Struct,
    /// A union.
    Union,
    /// A type the spec uses without defining it (see
    /// [`Spec::external_types`]).
    External,
}

/// How a declared value relates to its element type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// One value.
    Scalar,
    /// `*`: zero or one value.
    Optional,
    /// `[N]`: exactly N values (N bytes for opaque).
    Fixed(u32),
    /// `<N>`: at most N values; `None` for `<>` (at most 2^32 - 1).
    Variable(Option<u32>),
}

/// An enumeration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Enum {
    /// Its members in declaration order.
    pub members: Vec<EnumMember>,
}

/// One member of an enumeration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnumMember {
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: i32,
    /// Where its name is written.
    pub span: Span,
    /// The comments before it (annotation lines left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
    /// libvirt annotations from its `/** */` comment.
    #[serde(default, skip_serializing_if = "Annotations::is_empty")]
    pub annotations: Annotations,
}

/// A structure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Struct {
    /// Its fields in order.
    pub fields: Vec<Field>,
}

/// A named, typed slot in a struct or union arm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    /// Its name.
    pub name: String,
    /// Its type.
    pub ty: TypeRef,
    /// Where its declaration is written.
    pub span: Span,
    /// The comments before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
    /// Whether an optional value must be boxed because the field's type
    /// refers back to the type that holds it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub boxed: bool,
}

/// A discriminated union.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Union {
    /// The discriminant's name and type.
    pub discriminant: Discriminant,
    /// The `case` arms in order.
    pub arms: Vec<UnionArm>,
    /// The `default` arm, if any.
    pub default: Option<DefaultArm>,
}

/// A union's `default:` arm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DefaultArm {
    /// What it holds; `None` for `void`.
    pub field: Option<Field>,
}

/// A union's discriminant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Discriminant {
    /// Its name.
    pub name: String,
    /// Its type.
    pub ty: DiscriminantType,
    /// Where it is declared.
    pub span: Span,
}

/// The types a discriminant may have: RFC 4506's (`int`, `unsigned int`,
/// an enum, `bool`), and the other integers rpcgen takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiscriminantType {
    /// `int`
    Int,
    /// `unsigned int`
    UnsignedInt,
    /// `bool`
    Bool,
    /// An enum, by name (after following typedefs).
    Enum(String),
    /// `char` (rpcgen): a 4-byte word holding an `i8`.
    Char,
    /// `unsigned char` (rpcgen): a 4-byte word holding a `u8`.
    UnsignedChar,
    /// `short` (rpcgen): a 4-byte word holding an `i16`.
    Short,
    /// `unsigned short` (rpcgen): a 4-byte word holding a `u16`.
    UnsignedShort,
    /// `hyper` (rpcgen): 8 bytes.
    Hyper,
    /// `unsigned hyper` (rpcgen): 8 bytes; case labels up to `i64::MAX`.
    UnsignedHyper,
}

impl DiscriminantType {
    /// The range of the case labels of an integer discriminant (`None` for
    /// an enum), and its name in XDR.
    pub fn integer_range(&self) -> Option<(i128, i128, &'static str)> {
        Some(match self {
            DiscriminantType::Int => (i32::MIN.into(), i32::MAX.into(), "int"),
            DiscriminantType::UnsignedInt => (0, u32::MAX.into(), "unsigned int"),
            DiscriminantType::Bool => (0, 1, "bool"),
            DiscriminantType::Enum(_) => return None,
            DiscriminantType::Char => (i8::MIN.into(), i8::MAX.into(), "char"),
            DiscriminantType::UnsignedChar => (0, u8::MAX.into(), "unsigned char"),
            DiscriminantType::Short => (i16::MIN.into(), i16::MAX.into(), "short"),
            DiscriminantType::UnsignedShort => (0, u16::MAX.into(), "unsigned short"),
            DiscriminantType::Hyper => (i64::MIN.into(), i64::MAX.into(), "hyper"),
            // Labels are kept as `i64`.
            DiscriminantType::UnsignedHyper => (0, i64::MAX.into(), "unsigned hyper"),
        })
    }

    /// Bytes on the wire.
    pub fn encoded_len(&self) -> usize {
        match self {
            DiscriminantType::Hyper | DiscriminantType::UnsignedHyper => 8,
            _ => 4,
        }
    }
}

/// One `case ...: declaration;` arm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnionArm {
    /// Its labels, at least one.
    pub cases: Vec<CaseLabel>,
    /// What it holds; `None` for `void`.
    pub field: Option<Field>,
}

/// One `case` label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseLabel {
    /// The discriminant value.
    pub value: i64,
    /// The constant or enum member it was written as, if a name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where it is written.
    pub span: Span,
}

/// An RPC program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Program {
    /// Its name (the `program` name, or libvirt's program constant).
    pub name: String,
    /// Its number.
    pub number: u32,
    /// Its versions (libvirt programs have one).
    pub versions: Vec<Version>,
    /// How it was written.
    pub convention: Convention,
    /// Where its name is written (for libvirt programs, the program
    /// constant's name).
    pub span: Span,
    /// The comments before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
}

impl Program {
    /// What the names of its procedures start with under libvirt's
    /// convention (`REMOTE_PROC_` for `REMOTE_PROGRAM`); `None` for an
    /// RFC 5531 program, whose procedure names have no common prefix.
    pub fn member_prefix(&self) -> Option<String> {
        match &self.convention {
            Convention::Libvirt(l) => Some(super::programs::member_prefix(&l.program_constant)),
            Convention::Rfc5531 => None,
        }
    }
}

/// How a program was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Convention {
    /// An RFC 5531 `program` block.
    Rfc5531,
    /// libvirt's: two constants and an enum of procedures whose types are
    /// found by name.
    Libvirt(LibvirtProgram),
}

/// The names that make up a libvirt-style program.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LibvirtProgram {
    /// The program-number constant, e.g. `REMOTE_PROGRAM`.
    pub program_constant: String,
    /// The version constant, e.g. `REMOTE_PROTOCOL_VERSION`.
    pub version_constant: String,
    /// The enum of procedures, e.g. `remote_procedure`.
    pub procedure_enum: String,
    /// The type-name prefix, e.g. `remote` (`remote_foo_args`) or
    /// `virLockSpaceProtocol` (`virLockSpaceProtocolFooArgs`).
    pub prefix: String,
}

/// One version of a program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Version {
    /// Its name (the `version` name, or libvirt's version constant).
    pub name: String,
    /// Its number.
    pub number: u32,
    /// Its procedures in definition order.
    pub procedures: Vec<Procedure>,
    /// Where it is defined.
    pub span: Span,
}

/// Whether a procedure is called or only sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcedureKind {
    /// A call with arguments and a reply.
    Call,
    /// A one-way message such as a libvirt event (a `*_msg` type).
    Message,
}

/// One procedure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Procedure {
    /// Its name as written (e.g. `REMOTE_PROC_DOMAIN_GET_INFO`).
    pub name: String,
    /// Its number.
    pub number: u32,
    /// Call or message.
    pub kind: ProcedureKind,
    /// Argument types (empty for none). A single argument written `T *` is
    /// `T` (rpcgen passes it by reference; the wire holds a `T`); among
    /// several it is an optional `T`, as rpcgen `-N` encodes it.
    pub args: Vec<TypeRef>,
    /// With several arguments, the struct type holding them (see
    /// [`Synthetic::Arguments`]); it is what the procedure's calls carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argument_struct: Option<String>,
    /// Reply type (`None` for void).
    pub result: Option<TypeRef>,
    /// The body of a message (only for [`ProcedureKind::Message`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<TypeRef>,
    /// libvirt annotations.
    #[serde(default, skip_serializing_if = "Annotations::is_empty")]
    pub annotations: Annotations,
    /// Where it is defined.
    pub span: Span,
    /// The comments before it (annotation lines left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
}
