//! An independent XDR oracle: random valid encodings of any type of a
//! resolved [`Spec`], written by walking the IR with the rules of RFC 4506,
//! without the generated code or `xdrgen::rt`.
//!
//! - `int`, `unsigned int`, `enum`, `bool`: 4 bytes, big-endian; an enum
//!   holds one of its members' values, a bool 0 or 1.
//! - `char`, `unsigned char`, `short`, `unsigned short`: 4 bytes holding a
//!   value in the narrow type's range (rpcgen's `xdr_char` etc.).
//! - `hyper`, `unsigned hyper`, `double`: 8 bytes; `float`: 4;
//!   `quadruple`: 16. Floating-point values are never NaN, so decoded values
//!   compare equal.
//! - `string<N>`, `opaque<N>`: a length ≤ N, the bytes (UTF-8 for strings),
//!   zero padding to a multiple of 4; `opaque[N]`: N bytes and padding.
//! - `T[N]`: N elements; `T<N>`: a count ≤ N, then the elements; `T *`: 0,
//!   or 1 and the value.
//! - unions: the discriminant (a case label of the chosen arm, or for
//!   `default` a value valid for the discriminant's type that no label
//!   uses), then the arm's value.
//! - typedefs are expanded where they are used, composing shapes
//!   (`typedef string s<4>; s names<2>;` is an array of strings).
//!
//! Variable lengths are kept small, and past a nesting depth or a size
//! budget every choice takes the way out that ends soonest (no optional
//! value, no elements, the union arm nearest to a non-recursive value), so
//! recursive types stay finite.
//!
//! Besides the bytes, an [`Encoding`] lists [`Corruption`]s: single edits
//! that make the encoding invalid at a known place whatever follows it (an
//! undeclared enum value, a bool of 2, non-zero padding, a length beyond its
//! bound, invalid UTF-8, a char out of range, a discriminant with no arm).
//! A decoder must reject every one of them.

use std::collections::{HashMap, HashSet};

use xdrgen::ir::{
    BaseType, DiscriminantType, Enum, Field, Shape, Spec, TypeDef, TypeKind, TypeRef, Union,
};

/// A small deterministic PRNG (xorshift64*, seeded through splitmix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` (any value, including 0).
    pub fn new(seed: u64) -> Self {
        // splitmix64 of the seed: never 0 for xorshift, and nearby seeds
        // give unrelated streams.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Rng(if z == 0 { 0x2545_F491_4F6C_DD1D } else { z })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        self.next_u64() % n
    }

    /// True with probability `num / den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

/// How large random values may get.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Nesting of structs and unions beyond which every choice is minimal.
    pub max_depth: usize,
    /// Most bytes in a variable-length string or opaque value.
    pub max_bytes: usize,
    /// Most elements in a variable-length array.
    pub max_elems: usize,
    /// Encoded size beyond which every choice is minimal.
    pub budget: usize,
    /// Strings without NUL, as C's `char *` holds them (rpcgen's
    /// `xdr_string` stops at the first NUL when it encodes).
    pub c_strings: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 6,
            max_bytes: 13,
            max_elems: 3,
            budget: 8 * 1024,
            c_strings: false,
        }
    }
}

/// One edit that makes an encoding invalid: write `replacement` at
/// `offset`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corruption {
    /// Where the edit starts.
    pub offset: usize,
    /// The bytes written there (same count as they replace).
    pub replacement: Vec<u8>,
    /// What is broken, for messages.
    pub what: String,
}

/// A random valid encoding and the ways to break it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoding {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// Edits each of which must make decoding fail.
    pub corruptions: Vec<Corruption>,
    /// For a union, the arm the value is in (`arms.len()` for `default`).
    pub arm: Option<usize>,
}

impl Encoding {
    /// The bytes with `c` applied.
    pub fn corrupted(&self, c: &Corruption) -> Vec<u8> {
        let mut b = self.bytes.clone();
        b[c.offset..c.offset + c.replacement.len()].copy_from_slice(&c.replacement);
        b
    }
}

/// The types of a specification that generated code gives `Encode` and
/// `Decode`: all of them (structs, unions, enums, and typedefs, which are
/// newtypes with their own codec).
pub fn codec_types(spec: &Spec) -> Vec<&TypeDef> {
    spec.types.iter().collect()
}

