xdrgen::xdr_include!(strip_prefix = "x");

fn main() {}
