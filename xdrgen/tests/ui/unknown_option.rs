xdrgen::xdr_include!("tests/fixtures/ok/constants.x", frobnicate = "yes");

fn main() {}
