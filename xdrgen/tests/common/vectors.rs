// Byte-exact vectors and behaviour of generated code, written by hand from
// RFC 4506. Included by `generated.rs` (code from `xdr_include!`) and by the
// workspace's `tests/tests/vectors_cli.rs` (code from the generator's
// source output, as `xdrgen generate` writes it): both front ends must
// pass the same tests. The including file declares the fixture modules.

use xdrgen::rt::{self, Decode, Encode};

fn bytes_of<T: Encode>(v: &T) -> Vec<u8> {
    let b = rt::to_bytes(v).unwrap();
    assert_eq!(b.len(), v.encoded_len(), "encoded_len must be exact");
    b
}

fn roundtrip<T: Encode + Decode + PartialEq + std::fmt::Debug>(v: &T, expected: &[u8]) {
    let b = bytes_of(v);
    assert_eq!(b, expected);
    let back: T = rt::from_bytes(&b).unwrap();
    assert_eq!(&back, v);
}

#[test]
fn rfc4506_section7_file_example_is_byte_exact() {
    use rfc4506::*;
    let file = File {
        filename: "sillyprog".into(),
        r#type: Filetype::Exec("lisp".into()),
        owner: "john".into(),
        data: b"(quit)".to_vec(),
    };
    let expected: Vec<u8> = [
        &[0, 0, 0, 9][..],
        b"sillyprog\0\0\0",
        &[0, 0, 0, 2],
        &[0, 0, 0, 4],
        b"lisp",
        &[0, 0, 0, 4],
        b"john",
        &[0, 0, 0, 6],
        b"(quit)\0\0",
    ]
    .concat();
    assert_eq!(expected.len(), 48);
    roundtrip(&file, &expected);
}

fn decode_err<T: Decode + std::fmt::Debug>(bytes: &[u8]) -> rt::Error {
    rt::from_bytes::<T>(bytes).expect_err("must not decode")
}

fn be(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_be_bytes()).collect()
}

fn point(x: i32, y: i32) -> types::Point {
    types::Point { x, y }
}

fn shapes() -> types::Shapes {
    types::Shapes {
        scalar: point(1, 2),
        optional: None,
        fixed: [point(0, 0), point(0, 1), point(1, 0), point(1, 1)],
        bounded: vec![point(5, 5)],
        unbounded: vec![],
        tagged: point(-1, -2),
        name: "ab".into(),
    }
}

#[test]
fn every_declaration_shape_is_byte_exact() {
    let s = shapes();
    let mut expected = be(&[1, 2]); // scalar
    expected.extend(be(&[0])); // optional: absent
    expected.extend(be(&[0, 0, 0, 1, 1, 0, 1, 1])); // fixed: no count
    expected.extend(be(&[1, 5, 5])); // bounded: count then elements
    expected.extend(be(&[0])); // unbounded: empty
    expected.extend(be(&[-1i32 as u32, -2i32 as u32])); // tagged
    expected.extend(be(&[2]));
    expected.extend(b"ab\0\0"); // string with padding
    roundtrip(&s, &expected);

    let mut with_optional = s.clone();
    with_optional.optional = Some(point(7, 8));
    let b = bytes_of(&with_optional);
    assert_eq!(&b[8..20], &be(&[1, 7, 8])[..]);
}

#[test]
fn every_scalar_type_is_byte_exact() {
    use types::*;
    roundtrip::<TInt>(&-2, &be(&[0xffff_fffe]));
    roundtrip::<TUint>(&0xdead_beef, &be(&[0xdead_beef]));
    roundtrip::<THyper>(&-2, &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]);
    roundtrip::<TUhyper>(&0x0102_0304_0506_0708, &[1, 2, 3, 4, 5, 6, 7, 8]);
    roundtrip::<TFloat>(&1.5, &0x3fc0_0000u32.to_be_bytes());
    roundtrip::<TDouble>(&-2.0, &0xc000_0000_0000_0000u64.to_be_bytes());
    roundtrip::<TBool>(&true, &be(&[1]));
    // char, short and their unsigned forms take 4 bytes, sign-extended.
    roundtrip::<TChar>(&-1, &be(&[0xffff_ffff]));
    roundtrip::<TUchar>(&200, &be(&[200]));
    roundtrip::<TShort>(&-300, &(-300i32).to_be_bytes());
    roundtrip::<TUshort>(&65535, &be(&[65535]));
    roundtrip::<TLong>(&7, &be(&[7]));
    roundtrip::<TUlong>(&7, &be(&[7]));
    let q = rt::Quadruple([9; 16]);
    roundtrip::<TQuad>(&q, &[9; 16]);
}

