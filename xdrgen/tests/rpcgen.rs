//! rpcgen's language beyond RFC 4506/5531, through `xdr_include!`
//! (`fixtures/ok/rpcgen.x`): string constants, the rpcgen preset's C types
//! and procedures with unnamed or several arguments.
//!
//! The expected bytes are derived by hand from RFC 4506 and from the C that
//! `rpcgen -N` writes for the fixture: a single argument goes through its
//! own `xdr_*` routine (`xdr_wrapstring` for `string`, `xdr_point` for
//! `point *`, the pointer being C's pass-by-reference), several arguments
//! through `xdr_<proc>_1_argument`, which encodes them in order with
//! `xdr_pointer` for `int *`. The `ADD` and `MIX` vectors were checked
//! against that C (`rpcgen -N -c`, built with libtirpc): same bytes.

#![allow(missing_docs)]

mod rpcgen {
    xdrgen::xdr_include!("tests/fixtures/ok/rpcgen.x");
}

use rpcgen::messageprog::procs;
use xdrgen::rt::{self, Codec, RemoteProcedure};

fn args_of<P: RemoteProcedure>(args: &P::Args) -> Vec<u8>
where
    P::Args: PartialEq + std::fmt::Debug,
{
    let mut buf = Vec::new();
    P::ArgsCodec::encode(args, &mut rt::Writer::new(&mut buf)).unwrap();
    assert_eq!(buf.len(), P::ArgsCodec::len(args));
    let back = rt::decode_all::<P::ArgsCodec>(&buf).unwrap();
    assert_eq!(&back, args);
    buf
}

fn ret_of<P: RemoteProcedure>(ret: &P::Ret) -> Result<Vec<u8>, rt::Error> {
    let mut buf = Vec::new();
    P::RetCodec::encode(ret, &mut rt::Writer::new(&mut buf))?;
    Ok(buf)
}

#[test]
fn string_constants_are_str_constants() {
    let m: &str = rpcgen::HEXMODULUS;
    assert_eq!(m, "d4a0ba0250b6fd2ec626e7efd637df76c716e22d0944b88b");
    assert_eq!(rpcgen::EMPTY, "");
}

#[test]
fn a_bare_string_argument_is_an_unbounded_string() {
    // xdr_wrapstring: length, bytes, padding to 4.
    let b = args_of::<procs::Printmessage>(&"hello".to_owned());
    assert_eq!(b, [0, 0, 0, 5, b'h', b'e', b'l', b'l', b'o', 0, 0, 0]);
    assert_eq!(procs::Printmessage::INFO.args, ["string"]);
}

#[test]
fn several_arguments_travel_as_rpcgen_ns_argument_struct() {
    // xdr_add_1_argument: xdr_int(arg1), xdr_int(arg2).
    let b = args_of::<procs::Add>(&rpcgen::Add1Argument { arg1: 1, arg2: -2 });
    assert_eq!(b, [0, 0, 0, 1, 0xff, 0xff, 0xff, 0xfe]);
    assert_eq!(procs::Add::INFO.args, ["int", "int"]);
}

#[test]
fn a_pointer_among_several_arguments_is_optional_and_names_are_kept() {
    // xdr_mix_1_argument: xdr_string(s, 8), xdr_pointer(p), xdr_point(arg3).
    let some = rpcgen::Mix1Argument {
        s: "ab".to_owned(),
        p: Some(7),
        arg3: rpcgen::Point { x: 3, y: 4 },
    };
    assert_eq!(
        args_of::<procs::Mix>(&some),
        [0, 0, 0, 2, b'a', b'b', 0, 0, 0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0, 3, 0, 0, 0, 4]
    );
    let none = rpcgen::Mix1Argument { p: None, ..some };
    assert_eq!(
        args_of::<procs::Mix>(&none),
        [0, 0, 0, 2, b'a', b'b', 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 4]
    );
    // string s<8> keeps its bound.
    let long = rpcgen::Mix1Argument {
        s: "123456789".to_owned(),
        ..none
    };
    let mut buf = Vec::new();
    assert!(<procs::Mix as RemoteProcedure>::ArgsCodec::encode(
        &long,
        &mut rt::Writer::new(&mut buf)
    )
    .is_err());
}

