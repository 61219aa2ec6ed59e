//! Embeds the source commit the harness is built from, so every run folder can record it
//! (`lottery_results::provenance`). `LOTTERY_SOURCE_COMMIT` overrides it: `./lottery` sets it,
//! because clones that share a CARGO_TARGET_DIR share this script's output (cargo hashes path
//! packages relative to the workspace), and a build from a source archive has no git. Without
//! either it is "unknown".

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).current_dir(env!("CARGO_MANIFEST_DIR")).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string()).filter(|s| !s.is_empty())
}

fn main() {
    println!("cargo:rerun-if-env-changed=LOTTERY_SOURCE_COMMIT");
    let commit = std::env::var("LOTTERY_SOURCE_COMMIT").ok().filter(|s| !s.is_empty()).or_else(|| git(&["rev-parse", "HEAD"]));
    // Rebuild when HEAD moves: HEAD itself, the branch it points to, and packed refs.
    if let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        let git_dir = PathBuf::from(git_dir);
        let branch = git(&["symbolic-ref", "-q", "HEAD"]);
        // Only files that exist: cargo reruns a build script on every build for a missing one.
        for file in [Some("HEAD".to_string()), Some("packed-refs".to_string()), branch].into_iter().flatten() {
            let path = git_dir.join(file);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    println!("cargo:rustc-env=LOTTERY_SOURCE_COMMIT={}", commit.as_deref().unwrap_or("unknown"));
}