/// Makes random encodings of a specification's types.
#[derive(Debug)]
pub struct Oracle<'a> {
    types: HashMap<&'a str, &'a TypeDef>,
    /// For each type, how many steps its shortest finite value needs: every
    /// minimal choice leads to a type of smaller rank, so minimal values
    /// always end.
    ranks: HashMap<&'a str, u32>,
    limits: Limits,
}

impl<'a> Oracle<'a> {
    /// An oracle for `spec` with the default [`Limits`].
    pub fn new(spec: &'a Spec) -> Self {
        Self::with_limits(spec, Limits::default())
    }

    /// An oracle for `spec` with `limits`.
    pub fn with_limits(spec: &'a Spec, limits: Limits) -> Self {
        let types: HashMap<&str, &TypeDef> =
            spec.types.iter().map(|t| (t.name.as_str(), t)).collect();
        let ranks = ranks(spec);
        Oracle {
            types,
            ranks,
            limits,
        }
    }

    /// A random valid encoding of the type `name`, the same for the same
    /// seed; `None` when the specification has no such type.
    ///
    /// # Panics
    /// When a type has no finite value (the resolver rejects those) or the
    /// IR refers to a type it does not define.
    pub fn encode(&self, name: &str, seed: u64) -> Option<Encoding> {
        self.types.get(name)?;
        let mut run = Run {
            oracle: self,
            rng: Rng::new(seed),
            out: Vec::new(),
            corruptions: Vec::new(),
            arm: None,
        };
        run.named(name, 0);
        Some(Encoding {
            bytes: run.out,
            corruptions: run.corruptions,
            arm: run.arm,
        })
    }

    /// The arms a value of union `name` can be in: its `case` arms, and
    /// `default` (as index `arms.len()`) when some valid discriminant has
    /// no label. `None` when `name` is not a union.
    pub fn union_arms(&self, name: &str) -> Option<Vec<usize>> {
        let TypeKind::Union(u) = &self.types.get(name)?.kind else {
            return None;
        };
        let mut arms: Vec<usize> = (0..u.arms.len()).collect();
        let labels: HashSet<i64> = u
            .arms
            .iter()
            .flat_map(|a| a.cases.iter().map(|c| c.value))
            .collect();
        let default_possible = u.default.is_some()
            && match &u.discriminant.ty {
                DiscriminantType::Bool => !(labels.contains(&0) && labels.contains(&1)),
                DiscriminantType::Enum(e) => match &self.def(e).kind {
                    TypeKind::Enum(en) => en
                        .members
                        .iter()
                        .any(|m| !labels.contains(&i64::from(m.value))),
                    _ => false,
                },
                // Unsigned hyper values past the labels' range are free.
                DiscriminantType::UnsignedHyper => true,
                d => d
                    .integer_range()
                    .is_some_and(|(min, max, _)| max - min + 1 > labels.len() as i128),
            };
        if default_possible {
            arms.push(u.arms.len());
        }
        Some(arms)
    }

    fn def(&self, name: &str) -> &'a TypeDef {
        self.types
            .get(name)
            .unwrap_or_else(|| panic!("the IR refers to undefined type {name}"))
    }

    fn rank(&self, name: &str) -> u32 {
        *self
            .ranks
            .get(name)
            .unwrap_or_else(|| panic!("type {name} has no finite value"))
    }

    fn ref_rank(&self, ty: &TypeRef) -> u32 {
        ref_rank(&self.ranks, ty).unwrap_or_else(|| panic!("{ty:?} has no finite value"))
    }

    fn field_rank(&self, f: Option<&Field>) -> u32 {
        f.map_or(0, |f| self.ref_rank(&f.ty))
    }
}

/// The rank of a type reference given the ranks known so far: optional and
/// variable-length values can always be empty.
fn ref_rank(ranks: &HashMap<&str, u32>, ty: &TypeRef) -> Option<u32> {
    match ty.shape {
        Shape::Optional | Shape::Variable(_) | Shape::Fixed(0) => Some(0),
        Shape::Scalar | Shape::Fixed(_) => match &ty.base {
            BaseType::Named { name, .. } => ranks.get(name.as_str()).copied(),
            _ => Some(0),
        },
    }
}

