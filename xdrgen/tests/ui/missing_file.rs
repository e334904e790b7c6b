xdrgen::xdr_include!("no_such_file.x");

fn main() {}