#[test]
fn enums_keep_their_declared_values() {
    use enums_unions::Kind;
    roundtrip(&Kind::B, &be(&[3]));
    roundtrip(&Kind::C, &be(&[4]));
    roundtrip(&Kind::D, &(-2i32).to_be_bytes());
    assert_eq!(Kind::try_from(10), Ok(Kind::E));
    assert_eq!(Kind::try_from(2), Err(2));
    let e = decode_err::<Kind>(&be(&[2]));
    assert_eq!(e.kind(), &rt::ErrorKind::UnknownEnumValue(2));
}

#[test]
fn unions_write_the_declared_discriminant() {
    use enums_unions::*;
    // Several labels on one arm keep the one used.
    roundtrip(&OnEnum::Number(Kind::B, 9), &be(&[3, 9]));
    roundtrip(&OnEnum::Number(Kind::A, 9), &be(&[1, 9]));
    // A void arm.
    roundtrip(&OnEnum::C, &be(&[4]));
    // The default arm keeps its discriminant.
    let mut def = be(&[10, 1]);
    def.extend(b"x\0\0\0");
    roundtrip(&OnEnum::Default(Kind::E, "x".into()), &def);
    // int, unsigned, bool discriminants.
    roundtrip(
        &OnInt::Big(-1),
        &[
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ],
    );
    roundtrip(&OnInt::Default(77), &be(&[77]));
    roundtrip(&OnUnsigned::Flag(true), &be(&[0xffff_ffff, 1]));
    roundtrip(
        &OnBool::True(0.5),
        &[0, 0, 0, 1, 0x3f, 0xe0, 0, 0, 0, 0, 0, 0],
    );
    roundtrip(&OnBool::False, &be(&[0]));
    roundtrip(&OnAlias::E(1.0), &[0, 0, 0, 10, 0x3f, 0x80, 0, 0]);
}

#[test]
fn union_discriminants_are_checked_both_ways() {
    use enums_unions::*;
    // No default: an unknown discriminant is an error.
    let e = decode_err::<OnUnsigned>(&be(&[5]));
    assert_eq!(e.kind(), &rt::ErrorKind::UnknownDiscriminant(5));
    // A kept discriminant must belong to its arm ...
    let e = rt::to_bytes(&OnEnum::Number(Kind::C, 1)).unwrap_err();
    assert_eq!(e.kind(), &rt::ErrorKind::UnknownDiscriminant(4));
    // ... and the default arm may not take a value that has an arm.
    let e = rt::to_bytes(&OnInt::Default(16)).unwrap_err();
    assert_eq!(e.kind(), &rt::ErrorKind::UnknownDiscriminant(16));
}

#[test]
fn bounds_are_enforced_when_encoding() {
    let mut s = shapes();
    s.bounded = vec![point(0, 0); 5]; // bound is N = 4
    let e = rt::to_bytes(&s).unwrap_err();
    assert_eq!(e.kind(), &rt::ErrorKind::BoundExceeded { len: 5, max: 4 });
    assert_eq!(e.path(), "shapes.bounded");
    let mut s = shapes();
    s.name = "abcde".into(); // string<4>
    let e = rt::to_bytes(&s).unwrap_err();
    assert_eq!(e.kind(), &rt::ErrorKind::BoundExceeded { len: 5, max: 4 });
    assert_eq!(e.path(), "shapes.name");
    // At the bound is fine.
    let mut s = shapes();
    s.bounded = vec![point(0, 0); 4];
    s.name = "abcd".into();
    let b = bytes_of(&s);
    assert_eq!(rt::from_bytes::<types::Shapes>(&b).unwrap(), s);
}