/// Ranks of every type with a finite value, by rounds: a type gets a rank
/// in the round after everything its minimal value needs got one.
fn ranks(spec: &Spec) -> HashMap<&str, u32> {
    let mut ranks: HashMap<&str, u32> = HashMap::new();
    loop {
        let known = ranks.clone();
        let mut changed = false;
        for t in &spec.types {
            if known.contains_key(t.name.as_str()) {
                continue;
            }
            let field = |f: Option<&Field>| match f {
                None => Some(0),
                Some(f) => ref_rank(&known, &f.ty),
            };
            let r = match &t.kind {
                TypeKind::Enum(_) => Some(0),
                TypeKind::Alias(target) => ref_rank(&known, target),
                TypeKind::Struct(s) => s
                    .fields
                    .iter()
                    .map(|f| ref_rank(&known, &f.ty))
                    .try_fold(0, |m, r| r.map(|r| m.max(r))),
                TypeKind::Union(u) => u
                    .arms
                    .iter()
                    .map(|a| field(a.field.as_ref()))
                    .chain(u.default.iter().map(|d| field(d.field.as_ref())))
                    .flatten()
                    .min(),
            };
            if let Some(r) = r {
                ranks.insert(&t.name, r + 1);
                changed = true;
            }
        }
        if !changed {
            return ranks;
        }
    }
}

/// One encoding in progress.
struct Run<'o, 'a> {
    oracle: &'o Oracle<'a>,
    rng: Rng,
    out: Vec<u8>,
    corruptions: Vec<Corruption>,
    /// The arm of the outermost union.
    arm: Option<usize>,
}

impl Run<'_, '_> {
    fn minimal(&self, depth: usize) -> bool {
        depth > self.oracle.limits.max_depth || self.out.len() > self.oracle.limits.budget
    }

    fn word(&mut self, w: u32) {
        self.out.extend_from_slice(&w.to_be_bytes());
    }

    /// Records that the 4-byte word just written becomes invalid as `bad`.
    fn corrupt_last_word(&mut self, bad: u32, what: impl Into<String>) {
        let offset = self.out.len() - 4;
        self.corruptions.push(Corruption {
            offset,
            replacement: bad.to_be_bytes().to_vec(),
            what: what.into(),
        });
    }

    /// Writes a length prefix for at most `max` items.
    fn length(&mut self, len: usize, max: u32, what: &str) {
        self.word(len as u32);
        // Past the bound, or (unbounded) past any input this size.
        let bad = max.saturating_add(1);
        self.corrupt_last_word(bad, format!("{what} length {bad} beyond the bound {max}"));
    }

    /// Writes `data` and its zero padding, noting that padding as breakable.
    fn opaque(&mut self, data: &[u8]) {
        self.out.extend_from_slice(data);
        let pad = (4 - data.len() % 4) % 4;
        if pad > 0 {
            let at = self.out.len() + self.rng.below(pad as u64) as usize;
            let bad = 1 + self.rng.below(255) as u8;
            self.corruptions.push(Corruption {
                offset: at,
                replacement: vec![bad],
                what: "non-zero padding".to_owned(),
            });
        }
        self.out.extend_from_slice(&[0; 3][..pad]);
    }

    fn var_len(&mut self, bound: u32, cap: usize, minimal: bool) -> usize {
        if minimal {
            return 0;
        }
        let most = (bound as usize).min(cap);
        self.rng.below(most as u64 + 1) as usize
    }

    fn string(&mut self, bound: u32, depth: usize) {
        let len = self.var_len(bound, self.oracle.limits.max_bytes, self.minimal(depth));
        let mut s = random_utf8(&mut self.rng, len);
        if self.oracle.limits.c_strings {
            s = s.replace('\0', "0");
        }
        self.length(s.len(), bound, "string");
        if !s.is_empty() {
            let at = self.out.len() + self.rng.below(s.len() as u64) as usize;
            self.corruptions.push(Corruption {
                offset: at,
                replacement: vec![0xFF],
                what: "invalid UTF-8 in a string".to_owned(),
            });
        }
        self.opaque(s.as_bytes());
    }

