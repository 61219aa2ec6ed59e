//! Links libtorch like every crate that does (`scripts/link_libtorch.rs`), and compiles the
//! engine's C++ bridge to what tch does not bind (libtorch's fused Adam kernel,
//! `src/fused_adam.cpp`; its CPU thread pool and vector capability, `src/cpu_parallel.cpp`)
//! against the headers of the same libtorch.

#[path = "../../scripts/link_libtorch.rs"]
mod link_libtorch;

fn main() {
    link_libtorch::main();
    let lib = std::path::PathBuf::from(std::env::var("DEP_TCH_LIBTORCH_LIB").expect("torch-sys sets DEP_TCH_LIBTORCH_LIB"));
    let include = lib.parent().expect("libtorch's lib folder has a parent").join("include");
    println!("cargo:rerun-if-changed=src/fused_adam.cpp");
    println!("cargo:rerun-if-changed=src/cpu_parallel.cpp");
    cc::Build::new()
        .cpp(true)
        .file("src/fused_adam.cpp")
        .file("src/cpu_parallel.cpp")
        .include(&include)
        .flag("-std=c++17")
        // The PyPI wheels are built with the C++11 string ABI, as torch-sys assumes.
        .flag("-D_GLIBCXX_USE_CXX11_ABI=1")
        .flag("-DGLOG_USE_GLOG_EXPORT")
        .warnings(false)
        .compile("lottery_fused_adam");
}