#[test]
fn a_single_pointer_argument_is_the_value_itself() {
    // rpcgen -N passes `point *` by reference and encodes it with xdr_point.
    let b = args_of::<procs::Name>(&rpcgen::Point { x: 1, y: 2 });
    assert_eq!(b, [0, 0, 0, 1, 0, 0, 0, 2]);
}

#[test]
fn bounded_unnamed_results_and_opaque_arguments_keep_their_bounds() {
    assert_eq!(
        ret_of::<procs::Name>(&"abcd".to_owned()).unwrap(),
        [0, 0, 0, 4, b'a', b'b', b'c', b'd']
    );
    assert!(ret_of::<procs::Name>(&"x".repeat(17)).is_err());
    assert_eq!(
        args_of::<procs::Blob>(&vec![9, 8, 7]),
        [0, 0, 0, 3, 9, 8, 7, 0]
    );
    let mut buf = Vec::new();
    assert!(<procs::Blob as RemoteProcedure>::ArgsCodec::encode(
        &vec![0; 5],
        &mut rt::Writer::new(&mut buf)
    )
    .is_err());
    assert_eq!(ret_of::<procs::Blob>(&vec![]).unwrap(), [0, 0, 0, 0]);
}

#[test]
fn preset_types_encode_as_their_c_routines_do() {
    // u_int is xdr_u_int: 4 bytes; a preset name used as an argument too.
    let b = args_of::<procs::Get>(&0x0102_0304);
    assert_eq!(b, [1, 2, 3, 4]);
    let h = rpcgen::Handle {
        // xdr_netobj: variable opaque of at most MAX_NETOBJ_SZ (1024) bytes.
        cookie: vec![1, 2, 3].into(),
        // xdr_des_block: 8 bytes of opaque.
        key: [1, 2, 3, 4, 5, 6, 7, 8].into(),
        // xdr_u_char, xdr_int16_t: 4 bytes each.
        bytes: [0xab, 0xcd],
        small: -1,
        name: "n".to_owned(),
    };
    let b = rt::to_bytes(&h).unwrap();
    let expected: Vec<u8> = [
        &[0, 0, 0, 3, 1, 2, 3, 0][..],
        &[1, 2, 3, 4, 5, 6, 7, 8],
        &[0, 0, 0, 0xab, 0, 0, 0, 0xcd],
        &[0xff, 0xff, 0xff, 0xff],
        &[0, 0, 0, 1, b'n', 0, 0, 0],
    ]
    .concat();
    assert_eq!(b, expected);
    assert_eq!(rt::from_bytes::<rpcgen::Handle>(&b).unwrap(), h);
    let too_big = rpcgen::Handle {
        cookie: vec![0; 1025].into(),
        ..h
    };
    assert!(rt::to_bytes(&too_big).is_err());
    // MAXNETNAMELEN comes from the preset too.
    assert_eq!(rpcgen::MAXNETNAMELEN, 255);
}

#[test]
fn a_bool_t_discriminant_takes_true_and_false() {
    let b = rt::to_bytes(&rpcgen::Pick::True(u64::MAX)).unwrap();
    assert_eq!(
        b,
        [0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
    );
    assert_eq!(rt::to_bytes(&rpcgen::Pick::False).unwrap(), [0, 0, 0, 0]);
}

#[test]
fn percent_lines_inside_bodies_are_not_xdr() {
    // The struct has exactly its two declared fields.
    let p = rpcgen::Point { x: 1, y: 2 };
    assert_eq!(rt::to_bytes(&p).unwrap().len(), 8);
    assert_eq!(rpcgen::Colour::Green as i32, 2);
}