    fn var_opaque(&mut self, bound: u32, depth: usize) {
        let len = self.var_len(bound, self.oracle.limits.max_bytes, self.minimal(depth));
        let data = self.rng.bytes(len);
        self.length(len, bound, "opaque");
        self.opaque(&data);
    }

    fn type_ref(&mut self, ty: &TypeRef, depth: usize) {
        match (&ty.base, &ty.shape) {
            (BaseType::String, shape) => self.string(bound(shape), depth),
            (BaseType::Opaque, Shape::Fixed(n)) => {
                let data = self.rng.bytes(*n as usize);
                self.opaque(&data);
            }
            (BaseType::Opaque, shape) => self.var_opaque(bound(shape), depth),
            (base, Shape::Scalar) => self.base(base, depth),
            (base, Shape::Optional) => {
                let present = !self.minimal(depth) && self.rng.chance(1, 2);
                self.word(u32::from(present));
                self.corrupt_last_word(2, "optional flag 2");
                if present {
                    self.base(base, depth);
                }
            }
            (base, Shape::Fixed(n)) => {
                for _ in 0..*n {
                    self.base(base, depth);
                }
            }
            (base, Shape::Variable(max)) => {
                let max = max.unwrap_or(u32::MAX);
                let n = self.var_len(max, self.oracle.limits.max_elems, self.minimal(depth));
                self.length(n, max, "array");
                for _ in 0..n {
                    self.base(base, depth);
                }
            }
        }
    }

    fn base(&mut self, base: &BaseType, depth: usize) {
        match base {
            BaseType::Int => {
                let v = random_i32(&mut self.rng);
                self.word(v as u32);
            }
            BaseType::UnsignedInt => {
                let v = random_i32(&mut self.rng) as u32;
                self.word(v);
            }
            BaseType::Hyper | BaseType::UnsignedHyper => {
                let v = random_i64(&mut self.rng);
                self.out.extend_from_slice(&v.to_be_bytes());
            }
            BaseType::Char => self.narrow(i64::from(i8::MIN), i64::from(i8::MAX), "char"),
            BaseType::UnsignedChar => self.narrow(0, i64::from(u8::MAX), "unsigned char"),
            BaseType::Short => self.narrow(i64::from(i16::MIN), i64::from(i16::MAX), "short"),
            BaseType::UnsignedShort => self.narrow(0, i64::from(u16::MAX), "unsigned short"),
            BaseType::Float => {
                let bits = loop {
                    let b = special_or_random(&mut self.rng, &F32_SPECIAL) as u32;
                    if !f32::from_bits(b).is_nan() {
                        break b;
                    }
                };
                self.word(bits);
            }
            BaseType::Double => {
                let bits = loop {
                    let b = special_or_random(&mut self.rng, &F64_SPECIAL);
                    if !f64::from_bits(b).is_nan() {
                        break b;
                    }
                };
                self.out.extend_from_slice(&bits.to_be_bytes());
            }
            BaseType::Quadruple => {
                let b = self.rng.bytes(16);
                self.out.extend_from_slice(&b);
            }
            BaseType::Bool => {
                let v = self.rng.below(2) as u32;
                self.word(v);
                let bad = 2 + self.rng.below(1000) as u32;
                self.corrupt_last_word(bad, format!("bool {bad}"));
            }
            // Only written with a shape; as a bare base, the unbounded form.
            BaseType::String => self.string(u32::MAX, depth),
            BaseType::Opaque => self.var_opaque(u32::MAX, depth),
            BaseType::Named { name, .. } => self.named(name, depth),
        }
    }

    /// A value of a narrow integer type in its 4-byte form.
    fn narrow(&mut self, min: i64, max: i64, what: &str) {
        let v = match self.rng.below(4) {
            0 => min,
            1 => max,
            _ => min + self.rng.below((max - min + 1) as u64) as i64,
        };
        self.word(v as i32 as u32);
        let bad = if min < 0 && self.rng.chance(1, 2) {
            min - 1
        } else {
            max + 1
        };
        self.corrupt_last_word(bad as i32 as u32, format!("{what} out of range: {bad}"));
    }

