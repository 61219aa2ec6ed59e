//! ale-sys builds ALE as a static C++ library (zlib included, from ALE's own copy) but does not
//! link the C++ runtime; with the `ale` feature this crate links it.

fn main() {
    if std::env::var_os("CARGO_FEATURE_ALE").is_some() {
        println!("cargo:rustc-link-lib=dylib=stdc++");
    }
}
