//! The checked-in `include/mimiio.h` must be exactly what cbindgen generates from
//! the Rust declarations. `MIMIIO_UPDATE_HEADER=1 cargo test --test header`
//! refreshes it after an intended change.

#[test]
fn checked_in_header_matches_the_generated_one() {
    let generated = include_str!(concat!(env!("OUT_DIR"), "/mimiio.h"));
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/include/mimiio.h");

    if std::env::var_os("MIMIIO_UPDATE_HEADER").is_some() {
        std::fs::write(path, generated).expect("include/mimiio.h is writable");
    }
    let checked_in = std::fs::read_to_string(path).expect("include/mimiio.h is readable");
    assert!(
        checked_in == generated,
        "include/mimiio.h differs from the header cbindgen generates; if the change is \
         intended, run `MIMIIO_UPDATE_HEADER=1 cargo test --test header` and commit it"
    );
}