    fn named(&mut self, name: &str, depth: usize) {
        let def = self.oracle.def(name);
        match &def.kind {
            TypeKind::Alias(target) => self.type_ref(target, depth),
            TypeKind::Enum(e) => {
                let m = self.rng.pick(&e.members);
                self.word(m.value as u32);
                let bad = undeclared(e);
                self.corrupt_last_word(bad as u32, format!("{bad} is not a member of {name}"));
            }
            TypeKind::Struct(s) => {
                for f in &s.fields {
                    self.type_ref(&f.ty, depth + 1);
                }
            }
            TypeKind::Union(u) => self.union(name, u, depth + 1),
        }
    }

    fn union(&mut self, name: &str, u: &Union, depth: usize) {
        let oracle = self.oracle;
        let labels: HashSet<i64> = u
            .arms
            .iter()
            .flat_map(|a| a.cases.iter().map(|c| c.value))
            .collect();
        let default_value = match &u.default {
            Some(_) => self.unlabelled(&u.discriminant.ty, &labels),
            None => None,
        };
        // Choices: arm indexes, and `arms.len()` for the default arm.
        let mut choices: Vec<usize> = (0..u.arms.len()).collect();
        if default_value.is_some() {
            choices.push(u.arms.len());
        }
        let field_of = |i: usize| -> Option<&Field> {
            match u.arms.get(i) {
                Some(a) => a.field.as_ref(),
                None => u.default.as_ref().and_then(|d| d.field.as_ref()),
            }
        };
        if self.minimal(depth) {
            let own = oracle.rank(name);
            choices.retain(|&i| oracle.field_rank(field_of(i)) < own);
        }
        assert!(
            !choices.is_empty(),
            "union {name}: no arm can be chosen (the oracle's rank bookkeeping is wrong)"
        );
        let choice = *self.rng.pick(&choices);
        if self.out.is_empty() {
            self.arm = Some(choice);
        }
        let value = match u.arms.get(choice) {
            Some(arm) => self.rng.pick(&arm.cases).value,
            None => default_value.expect("default only offered with a value"),
        };
        if u.discriminant.ty.encoded_len() == 8 {
            self.out.extend_from_slice(&value.to_be_bytes());
        } else {
            self.word(value as u32);
        }
        if let Some(bad) = self.invalid_discriminant(name, u, &labels) {
            self.corrupt_last_word(bad.0, bad.1);
        }
        if let Some(f) = field_of(choice) {
            self.type_ref(&f.ty, depth);
        }
    }

    /// A discriminant value valid for the type that no case label uses.
    fn unlabelled(&mut self, ty: &DiscriminantType, labels: &HashSet<i64>) -> Option<i64> {
        match ty {
            DiscriminantType::Bool => {
                let free: Vec<i64> = [0, 1].into_iter().filter(|v| !labels.contains(v)).collect();
                (!free.is_empty()).then(|| *self.rng.pick(&free))
            }
            DiscriminantType::Enum(e) => {
                let TypeKind::Enum(en) = &self.oracle.def(e).kind else {
                    panic!("discriminant type {e} is not an enum");
                };
                let free: Vec<i64> = en
                    .members
                    .iter()
                    .map(|m| i64::from(m.value))
                    .filter(|v| !labels.contains(v))
                    .collect();
                (!free.is_empty()).then(|| *self.rng.pick(&free))
            }
            DiscriminantType::Int => loop {
                let v = i64::from(random_i32(&mut self.rng));
                if !labels.contains(&v) {
                    return Some(v);
                }
            },
            DiscriminantType::UnsignedInt => loop {
                let v = i64::from(random_i32(&mut self.rng) as u32);
                if !labels.contains(&v) {
                    return Some(v);
                }
            },
            // (An unsigned hyper's value as its bits.)
            DiscriminantType::Hyper | DiscriminantType::UnsignedHyper => loop {
                let v = random_i64(&mut self.rng);
                if !labels.contains(&v) {
                    return Some(v);
                }
            },
            narrow => {
                let (min, max, _) = narrow.integer_range()?;
                let (min, max) = (min as i64, max as i64);
                let free: Vec<i64> = (min..=max).filter(|v| !labels.contains(v)).collect();
                (!free.is_empty()).then(|| *self.rng.pick(&free))
            }
        }
    }