#[test]
fn bounds_are_enforced_when_decoding() {
    let mut b = bytes_of(&shapes());
    // The `bounded` count sits after scalar (8), optional (4), fixed (32).
    b[44..48].copy_from_slice(&5u32.to_be_bytes());
    let e = decode_err::<types::Shapes>(&b);
    assert_eq!(e.kind(), &rt::ErrorKind::BoundExceeded { len: 5, max: 4 });
    assert_eq!(e.offset(), 44);
    assert_eq!(e.path(), "shapes.bounded");
}

#[test]
fn malformed_input_is_a_typed_error() {
    use rfc4506::*;
    let good = bytes_of(&File {
        filename: "f".into(),
        r#type: Filetype::Text,
        owner: "o".into(),
        data: vec![1],
    });
    // Every truncation.
    for end in 0..good.len() {
        let e = decode_err::<File>(&good[..end]);
        assert!(
            matches!(e.kind(), rt::ErrorKind::UnexpectedEnd { .. }),
            "{end}: {e}"
        );
    }
    // Trailing bytes.
    let mut long = good.clone();
    long.extend([0, 0, 0, 0]);
    assert_eq!(
        decode_err::<File>(&long).kind(),
        &rt::ErrorKind::TrailingBytes(4)
    );
    // Non-zero padding after the filename.
    let mut bad = good.clone();
    bad[5] = 1;
    let e = decode_err::<File>(&bad);
    assert_eq!(e.kind(), &rt::ErrorKind::NonZeroPadding);
    assert_eq!((e.offset(), e.path().as_str()), (5, "file.filename"));
    // Invalid UTF-8.
    let mut bad = good.clone();
    bad[4] = 0xff;
    assert_eq!(decode_err::<File>(&bad).kind(), &rt::ErrorKind::InvalidUtf8);
    // An unknown enum value in the union's discriminant.
    let mut bad = good.clone();
    bad[11] = 9;
    assert_eq!(
        decode_err::<File>(&bad).kind(),
        &rt::ErrorKind::UnknownEnumValue(9)
    );
    // A bool that is not 0 or 1.
    let e = decode_err::<bool>(&be(&[2]));
    assert_eq!(e.kind(), &rt::ErrorKind::InvalidBool(2));
    // char out of range.
    let e = decode_err::<types::TChar>(&be(&[128]));
    assert_eq!(e.kind(), &rt::ErrorKind::OutOfRange(128));
}

#[test]
fn lengths_are_checked_against_the_input_before_allocating() {
    // `point unbounded<>` claims 2^32 - 1 elements in a 4-byte message.
    let mut b = bytes_of(&shapes());
    b[56..60].copy_from_slice(&u32::MAX.to_be_bytes());
    let e = decode_err::<types::Shapes>(&b);
    assert!(
        matches!(e.kind(), rt::ErrorKind::UnexpectedEnd { .. }),
        "{e}"
    );
    // opaque data<MAXFILELEN> claiming more than is there.
    let e = decode_err::<rfc4506::File>(&be(&[0, 0, 0, 65535]));
    assert!(
        matches!(e.kind(), rt::ErrorKind::UnexpectedEnd { .. }),
        "{e}"
    );
}

#[test]
fn recursive_types_are_boxed_and_round_trip() {
    use recursive::*;
    let list = ListNode {
        value: 1,
        next: Some(Box::new(ListNode {
            value: 2,
            next: None,
        })),
    };
    roundtrip(&list, &be(&[1, 1, 2, 0]));
    let tree = Tree {
        label: "a".into(),
        children: vec![Tree {
            label: "b".into(),
            children: vec![],
        }],
    };
    let b = bytes_of(&tree);
    assert_eq!(rt::from_bytes::<Tree>(&b).unwrap(), tree);
    let ping = PingNode {
        pong: Some(Box::new(PongNode {
            back: PingPtr(None),
        })),
    };
    roundtrip(&ping, &be(&[1, 0]));
}

