//! Benchmark of the front end (filled in below).
fn main() {}
