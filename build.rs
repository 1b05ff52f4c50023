//! Build script: gives the shared library its SONAME and generates the C header
//! from the Rust declarations in `src/capi/` with the pinned cbindgen.
//!
//! The header is written to `$OUT_DIR/mimiio.h`; the checked-in copy in `include/`
//! is compared with it by `tests/header.rs` (run with `MIMIIO_UPDATE_HEADER=1` to
//! refresh the checked-in copy).

use std::env;
use std::path::PathBuf;

fn main() {
    let major = env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets the version");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libmimiio.so.{major}");

    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets it"));
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=src/capi");

    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("cbindgen.toml is readable");
    cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen can generate the header")
        .write_to_file(out_dir.join("mimiio.h"));
}