#[test]
fn inline_types_are_hoisted_with_container_names() {
    use inline::*;
    let o = Outer {
        inner: OuterInner {
            a: 1,
            choice: OuterInnerChoice::Right("r".into()),
        },
        size: OuterSize::Large,
    };
    let mut expected = be(&[1, 1, 1]);
    expected.extend(b"r\0\0\0");
    expected.extend(be(&[2]));
    roundtrip(&o, &expected);
}

#[test]
fn constants_are_typed_by_value() {
    assert_eq!(constants::DECIMAL, 42u32);
    assert_eq!(constants::OCTAL, 42u32);
    assert_eq!(constants::NEGATIVE, -17i32);
    assert_eq!(constants::SMALLEST, i64::MIN);
    assert_eq!(constants::LARGEST, u64::MAX);
    assert_eq!(constants::ALIAS_OF_ALIAS, 42);
    assert_eq!(constants::FAVOURITE, 2);
    assert_eq!(defines::BUFLEN, 32);
}

#[test]
fn procedure_tables_describe_rfc5531_programs() {
    use program::directory_prog::{self, directory_v1, directory_v2};
    use rt::{Codec, RemoteProcedure};
    assert_eq!(directory_prog::NUMBER, 0x2000_0042);
    assert_eq!(directory_v2::VERSION, 2);
    assert_eq!(
        directory_v2::Procedure::try_from(2),
        Ok(directory_v2::Procedure::Rename)
    );
    assert_eq!(directory_v2::Procedure::try_from(9), Err(9));
    assert_eq!(directory_v1::PROCEDURES.len(), 2);
    let rename = directory_v2::Procedure::Rename.info();
    assert_eq!(
        (rename.name, rename.args),
        ("RENAME", &["name_t", "name_t"][..])
    );
    // Typed at compile time: two arguments travel as the struct rpcgen -N
    // declares for them (`rename_2_argument`), one after the other.
    type P = directory_v2::procs::Rename;
    let args: <P as RemoteProcedure>::Args = program::Rename2Argument {
        arg1: "a".into(),
        arg2: "b".into(),
    };
    let mut buf = Vec::new();
    <P as RemoteProcedure>::ArgsCodec::encode(&args, &mut rt::Writer::new(&mut buf)).unwrap();
    assert_eq!(buf, [0, 0, 0, 1, b'a', 0, 0, 0, 0, 0, 0, 1, b'b', 0, 0, 0]);
    let ret: <P as RemoteProcedure>::Ret = true;
    assert!(ret);
    assert_eq!(<directory_v2::procs::Count as RemoteProcedure>::NUMBER, 3);
}