    /// A discriminant word every decoder must reject, if there is one.
    fn invalid_discriminant(
        &mut self,
        name: &str,
        u: &Union,
        labels: &HashSet<i64>,
    ) -> Option<(u32, String)> {
        match &u.discriminant.ty {
            DiscriminantType::Bool => Some((2, format!("{name}: bool discriminant 2"))),
            DiscriminantType::Enum(e) => {
                let TypeKind::Enum(en) = &self.oracle.def(e).kind else {
                    panic!("discriminant type {e} is not an enum");
                };
                let bad = undeclared(en);
                Some((bad as u32, format!("{name}: discriminant {bad} not in {e}")))
            }
            DiscriminantType::Int | DiscriminantType::UnsignedInt if u.default.is_none() => {
                let unsigned = u.discriminant.ty == DiscriminantType::UnsignedInt;
                let bad = loop {
                    let w = random_i32(&mut self.rng) as u32;
                    let v = if unsigned {
                        i64::from(w)
                    } else {
                        i64::from(w as i32)
                    };
                    if !labels.contains(&v) {
                        break w;
                    }
                };
                Some((bad, format!("{name}: discriminant {bad:#x} has no arm")))
            }
            DiscriminantType::Char
            | DiscriminantType::UnsignedChar
            | DiscriminantType::Short
            | DiscriminantType::UnsignedShort => {
                let (_, max, ty) = u.discriminant.ty.integer_range()?;
                let bad = max + 1;
                Some((
                    bad as u32,
                    format!("{name}: {ty} discriminant {bad} out of range"),
                ))
            }
            _ => None,
        }
    }
}

/// The bound of a string or opaque shape.
fn bound(shape: &Shape) -> u32 {
    match shape {
        Shape::Variable(Some(n)) => *n,
        _ => u32::MAX,
    }
}

/// A value that is not a member of `e`.
fn undeclared(e: &Enum) -> i32 {
    let values: HashSet<i32> = e.members.iter().map(|m| m.value).collect();
    let max = values.iter().copied().max().unwrap_or(0);
    let min = values.iter().copied().min().unwrap_or(0);
    [
        max.checked_add(1),
        min.checked_sub(1),
        Some(i32::MAX),
        Some(i32::MIN),
        Some(0),
    ]
    .into_iter()
    .flatten()
    .chain(0..)
    .find(|v| !values.contains(v))
    .expect("an enum cannot use every i32")
}

const I32_SPECIAL: [u64; 8] = [
    0,
    1,
    2,
    0x7FFF_FFFF,
    0x8000_0000,
    0xFFFF_FFFF,
    0xFFFF_FFFE,
    0x0000_0100,
];

const I64_SPECIAL: [u64; 7] = [
    0,
    1,
    0x7FFF_FFFF_FFFF_FFFF,
    0x8000_0000_0000_0000,
    0xFFFF_FFFF_FFFF_FFFF,
    0x0000_0001_0000_0000,
    0x0000_0000_FFFF_FFFF,
];

const F32_SPECIAL: [u64; 6] = [
    0x0000_0000, // 0.0
    0x8000_0000, // -0.0
    0x7F80_0000, // +inf
    0xFF80_0000, // -inf
    0x0000_0001, // smallest subnormal
    0x3F80_0000, // 1.0
];

const F64_SPECIAL: [u64; 6] = [
    0,
    0x8000_0000_0000_0000,
    0x7FF0_0000_0000_0000,
    0xFFF0_0000_0000_0000,
    1,
    0x3FF0_0000_0000_0000,
];

fn special_or_random(rng: &mut Rng, special: &[u64]) -> u64 {
    if rng.chance(1, 4) {
        *rng.pick(special)
    } else {
        rng.next_u64()
    }
}

fn random_i32(rng: &mut Rng) -> i32 {
    match rng.below(8) {
        0 | 1 => *rng.pick(&I32_SPECIAL) as u32 as i32,
        2 | 3 => rng.below(100) as i32,
        _ => rng.next_u32() as i32,
    }
}

