//! `xdr_include!` reports problems as compile errors at the macro call,
//! pinned by trybuild's `.stderr` files in `tests/ui/`.

#[test]
fn macro_errors_are_compile_errors_with_located_diagnostics() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
