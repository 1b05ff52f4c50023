//! A libFLAC write failure while streaming is 502. The failure is injected with the
//! library's test hook `MIMIIO_TEST_FAIL_ENCODER=1`, which makes the encoder's write
//! callback report an error for audio frames; a file of its own, because the
//! environment is process-wide.

use mimiio::encoder::Encoder;
use mimiio::error::MimiError;
use mimiio::options::AudioSpec;

#[test]
fn a_failing_libflac_write_is_502_on_the_chunk_that_completes_a_block() {
    std::env::set_var("MIMIIO_TEST_FAIL_ENCODER", "1");
    let spec = AudioSpec::validate(6, 16000, 1).unwrap();
    let mut encoder = Encoder::new(&spec).expect("the stream header is written before the hook");

    // libFLAC collects 4096 samples (8192 bytes) per block before it writes one.
    let mut wire = Vec::new();
    assert_eq!(encoder.encode(&[0u8; 8000], &mut wire), Ok(()));
    assert_eq!(&wire[..4], b"fLaC");
    assert_eq!(encoder.encode(&[0u8; 2000], &mut wire), Err(MimiError::EncoderFailed));
}
