//! Fixed-size arrays of hundreds of megabytes (`tests/fixtures/large/`):
//! the generated types keep them behind a `Box`, and decoding builds them on
//! the heap, so a thread with a 256 KiB stack decodes a struct holding a
//! 100 MB opaque and a 120 MB array of ints. Held by value, such a field
//! would overflow that stack (and any thread's: 100 MB is more than the
//! 8 MiB of a main thread).

#![cfg(feature = "macros")]
#![allow(missing_docs)]

mod large {
    xdrgen::xdr_include!("tests/fixtures/large/large_arrays.x");
}

use large::*;
use xdrgen::rt::{self, Codec, Encode, RemoteProcedure};

const BIG: usize = 100_000_000;
const MANY: usize = 30_000_000;
const MID: usize = 1_000_000;

/// Runs `f` on a thread whose stack is far smaller than the values.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

/// `n` bytes of a recognisable pattern, so misplaced bytes show.
fn pattern(n: usize) -> Vec<u8> {
    let block: Vec<u8> = (0..=250).collect();
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        let k = (n - v.len()).min(block.len());
        v.extend_from_slice(&block[..k]);
    }
    v
}

fn word(i: usize) -> u32 {
    i as u32 ^ 0x5a5a_5a5a
}

/// The encoding of `n` words `word(0)`, `word(1)`, ...
fn words(n: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(4 * n);
    for i in 0..n {
        v.extend_from_slice(&word(i).to_be_bytes());
    }
    v
}

/// Whether `many[i] == word(i)`, checked at a sample of indices (the
/// re-encodings compared with the input cover every element).
fn words_match(many: &[u32]) -> bool {
    let last = many.len() - 1;
    (0..many.len())
        .step_by(9973)
        .chain([last])
        .all(|i| many[i] == word(i))
}

#[test]
fn types_box_large_arrays_and_hold_small_ones_by_value() {
    use std::mem::size_of;
    // Checks of the field types at compile time.
    let _: fn(&Holder) -> &[u8; 16] = |h| &h.uuid;
    let _: fn(&Holder) -> &Box<[u8; BIG]> = |h| &h.big;
    let _: fn(&Holder) -> &Box<[u32; MANY]> = |h| &h.many;
    let _: fn(&Limits) -> &[u8; 16384] = |l| &l.edge;
    let _: fn(&Limits) -> &Box<[u8; 16385]> = |l| &l.over;
    let _: fn(&Limits) -> &[u8; 16384] = |l| &l.chars;
    let _: fn(&Limits) -> &Box<[u32; 4097]> = |l| &l.ints;
    let _: fn(&Nested) -> &Box<[Block; 8192]> = |n| &n.blocks;
    let _: fn(&Nested) -> &Option<MidT> = |n| &n.maybe;
    let _: fn(&Nested) -> &[MidT; 2] = |n| &n.pair;
    let _: fn(&Nested) -> &Box<[Wide; 10]> = |n| &n.ten;
    let _: fn(&Nested) -> &Option<ManyT> = |n| &n.ints;
    let _: fn(BigT) -> Box<[u8; BIG]> = |b| b.0;
    let _: fn(ManyT) -> Box<[u32; MANY]> = |b| b.0;
    let _: fn(Option<ManyT>) -> Option<Box<[u32; MANY]>> = |b| b.map(ManyT::into_inner);
    let _: fn(UuidT) -> [u8; 16] = |u| u.0;
    assert!(size_of::<Holder>() <= 16 + 2 * size_of::<usize>());
    assert!(size_of::<Choice>() <= 32);
    // Procedure arguments and results use the same types and codecs.
    let _: fn(&<large_prog::procs::Echo as RemoteProcedure>::Args) -> &Box<[u8; BIG]> = |a| a;
    let _: fn(&<large_prog::procs::Count as RemoteProcedure>::Ret) -> &Box<[u32; MANY]> = |r| r;
    assert_eq!(
        <large_prog::procs::Echo as RemoteProcedure>::ArgsCodec::FIXED_LEN,
        Some(BIG)
    );
}

#[test]
fn a_struct_of_large_arrays_decodes_on_a_small_stack() {
    let big = pattern(BIG);
    let mut input: Vec<u8> = (1..=16).collect();
    input.extend_from_slice(&big);
    input.extend_from_slice(&words(MANY));
    let (holder, input) = on_small_stack(move || {
        let holder: Holder = rt::from_bytes(&input).unwrap();
        (holder, input)
    });
    assert_eq!(holder.uuid[..], input[..16]);
    assert!(holder.big[..] == big[..]);
    assert!(words_match(&holder.many[..]));
    assert_eq!(Holder::FIXED_LEN, Some(input.len()));
    assert_eq!(holder.encoded_len(), input.len());
    let again = on_small_stack(move || rt::to_bytes(&holder).unwrap());
    assert!(again == input);
}

