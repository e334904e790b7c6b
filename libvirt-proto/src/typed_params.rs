//! Typed parameter lists (`virTypedParameter`), as many libvirt calls take
//! and return them (`remote_typed_param` on the wire).
//!
//! [`TypedParams`] behaves like libvirt's `virTypedParams*` helpers: a
//! getter of the wrong type is an error rather than a conversion, adding a
//! name twice is an error (except for strings, which may repeat as a
//! list), names are at most [`FIELD_LENGTH`] - 1 bytes.
//!
//! ```
//! use libvirt_proto::typed_params::TypedParams;
//!
//! let p = TypedParams::new()
//!     .with_uint("vcpus", 2).unwrap()
//!     .with_string("name", "demo").unwrap();
//! assert_eq!(p.get_uint("vcpus").unwrap(), Some(2));
//! assert!(p.get_int("vcpus").is_err()); // wrong type
//! assert_eq!(p.get_uint("missing").unwrap(), None);
//! ```

use std::fmt;

use crate::generated::admin;
use crate::generated::remote::{TypedParam, TypedParamValue};

/// libvirt's `VIR_TYPED_PARAM_FIELD_LENGTH`: a name takes at most this many
/// bytes including C's terminating NUL.
pub const FIELD_LENGTH: usize = 80;

/// What went wrong with a typed parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TypedParamError {
    /// The parameter exists with another type.
    TypeMismatch {
        /// Its name.
        name: String,
        /// The type asked for.
        expected: &'static str,
        /// The type it has.
        found: &'static str,
    },
    /// The name is already present.
    Duplicate(String),
    /// The name is too long for libvirt.
    NameTooLong(String),
}

impl fmt::Display for TypedParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TypedParamError::TypeMismatch {
                name,
                expected,
                found,
            } => write!(f, "parameter '{name}' has type {found}, not {expected}"),
            TypedParamError::Duplicate(n) => write!(f, "parameter '{n}' is already set"),
            TypedParamError::NameTooLong(n) => {
                write!(
                    f,
                    "parameter name '{n}' is longer than {} bytes",
                    FIELD_LENGTH - 1
                )
            }
        }
    }
}

impl std::error::Error for TypedParamError {}

fn type_name(v: &TypedParamValue) -> &'static str {
    match v {
        TypedParamValue::Int(_) => "int",
        TypedParamValue::Uint(_) => "uint",
        TypedParamValue::Llong(_) => "llong",
        TypedParamValue::Ullong(_) => "ullong",
        TypedParamValue::Double(_) => "double",
        TypedParamValue::Boolean(_) => "boolean",
        TypedParamValue::String(_) => "string",
    }
}

/// A list of named, typed values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TypedParams(pub Vec<TypedParam>);

macro_rules! typed_accessors {
    ($($get:ident $set:ident $add:ident $with:ident: $t:ty => $variant:ident, $name:literal;)*) => {$(
        /// The value of `name`, `None` when absent, an error when it has
        /// another type.
        pub fn $get(&self, name: &str) -> Result<Option<$t>, TypedParamError> {
            match self.find(name) {
                None => Ok(None),
                // `.into()`: string values are the wire's string typedef.
                Some(TypedParamValue::$variant(v)) => Ok(Some(v.clone().into())),
                Some(other) => Err(TypedParamError::TypeMismatch {
                    name: name.to_owned(),
                    expected: $name,
                    found: type_name(other),
                }),
            }
        }

        /// Sets `name`, replacing a value of any type.
        pub fn $set(&mut self, name: &str, value: $t) -> Result<(), TypedParamError> {
            self.set(name, TypedParamValue::$variant(value.into()))
        }

        /// Adds `name`; an error if it is already present.
        pub fn $add(&mut self, name: &str, value: $t) -> Result<(), TypedParamError> {
            self.add(name, TypedParamValue::$variant(value.into()))
        }

        /// Builder form of the adder.
        pub fn $with(mut self, name: &str, value: $t) -> Result<Self, TypedParamError> {
            self.$add(name, value)?;
            Ok(self)
        }
    )*};
}

impl TypedParams {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of parameters.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first value named `name`.
    pub fn find(&self, name: &str) -> Option<&TypedParamValue> {
        self.0.iter().find(|p| p.field == name).map(|p| &p.value)
    }

    fn check_name(name: &str) -> Result<(), TypedParamError> {
        if name.len() >= FIELD_LENGTH {
            return Err(TypedParamError::NameTooLong(name.to_owned()));
        }
        Ok(())
    }

