//! `xdr_include!` runs the preprocessor like the CLI: `#include`s relative
//! to the spec and through `include_dir`, macros as constants, the branch
//! `define` selects.

#![allow(missing_docs)]

mod default {
    xdrgen::xdr_include!(
        "tests/fixtures/cpp/spec.x",
        include_dir("tests/fixtures/cpp/include")
    );
}

mod legacy {
    xdrgen::xdr_include!(
        "tests/fixtures/cpp/spec.x",
        include_dir("tests/fixtures/cpp/include"),
        define(OLD_LAYOUT),
    );
}

/// An `entry` on the wire: name "n", `label_len` bytes of label, no
/// flags, id 7.
fn entry(label_len: usize) -> Vec<u8> {
    let mut b = vec![0, 0, 0, 1, b'n', 0, 0, 0];
    b.extend_from_slice(&(label_len as u32).to_be_bytes());
    b.extend(std::iter::repeat_n(b'x', label_len));
    b.resize(b.len().next_multiple_of(4), 0);
    b.extend_from_slice(&[0, 0, 0, 0]);
    b.extend_from_slice(&7u64.to_be_bytes());
    b
}

#[test]
fn macros_become_constants_and_bounds() {
    assert_eq!(default::LABEL_MAX, 64);
    assert_eq!(default::FLAGS_MAX, 8);
    assert_eq!(default::NAME_LEN, 32);
    // `string label<LABEL_MAX>` with `#define LABEL_MAX 64`: enforced.
    let e: default::Entry = xdrgen::rt::from_bytes(&entry(64)).unwrap();
    assert_eq!(e.label.len(), 64);
    assert_eq!(e.id, 7);
    assert_eq!(xdrgen::rt::to_bytes(&e).unwrap(), entry(64));
    assert!(xdrgen::rt::from_bytes::<default::Entry>(&entry(65)).is_err());
}

#[test]
fn the_branch_taken_follows_the_defines() {
    // `#elif SHARED_VERSION >= 2` (a macro of the included file): a hyper.
    let id = |e: &default::Entry| -> u64 { e.id };
    // `define(OLD_LAYOUT)`: the first branch.
    let legacy = |e: &legacy::Entry| -> i32 { e.legacy };
    let _ = (id, legacy);
}
