#!/bin/sh
# Makes the project's own test recording: an English sentence spoken by
# espeak-ng, as 16 kHz mono s16le raw PCM and as FLAC of the same samples.
# Usage: scripts/make-recording.sh [OUTDIR]   (default: testdata/ of the repo)
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$here/testdata}
text="Hello. This is a test of the mimi speech streaming library, \
sending real speech from a C program."

for tool in espeak-ng sox flac; do
    command -v "$tool" >/dev/null || { echo "make-recording: $tool not found" >&2; exit 1; }
done

mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Fixed voice and speed so that reruns give the same audio.
espeak-ng -v en-us -s 240 -w "$tmp/voice.wav" "$text"

# espeak-ng speaks at 22050 Hz; resample with sox's default (high quality,
# deterministic) rate converter. No dither, so the samples are reproducible.
sox "$tmp/voice.wav" -D -r 16000 -c 1 -b 16 -e signed-integer -L \
    -t raw "$out/speech-16k-mono.raw"

# FLAC is made from the raw file, so it decodes to exactly the same samples.
flac --silent --force --best --endian=little --sign=signed --channels=1 --bps=16 \
    --sample-rate=16000 --no-seektable --no-padding -o "$out/speech-16k-mono.flac" "$out/speech-16k-mono.raw"

bytes=$(wc -c <"$out/speech-16k-mono.raw")
echo "speech-16k-mono.raw: $bytes bytes ($(awk "BEGIN{printf \"%.2f\", $bytes/32000}") s)"
echo "speech-16k-mono.flac: $(wc -c <"$out/speech-16k-mono.flac") bytes"
