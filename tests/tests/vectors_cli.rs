//! The byte-exact vectors of `xdrgen/tests/common/vectors.rs`, run against
//! the generator's source output (what `xdrgen generate` writes; `build.rs`
//! writes it for every fixture), where `xdrgen/tests/generated.rs` runs
//! them against `xdr_include!`.

// Not every generated item is used by the vectors.
#![allow(dead_code)]

macro_rules! generated {
    ($($module:ident => $file:literal),* $(,)?) => {$(
        mod $module {
            include!(concat!(env!("OUT_DIR"), "/", $file));
        }
    )*};
}

generated! {
    constants => "gen_constants.rs",
    types => "gen_types.rs",
    enums_unions => "gen_enums_unions.rs",
    inline => "gen_inline.rs",
    recursive => "gen_recursive.rs",
    program => "gen_program.rs",
    rfc4506 => "gen_rfc4506_section7.rs",
    libvirt_style => "gen_libvirt_style.rs",
    multi => "gen_multi.rs",
    defines => "gen_defines.rs",
}

include!("../../xdrgen/tests/common/vectors.rs");