#[test]
fn truncated_large_arrays_are_refused_before_anything_is_built() {
    // One byte short at the end, then in the first large field: refused
    // before that field is built.
    for len in [16 + BIG + 4 * MANY - 1, 16 + BIG - 1] {
        let input = vec![0; len];
        let e = on_small_stack(move || rt::from_bytes::<Holder>(&input).unwrap_err());
        assert!(
            matches!(e.kind(), rt::ErrorKind::UnexpectedEnd { .. }),
            "{e}"
        );
    }
}

#[test]
fn union_arms_of_large_arrays_decode_on_a_small_stack() {
    let big = pattern(BIG);
    let mut input = vec![0, 0, 0, 0];
    input.extend_from_slice(&big);
    let choice = on_small_stack(move || rt::from_bytes::<Choice>(&input).unwrap());
    let Choice::Big(b) = choice else {
        panic!("decoded the wrong arm")
    };
    assert!(b[..] == big[..]);
    drop(b);

    // The default arm, through the typedef.
    let mut input = vec![0, 0, 0, 9];
    input.extend_from_slice(&big);
    let choice = on_small_stack(move || rt::from_bytes::<Choice>(&input).unwrap());
    let Choice::Default(9, b) = choice else {
        panic!("decoded the wrong arm")
    };
    assert!(b[..] == big[..]);
    drop((b, big));

    let mut input = vec![0, 0, 0, 1];
    input.extend_from_slice(&words(MANY));
    let (choice, input) = on_small_stack(move || {
        let choice = rt::from_bytes::<Choice>(&input).unwrap();
        (choice, input)
    });
    let Choice::Many(m) = &choice else {
        panic!("decoded the wrong arm")
    };
    assert!(words_match(&m[..]));
    let again = on_small_stack(move || rt::to_bytes(&choice).unwrap());
    assert!(again == input);
}

#[test]
fn nested_and_optional_large_arrays_decode_on_a_small_stack() {
    let mut input = pattern(8192 * 1024); // blocks
    input.extend([0, 0, 0, 1]); // maybe: present
    input.extend(pattern(MID));
    input.extend(pattern(MID)); // pair
    input.extend(pattern(MID));
    for i in 0..10 {
        // ten: the 2000-byte arm and void, in turn
        if i % 2 == 0 {
            input.extend([0, 0, 0, 0]);
            input.extend(pattern(2000));
        } else {
            input.extend([0, 0, 0, 7]);
        }
    }
    input.extend([0, 0, 0, 0]); // ints: absent
    let (nested, input) = on_small_stack(move || {
        let nested = rt::from_bytes::<Nested>(&input).unwrap();
        (nested, input)
    });
    let blocks: Vec<u8> = nested.blocks.iter().flat_map(|b| b.0).collect();
    assert!(blocks == pattern(8192 * 1024));
    assert!(nested.maybe.as_ref().unwrap()[..] == pattern(MID)[..]);
    assert!(nested.pair.iter().all(|p| p[..] == pattern(MID)[..]));
    for (i, w) in nested.ten.iter().enumerate() {
        match w {
            Wide::Part(p) => assert!(i % 2 == 0 && p[..] == pattern(2000)[..]),
            Wide::Default(d) => assert!(i % 2 == 1 && *d == 7),
        }
    }
    assert!(nested.ints.is_none());
    let again = on_small_stack(move || rt::to_bytes(&nested).unwrap());
    assert!(again == input);

    // The optional large array, present.
    let mut input = again;
    input.truncate(input.len() - 4);
    input.extend([0, 0, 0, 1]);
    input.extend(words(MANY));
    let nested = on_small_stack(move || rt::from_bytes::<Nested>(&input).unwrap());
    assert!(words_match(&nested.ints.as_ref().unwrap()[..]));
}

#[test]
fn arrays_around_the_limit_hold_their_values_either_way() {
    let mut input = pattern(16384); // edge
    input.extend(pattern(16385)); // over, then padding
    input.extend([0, 0, 0]);
    for i in 0..16384u32 {
        input.extend((i % 256).to_be_bytes()); // chars
    }
    input.extend(words(4097)); // ints
    let limits = rt::from_bytes::<Limits>(&input).unwrap();
    assert!(limits.edge[..] == pattern(16384)[..]);
    assert!(limits.over[..] == pattern(16385)[..]);
    assert!(limits.chars.iter().enumerate().all(|(i, &c)| c == i as u8));
    assert!(limits.ints.iter().enumerate().all(|(i, &x)| x == word(i)));
    assert!(rt::to_bytes(&limits).unwrap() == input);
    let copy = limits.clone();
    assert!(copy == limits);
}
