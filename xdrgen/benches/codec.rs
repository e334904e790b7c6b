//! Encode / decode throughput of generated code.
//!
//! `cargo bench -p xdr-rpcgen --features macros --bench codec`. Compares:
//! - 10,000 `nonnull_domain` in a variable array, against two
//!   reflection-based decoders: the `serde-xdr` crate (serde derives on the
//!   same fields; it writes `[u8; 16]` as sixteen 4-byte integers, so its
//!   input is larger), and a naive schema walked at run time into a dynamic
//!   value tree;
//! - 1 MiB of opaque data, against a plain `memcpy` of the same bytes;
//! - a list of 64 typed parameters (a union per element).

#![allow(missing_docs)]

use divan::{black_box, Bencher};
use xdrgen::rt;

mod spec {
    xdrgen::xdr_include!("benches/codec.x");
}

fn main() {
    divan::main();
}

fn domains() -> spec::DomainList {
    spec::DomainList {
        domains: (0..10_000)
            .map(|i| spec::NonnullDomain {
                name: format!("guest-{i:05}").into(),
                uuid: spec::UuidT([i as u8; 16]),
                id: i,
            })
            .collect(),
    }
}

#[divan::bench]
fn encode_10k_domains(b: Bencher<'_, '_>) {
    let list = domains();
    b.bench(|| rt::to_bytes(black_box(&list)).unwrap());
}

#[divan::bench]
fn decode_10k_domains(b: Bencher<'_, '_>) {
    let bytes = rt::to_bytes(&domains()).unwrap();
    b.counter(divan::counter::BytesCount::new(bytes.len()))
        .bench(|| rt::from_bytes::<spec::DomainList>(black_box(&bytes)).unwrap());
}

#[divan::bench]
fn decode_10k_domains_naive_reflection(b: Bencher<'_, '_>) {
    let bytes = rt::to_bytes(&domains()).unwrap();
    let schema = naive::Schema::Array(Box::new(naive::Schema::Struct(vec![
        naive::Schema::String,
        naive::Schema::FixedOpaque(16),
        naive::Schema::Int,
    ])));
    b.counter(divan::counter::BytesCount::new(bytes.len()))
        .bench(|| naive::decode(&schema, &mut naive::Cursor::new(black_box(&bytes))).unwrap());
}

/// The same records as plain Rust types with serde derives, for `serde-xdr`.
#[derive(serde::Serialize, serde::Deserialize)]
struct SerdeDomain {
    name: String,
    uuid: [u8; 16],
    id: i32,
}

#[divan::bench]
fn decode_10k_domains_serde_xdr(b: Bencher<'_, '_>) {
    let list: Vec<SerdeDomain> = domains()
        .domains
        .into_iter()
        .map(|d| SerdeDomain {
            name: d.name.0,
            uuid: d.uuid.0,
            id: d.id,
        })
        .collect();
    let mut bytes = Vec::new();
    serde_xdr::to_writer(&mut bytes, &list).unwrap();
    b.counter(divan::counter::BytesCount::new(bytes.len()))
        .bench(|| {
            serde_xdr::from_reader::<_, Vec<SerdeDomain>>(&mut black_box(&bytes[..])).unwrap()
        });
}

fn blob() -> spec::Blob {
    spec::Blob {
        data: (0..1 << 20).map(|i| i as u8).collect(),
    }
}

#[divan::bench]
fn encode_1mib_opaque(b: Bencher<'_, '_>) {
    let blob = blob();
    b.counter(divan::counter::BytesCount::new(blob.data.len()))
        .bench(|| rt::to_bytes(black_box(&blob)).unwrap());
}

#[divan::bench]
fn decode_1mib_opaque(b: Bencher<'_, '_>) {
    let bytes = rt::to_bytes(&blob()).unwrap();
    b.counter(divan::counter::BytesCount::new(bytes.len()))
        .bench(|| rt::from_bytes::<spec::Blob>(black_box(&bytes)).unwrap());
}

/// The floor for the opaque benchmarks: copying the bytes into a new vector.
#[divan::bench]
fn memcpy_1mib(b: Bencher<'_, '_>) {
    let data = blob().data;
    b.counter(divan::counter::BytesCount::new(data.len()))
        .bench(|| black_box(&data).to_vec());
}

fn params() -> spec::TypedParams {
    use spec::TypedParamValue as V;
    spec::TypedParams {
        params: (0..64)
            .map(|i| spec::TypedParam {
                field: format!("param.{i}").into(),
                value: match i % 4 {
                    0 => V::I(i),
                    1 => V::Ul(u64::from(i as u32) << 32),
                    2 => V::D(f64::from(i) / 3.0),
                    _ => V::S(format!("value-{i}").into()),
                },
            })
            .collect(),
    }
}

#[divan::bench]
fn encode_typed_params(b: Bencher<'_, '_>) {
    let p = params();
    b.bench(|| rt::to_bytes(black_box(&p)).unwrap());
}

#[divan::bench]
fn decode_typed_params(b: Bencher<'_, '_>) {
    let bytes = rt::to_bytes(&params()).unwrap();
    b.bench(|| rt::from_bytes::<spec::TypedParams>(black_box(&bytes)).unwrap());
}

/// A deliberately ordinary reflection-style decoder: a schema interpreted at
/// run time into boxed dynamic values, as generic XDR libraries do.
mod naive {
    pub enum Schema {
        Int,
        String,
        FixedOpaque(usize),
        Struct(Vec<Schema>),
        Array(Box<Schema>),
    }

    /// Built but never inspected: the benchmark measures building it.
    #[allow(dead_code)]
    #[derive(Debug)]
    pub enum Value {
        Int(i32),
        String(String),
        Bytes(Vec<u8>),
        Struct(Vec<Value>),
        Array(Vec<Value>),
    }

    pub struct Cursor<'a> {
        buf: &'a [u8],
        pos: usize,
    }

    impl<'a> Cursor<'a> {
        pub fn new(buf: &'a [u8]) -> Self {
            Cursor { buf, pos: 0 }
        }

        fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
            let s = self.buf.get(self.pos..self.pos + n).ok_or("short input")?;
            self.pos += n;
            Ok(s)
        }

        fn u32(&mut self) -> Result<u32, String> {
            let b = self.take(4)?;
            Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        }
    }

    pub fn decode(schema: &Schema, c: &mut Cursor<'_>) -> Result<Value, String> {
        Ok(match schema {
            Schema::Int => Value::Int(c.u32()? as i32),
            Schema::String => {
                let n = c.u32()? as usize;
                let s = c.take(n)?;
                c.take((4 - n % 4) % 4)?;
                Value::String(String::from_utf8(s.to_vec()).map_err(|e| e.to_string())?)
            }
            Schema::FixedOpaque(n) => {
                let s = c.take(*n)?.to_vec();
                c.take((4 - n % 4) % 4)?;
                Value::Bytes(s)
            }
            Schema::Struct(fields) => Value::Struct(
                fields
                    .iter()
                    .map(|f| decode(f, c))
                    .collect::<Result<_, _>>()?,
            ),
            Schema::Array(elem) => {
                let n = c.u32()? as usize;
                let mut out = Vec::new();
                for _ in 0..n {
                    out.push(decode(elem, c)?);
                }
                Value::Array(out)
            }
        })
    }
}