    /// Adds a value; an error if the name is present (strings may repeat
    /// through [`TypedParams::add_string_list`]).
    pub fn add(&mut self, name: &str, value: TypedParamValue) -> Result<(), TypedParamError> {
        Self::check_name(name)?;
        if self.find(name).is_some() {
            return Err(TypedParamError::Duplicate(name.to_owned()));
        }
        self.0.push(TypedParam {
            field: name.into(),
            value,
        });
        Ok(())
    }

    /// Sets a value, replacing every earlier value of that name.
    pub fn set(&mut self, name: &str, value: TypedParamValue) -> Result<(), TypedParamError> {
        Self::check_name(name)?;
        self.0.retain(|p| p.field != name);
        self.0.push(TypedParam {
            field: name.into(),
            value,
        });
        Ok(())
    }

    /// Removes every value of `name`; whether there was one.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.0.len();
        self.0.retain(|p| p.field != name);
        before != self.0.len()
    }

    /// Adds one string per value under the same name (libvirt's
    /// `virTypedParamsAddStringList`).
    pub fn add_string_list(&mut self, name: &str, values: &[&str]) -> Result<(), TypedParamError> {
        Self::check_name(name)?;
        if let Some(other) = self
            .find(name)
            .filter(|v| !matches!(v, TypedParamValue::String(_)))
        {
            return Err(TypedParamError::TypeMismatch {
                name: name.to_owned(),
                expected: "string",
                found: type_name(other),
            });
        }
        for v in values {
            self.0.push(TypedParam {
                field: name.into(),
                value: TypedParamValue::String((*v).into()),
            });
        }
        Ok(())
    }

    /// Every string value of `name`, in order (`virTypedParamsGetStringList`).
    pub fn get_strings(&self, name: &str) -> Result<Vec<&str>, TypedParamError> {
        let mut out = Vec::new();
        for p in self.0.iter().filter(|p| p.field == name) {
            match &p.value {
                TypedParamValue::String(s) => out.push(s.as_str()),
                other => {
                    return Err(TypedParamError::TypeMismatch {
                        name: name.to_owned(),
                        expected: "string",
                        found: type_name(other),
                    })
                }
            }
        }
        Ok(out)
    }

    /// The value of a boolean parameter (`false` for 0, `true` otherwise, as
    /// libvirt reads it).
    pub fn get_boolean(&self, name: &str) -> Result<Option<bool>, TypedParamError> {
        self.get_boolean_raw(name).map(|v| v.map(|b| b != 0))
    }

    /// Sets a boolean parameter.
    pub fn set_boolean(&mut self, name: &str, value: bool) -> Result<(), TypedParamError> {
        self.set(name, TypedParamValue::Boolean(i32::from(value)))
    }

    /// Adds a boolean parameter.
    pub fn add_boolean(&mut self, name: &str, value: bool) -> Result<(), TypedParamError> {
        self.add(name, TypedParamValue::Boolean(i32::from(value)))
    }

    /// Builder form of [`TypedParams::add_boolean`].
    pub fn with_boolean(mut self, name: &str, value: bool) -> Result<Self, TypedParamError> {
        self.add_boolean(name, value)?;
        Ok(self)
    }

    typed_accessors! {
        get_int set_int add_int with_int: i32 => Int, "int";
        get_uint set_uint add_uint with_uint: u32 => Uint, "uint";
        get_llong set_llong add_llong with_llong: i64 => Llong, "llong";
        get_ullong set_ullong add_ullong with_ullong: u64 => Ullong, "ullong";
        get_double set_double add_double with_double: f64 => Double, "double";
        get_boolean_raw set_boolean_raw add_boolean_raw with_boolean_raw: i32 => Boolean, "boolean";
        get_string set_string add_string with_string_owned: String => String, "string";
    }

    /// Builder form of [`TypedParams::add_string`] taking a `&str`.
    pub fn with_string(self, name: &str, value: &str) -> Result<Self, TypedParamError> {
        self.with_string_owned(name, value.to_owned())
    }
}

impl From<Vec<TypedParam>> for TypedParams {
    fn from(v: Vec<TypedParam>) -> Self {
        TypedParams(v)
    }
}

impl From<TypedParams> for Vec<TypedParam> {
    fn from(p: TypedParams) -> Self {
        p.0
    }
}

// The admin program declares its own, identical, typed parameter types
// (`admin_typed_param`); these convert them.

fn from_admin(v: admin::TypedParamValue) -> TypedParamValue {
    match v {
        admin::TypedParamValue::Int(x) => TypedParamValue::Int(x),
        admin::TypedParamValue::Uint(x) => TypedParamValue::Uint(x),
        admin::TypedParamValue::Llong(x) => TypedParamValue::Llong(x),
        admin::TypedParamValue::Ullong(x) => TypedParamValue::Ullong(x),
        admin::TypedParamValue::Double(x) => TypedParamValue::Double(x),
        admin::TypedParamValue::Boolean(x) => TypedParamValue::Boolean(x),
        admin::TypedParamValue::String(x) => TypedParamValue::String(x.0.into()),
    }
}

