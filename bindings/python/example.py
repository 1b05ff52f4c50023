#!/usr/bin/env python3
"""Streams a recording to a mimi server through libmimiio and prints each result.

    python3 example.py --port 8101                      # the project's recording
    python3 example.py --port 8101 --input speech.raw --format FLAC_5 --realtime

The input is raw 16-bit little-endian PCM (mono, 16 kHz unless --rate and
--channels say otherwise), sent 0.1 s per call; the library encodes it as the
chosen format. Each server message is printed on its own line; the exit status
is 0 after a normal end and 1 with the library's error text otherwise.
"""

import argparse
import pathlib
import sys
import time

import mimiio

RECORDING = pathlib.Path(__file__).resolve().parents[2] / "testdata" / "speech-16k-mono.raw"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8101)
    parser.add_argument("--input", type=pathlib.Path, default=RECORDING)
    parser.add_argument("--rate", type=int, default=16000)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument(
        "--format", default="FLAC_0", choices=[f.name for f in mimiio.AudioFormat]
    )
    parser.add_argument("--token", help="access token; connects with TLS (wss://)")
    parser.add_argument("--language", default="ja", help="x-mimi-input-language header")
    parser.add_argument("--realtime", action="store_true", help="send at the audio's own pace")
    args = parser.parse_args()

    audio = args.input.read_bytes()
    chunk = max(args.rate // 10, 1) * 2 * args.channels
    send = mimiio.chunked(audio, min(chunk, mimiio.TX_BUFFER_SIZE))

    def tx(max_len):
        # Called on the library's sending thread.
        if args.realtime:
            time.sleep(0.1)
        return send(max_len)

    def rx(message):
        # Called on the library's receiving thread, once per server message.
        print(message.decode("utf-8", "replace"), flush=True)

    headers = {"x-mimi-process": "asr", "x-mimi-input-language": args.language}
    try:
        with mimiio.Session(
            args.host,
            args.port,
            tx,
            rx,
            format=mimiio.AudioFormat[args.format],
            rate=args.rate,
            channels=args.channels,
            headers=headers,
            token=args.token,
        ) as session:
            session.start()
            session.wait()
    except mimiio.MimiError as exc:
        print(f"error: {exc.strerror} ({exc.errno})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