fn random_i64(rng: &mut Rng) -> i64 {
    match rng.below(8) {
        0 | 1 => *rng.pick(&I64_SPECIAL) as i64,
        2 | 3 => rng.below(100) as i64,
        _ => rng.next_u64() as i64,
    }
}

/// Random UTF-8 of at most `len` bytes (exactly `len` when it fits):
/// mostly ASCII (NUL and controls included), some 2-, 3- and 4-byte
/// characters.
fn random_utf8(rng: &mut Rng, len: usize) -> String {
    let mut s = String::with_capacity(len);
    while s.len() < len {
        let room = len - s.len();
        let width = 1 + rng.below(room.min(4) as u64) as usize;
        let width = if rng.chance(2, 3) { 1 } else { width };
        let (lo, hi) = match width {
            1 => (0u32, 0x80u32),
            2 => (0x80, 0x800),
            3 => (0x800, 0x1_0000),
            _ => (0x1_0000, 0x11_0000),
        };
        if let Some(c) = char::from_u32(lo + rng.below(u64::from(hi - lo)) as u32) {
            s.push(c);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> Spec {
        let mut sources = xdrgen::SourceMap::new();
        sources.add("t.x", text);
        let loaded = xdrgen::load(&sources, &xdrgen::Options::default());
        loaded
            .spec
            .unwrap_or_else(|| panic!("{}", sources.render(&loaded.diagnostics.0)))
    }

    #[test]
    fn rng_is_deterministic_and_spread() {
        let a: Vec<u64> = (0..4).map(|_| Rng::new(7).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        let mut r = Rng::new(0);
        let v: HashSet<u64> = (0..1000).map(|_| r.below(10)).collect();
        assert_eq!(v.len(), 10);
    }

    #[test]
    fn utf8_has_the_asked_length() {
        let mut r = Rng::new(1);
        for len in 0..40 {
            assert_eq!(random_utf8(&mut r, len).len(), len);
        }
    }

    #[test]
    fn writes_the_rfc_layout() {
        let s = spec(
            "typedef string name<5>;\n\
             struct s { name n; opaque fixed[3]; bool b; unsigned short u; hyper h; };",
        );
        let o = Oracle::new(&s);
        for seed in 0..50 {
            let e = o.encode("s", seed).unwrap();
            let b = &e.bytes;
            let n = u32::from_be_bytes(b[0..4].try_into().unwrap()) as usize;
            assert!(n <= 5);
            let padded = n.div_ceil(4) * 4;
            assert!(std::str::from_utf8(&b[4..4 + n]).is_ok());
            assert!(b[4 + n..4 + padded].iter().all(|&x| x == 0));
            let rest = &b[4 + padded..];
            assert_eq!(rest.len(), 4 + 4 + 4 + 8);
            assert_eq!(rest[3], 0, "fixed opaque padding");
            assert!(u32::from_be_bytes(rest[4..8].try_into().unwrap()) <= 1);
            assert!(u32::from_be_bytes(rest[8..12].try_into().unwrap()) <= 0xFFFF);
        }
    }

    #[test]
    fn recursive_types_stay_finite() {
        let s = spec(
            "struct node { int v; node *next; node kids<>; };\n\
             union u switch (int d) { case 0: u *again; case 1: struct node n; };",
        );
        let o = Oracle::new(&s);
        for seed in 0..200 {
            assert!(o.encode("node", seed).unwrap().bytes.len() < 64 * 1024);
            assert!(o.encode("u", seed).unwrap().bytes.len() < 64 * 1024);
        }
    }

    #[test]
    fn default_arms_use_unlabelled_members() {
        let s = spec(
            "enum e { A = 1, B = 2, C = 3 };\n\
             union u switch (e d) { case A: int x; default: void; };",
        );
        let o = Oracle::new(&s);
        let mut seen = HashSet::new();
        for seed in 0..100 {
            let e = o.encode("u", seed).unwrap();
            let d = u32::from_be_bytes(e.bytes[0..4].try_into().unwrap());
            assert!([1, 2, 3].contains(&d));
            assert_eq!(e.bytes.len(), if d == 1 { 8 } else { 4 });
            seen.insert(d);
        }
        assert_eq!(seen.len(), 3);
    }
}