fn to_admin(v: &TypedParamValue) -> admin::TypedParamValue {
    match v {
        TypedParamValue::Int(x) => admin::TypedParamValue::Int(*x),
        TypedParamValue::Uint(x) => admin::TypedParamValue::Uint(*x),
        TypedParamValue::Llong(x) => admin::TypedParamValue::Llong(*x),
        TypedParamValue::Ullong(x) => admin::TypedParamValue::Ullong(*x),
        TypedParamValue::Double(x) => admin::TypedParamValue::Double(*x),
        TypedParamValue::Boolean(x) => admin::TypedParamValue::Boolean(*x),
        TypedParamValue::String(x) => admin::TypedParamValue::String(x.0.clone().into()),
    }
}

impl From<Vec<admin::TypedParam>> for TypedParams {
    fn from(v: Vec<admin::TypedParam>) -> Self {
        TypedParams(
            v.into_iter()
                .map(|p| TypedParam {
                    field: p.field.0.into(),
                    value: from_admin(p.value),
                })
                .collect(),
        )
    }
}

impl From<&TypedParams> for Vec<admin::TypedParam> {
    fn from(p: &TypedParams) -> Self {
        p.0.iter()
            .map(|p| admin::TypedParam {
                field: p.field.0.clone().into(),
                value: to_admin(&p.value),
            })
            .collect()
    }
}

impl From<&TypedParams> for Vec<TypedParam> {
    fn from(p: &TypedParams) -> Self {
        p.0.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xdrgen::rt;

    #[test]
    fn getters_fail_on_type_mismatch() {
        let p = TypedParams::new()
            .with_llong("a", -5)
            .unwrap()
            .with_double("b", 0.5)
            .unwrap()
            .with_boolean("c", true)
            .unwrap();
        assert_eq!(p.get_llong("a").unwrap(), Some(-5));
        assert_eq!(p.get_double("b").unwrap(), Some(0.5));
        assert_eq!(p.get_boolean("c").unwrap(), Some(true));
        let e = p.get_ullong("a").unwrap_err();
        assert_eq!(e.to_string(), "parameter 'a' has type llong, not ullong");
    }

    #[test]
    fn add_refuses_duplicates_and_set_replaces() {
        let mut p = TypedParams::new();
        p.add_uint("n", 1).unwrap();
        assert_eq!(
            p.add_uint("n", 2),
            Err(TypedParamError::Duplicate("n".into()))
        );
        p.set_int("n", -1).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p.get_int("n").unwrap(), Some(-1));
        assert!(p.remove("n"));
        assert!(p.is_empty());
    }

    #[test]
    fn strings_may_form_a_list() {
        let mut p = TypedParams::new();
        p.add_string_list("disk", &["vda", "vdb"]).unwrap();
        assert_eq!(p.get_strings("disk").unwrap(), ["vda", "vdb"]);
        p.add_int("n", 1).unwrap();
        assert!(p.add_string_list("n", &["x"]).is_err());
        assert!(p.get_strings("n").is_err());
    }

    #[test]
    fn names_are_limited_like_libvirt() {
        let long = "x".repeat(FIELD_LENGTH);
        assert!(TypedParams::new().with_int(&long, 1).is_err());
        assert!(TypedParams::new().with_int(&long[1..], 1).is_ok());
    }

    #[test]
    fn converts_to_and_from_admin_typed_params() {
        let p = TypedParams::new()
            .with_int("a", -1)
            .unwrap()
            .with_uint("b", 2)
            .unwrap()
            .with_llong("c", -3)
            .unwrap()
            .with_ullong("d", 4)
            .unwrap()
            .with_double("e", 0.5)
            .unwrap()
            .with_boolean("f", true)
            .unwrap()
            .with_string("g", "x")
            .unwrap();
        let admin: Vec<admin::TypedParam> = (&p).into();
        assert_eq!(admin.len(), 7);
        // Same wire form in both programs.
        assert_eq!(
            rt::to_bytes(&admin[6]).unwrap(),
            rt::to_bytes(&p.0[6]).unwrap()
        );
        assert_eq!(TypedParams::from(admin), p);
    }

    #[test]
    fn encodes_as_remote_typed_params() {
        let p = TypedParams::new().with_int("a", 7).unwrap();
        let bytes = rt::to_bytes(&p.0[0]).unwrap();
        // name "a", then discriminant VIR_TYPED_PARAM_INT (1), then 7.
        assert_eq!(bytes, [0, 0, 0, 1, b'a', 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 7]);
    }
}
