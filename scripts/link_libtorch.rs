//! Build script shared by every crate that links libtorch (`build = "../scripts/link_libtorch.rs"`).
//!
//! It embeds an rpath to the libtorch that torch-sys linked against, so `harness` and the test
//! binaries start without LD_LIBRARY_PATH, and on a CUDA libtorch it keeps libtorch_cuda linked.
use std::path::Path;

pub fn main() {
    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB")
        .expect("torch-sys sets DEP_TCH_LIBTORCH_LIB for crates that depend on it directly");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    // Nothing calls into libtorch_cuda directly: it registers the CUDA backend when loaded. Under
    // --as-needed the linker would drop it and tch would report that CUDA is unavailable.
    if Path::new(&lib).join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,-ltorch,--as-needed");
    }
}
