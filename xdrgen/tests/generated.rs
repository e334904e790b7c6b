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

/// What the service traits of `server.rs` name by their configured paths
/// (`crate::server::Peer`, `crate::error::RemoteError`, ...).
mod server {
    pub struct Peer;
    pub struct ServerStream;

    pub fn unsupported_procedure(program: u32, procedure: i32) -> super::error::RemoteError {
        super::error::RemoteError { program, procedure }
    }
}
mod error {
    #[derive(Debug, PartialEq, Eq)]
    pub struct RemoteError {
        pub program: u32,
        pub procedure: i32,
    }
}

/// Version 2 of `program.x`'s program as a service trait, as
/// `codegen::server` makes it (`server.rs` checks the copy is current).
mod directory_v2_service {
    use crate::program as directory;
    pub mod service {
        include!("fixtures/server/directory_v2.rs");
    }
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

/// A directory of names that all differ.
struct Directory;

impl directory_v2_service::service::DirectoryV2 for Directory {
    async fn rename(
        &self,
        _: &server::Peer,
        args: program::Rename2Argument,
    ) -> Result<bool, error::RemoteError> {
        Ok(args.arg1 != args.arg2)
    }
}

/// The output of a future that never waits.
fn ready<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(out) => out,
        std::task::Poll::Pending => panic!("the service waited"),
    }
}

#[test]
fn a_generated_service_trait_dispatches_its_versions_calls() {
    use directory_v2_service::service::dispatch;
    use program::directory_prog::directory_v2::{Call, Reply};
    let name = |s: &str| program::NameT(s.into());
    let call = Call::Rename(program::Rename2Argument {
        arg1: name("a"),
        arg2: name("b"),
    });
    let answer = ready(dispatch(&Directory, &server::Peer, call, None, Vec::new()));
    assert!(
        matches!(&answer, Ok((Reply::Rename(true), fds)) if fds.is_empty()),
        "{answer:?}"
    );
    // What the service does not implement is refused with the program's
    // number and the procedure's.
    let answer = ready(dispatch(
        &Directory,
        &server::Peer,
        Call::Count(()),
        None,
        Vec::new(),
    ));
    assert_eq!(
        answer.unwrap_err(),
        error::RemoteError {
            program: 0x2000_0042,
            procedure: 3
        }
    );
}

include!("common/vectors.rs");
