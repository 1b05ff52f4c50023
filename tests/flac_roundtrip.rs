//! The FLAC encoder's output, decoded by libFLAC, gives back the PCM bit for bit,
//! however the PCM was split into chunks.

use std::ffi::c_void;

use libflac_sys as flac;
use mimiio::encoder::Encoder;
use mimiio::options::AudioSpec;

struct Decoding {
    input: Vec<u8>,
    offset: usize,
    pcm: Vec<u8>,
    channels: u32,
    bits: u32,
    rate: u32,
}

unsafe extern "C" fn read(
    _: *const flac::FLAC__StreamDecoder,
    buffer: *mut flac::FLAC__byte,
    bytes: *mut usize,
    data: *mut c_void,
) -> flac::FLAC__StreamDecoderReadStatus {
    let d = unsafe { &mut *(data as *mut Decoding) };
    let n = unsafe { *bytes }.min(d.input.len() - d.offset);
    if n == 0 {
        unsafe { *bytes = 0 };
        return flac::FLAC__STREAM_DECODER_READ_STATUS_END_OF_STREAM;
    }
    unsafe { std::ptr::copy_nonoverlapping(d.input[d.offset..].as_ptr(), buffer, n) };
    d.offset += n;
    unsafe { *bytes = n };
    flac::FLAC__STREAM_DECODER_READ_STATUS_CONTINUE
}

unsafe extern "C" fn write(
    _: *const flac::FLAC__StreamDecoder,
    frame: *const flac::FLAC__Frame,
    channels: *const *const flac::FLAC__int32,
    data: *mut c_void,
) -> flac::FLAC__StreamDecoderWriteStatus {
    let d = unsafe { &mut *(data as *mut Decoding) };
    let header = unsafe { &(*frame).header };
    let planes = unsafe { std::slice::from_raw_parts(channels, header.channels as usize) };
    for i in 0..header.blocksize as usize {
        for plane in planes {
            let sample = unsafe { *plane.add(i) } as i16;
            d.pcm.extend_from_slice(&sample.to_le_bytes());
        }
    }
    flac::FLAC__STREAM_DECODER_WRITE_STATUS_CONTINUE
}

unsafe extern "C" fn metadata(
    _: *const flac::FLAC__StreamDecoder,
    block: *const flac::FLAC__StreamMetadata,
    data: *mut c_void,
) {
    let d = unsafe { &mut *(data as *mut Decoding) };
    if unsafe { (*block).type_ } == flac::FLAC__METADATA_TYPE_STREAMINFO {
        let info = unsafe { (*block).data.stream_info };
        (d.channels, d.bits, d.rate) = (info.channels, info.bits_per_sample, info.sample_rate);
    }
}

unsafe extern "C" fn error(
    _: *const flac::FLAC__StreamDecoder,
    status: flac::FLAC__StreamDecoderErrorStatus,
    _: *mut c_void,
) {
    panic!("libFLAC decoder error {status}");
}

fn decode(input: Vec<u8>) -> Decoding {
    let mut d = Decoding { input, offset: 0, pcm: Vec::new(), channels: 0, bits: 0, rate: 0 };
    unsafe {
        let decoder = flac::FLAC__stream_decoder_new();
        let status = flac::FLAC__stream_decoder_init_stream(
            decoder,
            Some(read),
            None,
            None,
            None,
            None,
            Some(write),
            Some(metadata),
            Some(error),
            &mut d as *mut Decoding as *mut c_void,
        );
        assert_eq!(status, flac::FLAC__STREAM_DECODER_INIT_STATUS_OK);
        assert_ne!(flac::FLAC__stream_decoder_process_until_end_of_stream(decoder), 0);
        flac::FLAC__stream_decoder_delete(decoder);
    }
    d
}

/// A deterministic two-tone signal with some noise, as s16le interleaved.
fn pcm(frames: usize, channels: usize) -> Vec<u8> {
    let mut seed = 12345u32;
    let mut out = Vec::with_capacity(frames * channels * 2);
    for i in 0..frames {
        for c in 0..channels {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let t = i as f64 / 16000.0;
            let tone = (t * 440.0 * (c + 1) as f64 * std::f64::consts::TAU).sin() * 8000.0;
            let noise = ((seed >> 16) % 200) as f64 - 100.0;
            out.extend_from_slice(&((tone + noise) as i16).to_le_bytes());
        }
    }
    out
}

fn encode_in_chunks(format: i32, channels: i32, input: &[u8], chunk: usize) -> Vec<u8> {
    let spec = AudioSpec::validate(format, 16000, channels).unwrap();
    let mut encoder = Encoder::new(&spec).unwrap();
    let mut wire = Vec::new();
    for piece in input.chunks(chunk) {
        encoder.encode(piece, &mut wire).unwrap();
    }
    encoder.finish(&mut wire).unwrap();
    wire
}

#[test]
fn every_flac_level_decodes_to_the_exact_pcm() {
    let input = pcm(16000 * 2 + 123, 1);
    for format in 1..=9 {
        let wire = encode_in_chunks(format, 1, &input, 3200);
        assert_eq!(&wire[..4], b"fLaC", "level {}", format - 1);
        let decoded = decode(wire);
        assert_eq!((decoded.channels, decoded.bits, decoded.rate), (1, 16, 16000));
        assert!(decoded.pcm == input, "level {} does not round-trip", format - 1);
    }
}

#[test]
fn samples_split_across_chunks_are_joined_and_a_trailing_partial_one_dropped() {
    let input = pcm(8000, 2);
    // 4-byte stereo frames cut into 1001-byte pieces, plus 3 stray bytes at the end.
    let mut odd = input.clone();
    odd.extend_from_slice(&[1, 2, 3]);
    let decoded = decode(encode_in_chunks(6, 2, &odd, 1001));
    assert_eq!(decoded.channels, 2);
    assert!(decoded.pcm == input);
}

#[test]
fn raw_pcm_and_pass_through_are_sent_as_they_are() {
    let input = pcm(1000, 1);
    assert_eq!(encode_in_chunks(0, 1, &input, 333), input);
    assert_eq!(encode_in_chunks(10, 1, b"fLaC-bytes", 3), b"fLaC-bytes");
}
