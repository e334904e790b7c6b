//! Generated code compiles and is correct on the wire.
//!
//! Every `ok/` fixture is compiled here through `xdr_include!` with the
//! options its snapshot was generated with (see `fixtures.rs`), then
//! exercised with byte-exact vectors written by hand from RFC 4506
//! (`common/vectors.rs`, shared with the test of the CLI's output).

#![allow(missing_docs)]

mod constants {
    xdrgen::xdr_include!("tests/fixtures/ok/constants.x");
}
mod types {
    xdrgen::xdr_include!("tests/fixtures/ok/types.x");
}
mod enums_unions {
    xdrgen::xdr_include!("tests/fixtures/ok/enums_unions.x");
}
mod inline {
    xdrgen::xdr_include!("tests/fixtures/ok/inline.x");
}
mod recursive {
    xdrgen::xdr_include!("tests/fixtures/ok/recursive.x");
}
mod program {
    xdrgen::xdr_include!("tests/fixtures/ok/program.x");
}
mod rfc4506 {
    xdrgen::xdr_include!("tests/fixtures/ok/rfc4506_section7.x");
}
mod libvirt_style {
    xdrgen::xdr_include!("tests/fixtures/ok/libvirt_style.x");
}
mod multi {
    xdrgen::xdr_include!(
        "tests/fixtures/ok/multi/1_base.x",
        "tests/fixtures/ok/multi/2_extension.x"
    );
}
mod rpcgen {
    xdrgen::xdr_include!("tests/fixtures/ok/rpcgen.x");
}
mod defines {
    xdrgen::xdr_include!(
        "tests/fixtures/ok/defines.x",
        define(BUFLEN = 32, WIDTH = 0x10)
    );
}

/// The RFC example again, with serde derives behind this crate's `serde`
/// feature.
mod with_serde {
    xdrgen::xdr_include!(
        "tests/fixtures/ok/rfc4506_section7.x",
        serde_feature = "serde"
    );
}

#[cfg(feature = "serde")]
#[test]
fn serde_derives_follow_the_chosen_feature() {
    let file = with_serde::File {
        filename: "f".into(),
        r#type: with_serde::Filetype::Data("c".into()),
        owner: "o".into(),
        data: vec![1, 2],
    };
    let json = serde_json::to_string(&file).unwrap();
    let back: with_serde::File = serde_json::from_str(&json).unwrap();
    assert_eq!(back, file);
}

include!("common/vectors.rs");