#[test]
fn typedefs_are_codecs_of_their_own() {
    use types::*;
    // A bounded string: its bound holds for a value on its own.
    roundtrip(
        &TString::from("abcd"),
        &[0, 0, 0, 4, b'a', b'b', b'c', b'd'],
    );
    let e = rt::to_bytes(&TString::from("abcde")).unwrap_err();
    assert_eq!(e.kind(), &rt::ErrorKind::BoundExceeded { len: 5, max: 4 });
    let e = decode_err::<TString>(&[0, 0, 0, 5, b'a', b'b', b'c', b'd', b'e', 0, 0, 0]);
    assert_eq!(e.kind(), &rt::ErrorKind::BoundExceeded { len: 5, max: 4 });
    assert_eq!(<TString as Decode>::MIN_LEN, 4);
    assert_eq!(<TString as Encode>::FIXED_LEN, None);
    let mut s = TString::from("ab");
    s.push('c'); // DerefMut to the String
    assert_eq!((s.len(), s.to_string()), (3, "abc".to_owned()));
    assert_eq!(String::from(s.clone()), s.into_inner());
    // Optionals, and a typedef renaming one (a type alias: the newtype it
    // names already carries the bound).
    roundtrip(&TMaybeString(None), &be(&[0]));
    let again: TMaybeStringAgain = TMaybeString(Some("x".into()));
    roundtrip(&again, &[0, 0, 0, 1, 0, 0, 0, 1, b'x', 0, 0, 0]);
    let long: TMaybeStringAgain = TMaybeString(Some("abcde".into()));
    let e = rt::to_bytes(&long).unwrap_err();
    assert_eq!(e.kind(), &rt::ErrorKind::BoundExceeded { len: 5, max: 4 });
    let e = decode_err::<TMaybeStringAgain>(&be(&[2]));
    assert_eq!(e.kind(), &rt::ErrorKind::InvalidBool(2));
    // Fixed and variable arrays, of bytes, structs and typedefs.
    roundtrip(&TFixedOpaque([7; 16]), &[7; 16]);
    assert_eq!(<TFixedOpaque as Encode>::FIXED_LEN, Some(16));
    let e = decode_err::<TFixedOpaque>(&[7; 12]);
    assert!(
        matches!(e.kind(), rt::ErrorKind::UnexpectedEnd { .. }),
        "{e}"
    );
    roundtrip(&TVarOpaque(vec![1, 2]), &[0, 0, 0, 2, 1, 2, 0, 0]);
    let e = rt::to_bytes(&TVarOpaque(vec![0; 5])).unwrap_err();
    assert_eq!(e.kind(), &rt::ErrorKind::BoundExceeded { len: 5, max: 4 });
    roundtrip(&TPoints(vec![point(1, 2)]), &be(&[1, 1, 2]));
    let e = rt::to_bytes(&TPoints(vec![point(0, 0); 5])).unwrap_err();
    assert_eq!(e.kind(), &rt::ErrorKind::BoundExceeded { len: 5, max: 4 });
    let e = decode_err::<TPoints>(&be(&[5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
    assert_eq!(e.kind(), &rt::ErrorKind::BoundExceeded { len: 5, max: 4 });
    let pair = TNamePair(["a".into(), "bc".into()]);
    roundtrip(
        &pair,
        &[0, 0, 0, 1, b'a', 0, 0, 0, 0, 0, 0, 2, b'b', b'c', 0, 0],
    );
    assert_eq!(<TNamePair as Decode>::MIN_LEN, 8);
    let e = rt::to_bytes(&TNamePair(["a".into(), "abcde".into()])).unwrap_err();
    assert_eq!(e.kind(), &rt::ErrorKind::BoundExceeded { len: 5, max: 4 });
    assert_eq!(e.path(), "[1]");
    // A scalar typedef is as fixed as its scalar.
    assert_eq!(<THyper as Encode>::FIXED_LEN, Some(8));
}

#[test]
fn recursive_typedefs_are_codecs_of_their_own() {
    use recursive::*;
    let ptr = PingPtr(Some(Box::new(PingNode {
        pong: Some(Box::new(PongNode {
            back: PingPtr(None),
        })),
    })));
    roundtrip(&ptr, &be(&[1, 1, 0]));
    roundtrip(&PingPtr(None), &be(&[0]));
    // The structs on the cycle still count depth when decoded through it.
    let deep = [0, 0, 0, 1].repeat(100_000);
    let e = decode_err::<PingPtr>(&deep);
    assert!(matches!(e.kind(), rt::ErrorKind::TooDeep(_)), "{e}");
}

#[test]
fn procedures_taking_a_typedef_are_called_through_their_marker() {
    use program::directory_prog::directory_v1::procs::Lookup;
    use rt::RemoteProcedure;
    // What a generic client (`call::<P>(&args)`) needs of a procedure.
    fn encode_args<P: RemoteProcedure>(args: &P::Args) -> Vec<u8>
    where
        P::Args: Encode,
    {
        bytes_of(args)
    }
    let args: <Lookup as RemoteProcedure>::Args = program::NameT::from("n");
    assert_eq!(encode_args::<Lookup>(&args), [0, 0, 0, 1, b'n', 0, 0, 0]);
    let long = program::NameT("x".repeat(256));
    let e = rt::to_bytes(&long).unwrap_err();
    assert_eq!(
        e.kind(),
        &rt::ErrorKind::BoundExceeded { len: 256, max: 255 }
    );
}

#[test]
fn procedure_tables_carry_libvirt_annotations() {
    use libvirt_style::demo_program::{procs, Procedure, PROCEDURES, VERSION};
    use rt::{AclCondition, ProcedureKind, RemoteProcedure, StreamDirection};
    assert_eq!(VERSION, 1);
    assert_eq!(PROCEDURES.len(), 4);
    let shot = Procedure::DomainScreenshot.info();
    assert_eq!(
        shot.stream.map(|s| (s.direction, s.param)),
        Some((StreamDirection::Read, 1))
    );
    assert_eq!(shot.sparse_flag, Some("DEMO_SPARSE"));
    assert_eq!(shot.generate, Some(rt::Generate::Client));
    assert_eq!(shot.acl.len(), 3);
    assert_eq!(
        shot.acl[1].condition,
        AclCondition::Flags {
            negated: true,
            flags: &["DEMO_AFFECT_CONFIG", "DEMO_AFFECT_LIVE"]
        }
    );
    assert_eq!(
        shot.acl[2].condition,
        AclCondition::Param {
            name: "screen",
            value: "0"
        }
    );
    let event = Procedure::DomainEvent.info();
    assert_eq!(event.kind, ProcedureKind::Message);
    assert_eq!(event.message, Some("demo_domain_event_msg"));
    assert_eq!(event.acl[0].object, None);
    // The marker types name the generated structs.
    let _: <procs::DomainEvent as RemoteProcedure>::Args = libvirt_style::DemoDomainEventMsg {
        callback_id: 1,
        dom: libvirt_style::DemoNonnullDomain {
            name: "d".into(),
            uuid: [0; 16],
            id: 1,
        },
    };
    let _: <procs::DomainLookup as RemoteProcedure>::Ret = libvirt_style::DemoDomainLookupRet {
        dom: libvirt_style::DemoNonnullDomain {
            name: "d".into(),
            uuid: [0; 16],
            id: 1,
        },
    };
    assert_eq!(
        <procs::DomainLookup as RemoteProcedure>::PROGRAM,
        0x4445_4d4f
    );
    assert_eq!(<procs::DomainLookup as RemoteProcedure>::INFO.number, 2);
}

#[test]
fn files_loaded_together_share_types() {
    use multi::*;
    let args = ExtLookupArgs {
        r#ref: BaseRef { name: "n".into() },
        aliases: vec!["a".into()],
    };
    let mut expected = be(&[1]);
    expected.extend(b"n\0\0\0");
    expected.extend(be(&[1, 1]));
    expected.extend(b"a\0\0\0");
    roundtrip(&args, &expected);
    assert_eq!(ext_program::Procedure::Lookup as u32, 1);
}

#[test]
fn recursion_depth_is_limited_when_decoding() {
    use recursive::ListNode;
    // A list of n nodes: value, then 1 (present) ... and a final 0.
    let list = |n: usize| {
        let mut b = Vec::new();
        for i in 0..n {
            b.extend(be(&[i as u32, 1]));
        }
        b.truncate(b.len() - 4);
        b.extend(be(&[0]));
        b
    };
    let ok = list(rt::DEFAULT_MAX_DEPTH as usize);
    assert!(rt::from_bytes::<ListNode>(&ok).is_ok());
    let deep = list(100_000);
    let e = decode_err::<ListNode>(&deep);
    assert_eq!(e.kind(), &rt::ErrorKind::TooDeep(rt::DEFAULT_MAX_DEPTH));
    // A reader can allow more.
    let longer = list(rt::DEFAULT_MAX_DEPTH as usize + 500);
    assert!(rt::from_bytes::<ListNode>(&longer).is_err());
    let mut r = rt::Reader::with_max_depth(&longer, 2000);
    let decoded = ListNode::decode(&mut r).unwrap();
    assert_eq!(decoded.value, 0);
    r.finish().unwrap();
}
