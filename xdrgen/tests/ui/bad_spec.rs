// trybuild compiles this from target/tests/trybuild/xdrgen, the directory
// the macro resolves paths against; the spec is reached from there.
xdrgen::xdr_include!("../../../../xdrgen/tests/ui/bad_spec.x");

fn main() {}
