//! `include_dir!` (the embedded `recipes/`) cannot tell cargo which files it read on stable Rust,
//! so a recipe added or edited would not rebuild the binary: watch the directory here.
fn main() {
    println!("cargo:rerun-if-changed=recipes");
    println!("cargo:rerun-if-changed=build.rs");
}
