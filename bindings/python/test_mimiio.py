"""Tests of the ctypes bindings against a local mimi-server (stdlib only).

Environment: MIMI_SERVER (the mimi-server binary, required), MIMIIO_LIBRARY
(the libmimiio.so.3 to test; otherwise found as mimiio.py documents).

    MIMI_SERVER=target/release/mimi-server MIMIIO_LIBRARY=build/lib/libmimiio.so.3 \\
        python3 -m unittest -v test_mimiio        # in bindings/python
"""

import json
import os
import pathlib
import re
import select
import socket
import subprocess
import sys
import threading
import unittest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import mimiio  # noqa: E402 - after the path is set

ROOT = HERE.parents[1]
RECORDING = ROOT / "testdata" / "speech-16k-mono.raw"
ONE_SECOND = 32000  # bytes of 16 kHz mono s16le


def cargo_version():
    """The version of Cargo.toml's [package] table."""
    table = None
    for line in (ROOT / "Cargo.toml").read_text().splitlines():
        header = re.match(r"\s*\[([^\]]*)\]", line)
        if header:
            table = header.group(1)
            continue
        value = re.match(r'\s*version\s*=\s*"([^"]*)"', line)
        if table == "package" and value:
            return value.group(1)
    raise AssertionError("no version in Cargo.toml")


class Server:
    """mimi-server on a free loopback port, for one test."""

    def __init__(self, *extra):
        binary = os.environ.get("MIMI_SERVER")
        if not binary:
            raise unittest.SkipTest("MIMI_SERVER is not set")
        self.process = subprocess.Popen(
            [binary, "--host", "127.0.0.1", "--port", "0", *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        ready, _, _ = select.select([self.process.stdout], [], [], 15)
        line = self.process.stdout.readline().decode() if ready else ""
        match = re.fullmatch(r"listening on 127\.0\.0\.1:(\d+)\n", line)
        if not match:
            self.stop()
            raise AssertionError(f"mimi-server did not start: {line!r}")
        self.port = int(match.group(1))

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)
        self.process.stdout.close()


class Collector:
    """An rx callback that keeps every message and the threads it ran on."""

    def __init__(self):
        self.messages = []
        self.threads = set()

    def __call__(self, message):
        self.threads.add(threading.get_ident())
        self.messages.append(json.loads(message))

    def finished(self):
        return [m for m in self.messages if m.get("status") == "recog-finished"]


class ServerTest(unittest.TestCase):
    server_args = ()

    def setUp(self):
        self.server = Server(*self.server_args)
        self.addCleanup(self.server.stop)
        self.audio = RECORDING.read_bytes()

    def open(self, tx, rx, **options):
        options.setdefault("headers", {"x-mimi-process": "asr"})
        session = mimiio.Session("127.0.0.1", self.server.port, tx, rx, **options)
        self.addCleanup(session.close)
        return session


class LibraryTest(unittest.TestCase):
    def test_version_is_cargo_version(self):
        self.assertEqual(mimiio.version(), cargo_version())

    def test_strerror_gives_the_library_texts(self):
        self.assertEqual(mimiio.strerror(-7), "user defined error.")
        self.assertTrue(mimiio.strerror(704))
        self.assertNotEqual(mimiio.strerror(704), mimiio.strerror(705))
        error = mimiio.MimiError(806)
        self.assertEqual(error.errno, 806)
        self.assertEqual(error.strerror, mimiio.strerror(806))
        self.assertIn("(806)", str(error))

    def test_port_0_is_704(self):
        with self.assertRaises(mimiio.MimiError) as caught:
            mimiio.Session("127.0.0.1", 0, mimiio.chunked(b"\0\0", 2), print)
        self.assertEqual(caught.exception.errno, 704)
        self.assertEqual(caught.exception.strerror, mimiio.strerror(704))

    def test_nothing_listening_is_704(self):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        with self.assertRaises(mimiio.MimiError) as caught:
            mimiio.Session("127.0.0.1", port, mimiio.chunked(b"\0\0", 2), print)
        self.assertEqual(caught.exception.errno, 704)

    def test_library_found_without_MIMIIO_LIBRARY(self):
        library = os.environ.get("MIMIIO_LIBRARY")
        if not library:
            self.skipTest("MIMIIO_LIBRARY is not set")
        env = {k: v for k, v in os.environ.items() if k != "MIMIIO_LIBRARY"}
        env["LD_LIBRARY_PATH"] = str(pathlib.Path(library).parent)
        code = (
            "import mimiio, sys\n"
            "maps = open('/proc/self/maps').read().split()\n"
            "print(mimiio.version(), [p for p in maps if 'libmimiio' in p][0])\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=HERE, env=env, capture_output=True, text=True,
            check=True, timeout=60,
        ).stdout.split()
        self.assertEqual(out[0], cargo_version())
        self.assertEqual(out[1], os.path.realpath(library))


class SessionTest(ServerTest):
    def test_recording_streams_and_recog_finished_arrives(self):
        results = Collector()
        session = self.open(mimiio.chunked(self.audio, 3200), results, format=mimiio.AudioFormat.FLAC_5)
        self.assertEqual(session.state, mimiio.StreamState.WAIT)
        self.assertFalse(session.active)

        session.start()
        session.wait(timeout=20)

        self.assertEqual(session.error, 0)
        self.assertEqual(session.state, mimiio.StreamState.CLOSED)
        finished = results.finished()
        self.assertEqual(len(finished), 1)
        self.assertEqual(finished[0]["audio"]["samples"], len(self.audio) // 2)
        self.assertGreaterEqual(len(results.messages), 2)  # progress, then finished
        self.assertNotIn(threading.get_ident(), results.threads)

    def test_raw_pcm_bytes_arrive_unchanged(self):
        results = Collector()
        with self.open(mimiio.chunked(self.audio[:ONE_SECOND], 4000), results,
                       format=mimiio.AudioFormat.RAW_PCM) as session:
            session.start()
            session.wait(timeout=20)
        audio = results.finished()[0]["audio"]
        self.assertEqual(audio["format"], "pcm")
        self.assertEqual(audio["bytes_received"], ONE_SECOND)

    def test_context_manager_closes_the_session(self):
        with self.open(mimiio.chunked(self.audio[:3200], 3200), Collector()) as session:
            session.start()
        with self.assertRaises(ValueError):
            session.start()
        session.close()  # again: nothing happens

    def test_callback_error_number_ends_the_session(self):
        def tx(_max_len):
            raise mimiio.CallbackError(-42)

        session = self.open(tx, Collector())
        session.start()
        with self.assertRaises(mimiio.MimiError) as caught:
            session.wait(timeout=20)
        self.assertEqual(caught.exception.errno, -42)
        self.assertEqual(caught.exception.strerror, "user defined error.")

    def test_exception_in_rx_is_user_error_and_chained(self):
        def rx(_message):
            raise KeyError("no such field")

        session = self.open(mimiio.chunked(self.audio, 3200), rx)
        session.start()
        with self.assertRaises(mimiio.MimiError) as caught:
            session.wait(timeout=20)
        self.assertEqual(caught.exception.errno, mimiio.USER_ERROR)
        self.assertIsInstance(caught.exception.__cause__, KeyError)
        self.assertIsInstance(session.callback_exception, KeyError)

    def test_chunk_over_262144_bytes_is_903(self):
        session = self.open(lambda _max: (b"\0" * (mimiio.TX_BUFFER_SIZE + 2), True), Collector())
        session.start()
        with self.assertRaises(mimiio.MimiError) as caught:
            session.wait(timeout=20)
        self.assertEqual(caught.exception.errno, 903)

    def test_no_tx_callback_is_901_at_start(self):
        session = self.open(None, Collector())
        with self.assertRaises(mimiio.MimiError) as caught:
            session.start()
        self.assertEqual(caught.exception.errno, 901)

    def test_invalid_headers_are_801(self):
        for headers in ({"bad key": "x"}, {"x-long": "v" * 2000}, {"x-crlf": "a\r\nb"}):
            with self.subTest(headers=list(headers)):
                with self.assertRaises(mimiio.MimiError) as caught:
                    self.open(mimiio.chunked(b"\0\0", 2), Collector(), headers=headers)
                self.assertEqual(caught.exception.errno, 801)

    def test_close_inside_rx_returns(self):
        closed = threading.Event()
        holder = {}

        def rx(_message):
            holder["session"].close()
            closed.set()

        holder["session"] = self.open(mimiio.chunked(self.audio, 3200), rx)
        holder["session"].start()
        self.assertTrue(closed.wait(timeout=20))

    def test_example_prints_every_result(self):
        run = subprocess.run(
            [sys.executable, str(HERE / "example.py"), "--port", str(self.server.port),
             "--format", "FLAC_8"],
            capture_output=True, text=True, timeout=60,
        )
        self.assertEqual(run.returncode, 0, run.stderr)
        lines = [json.loads(line) for line in run.stdout.splitlines()]
        self.assertEqual(lines[-1]["status"], "recog-finished")
        self.assertEqual(lines[-1]["audio"]["samples"], len(self.audio) // 2)


class ServerFaultTest(ServerTest):
    server_args = ("--fault", "close-4001")

    def test_server_close_4001_is_passed_through(self):
        session = self.open(mimiio.chunked(self.audio, 3200), Collector())
        session.start()
        with self.assertRaises(mimiio.MimiError) as caught:
            session.wait(timeout=20)
        self.assertEqual(caught.exception.errno, 4001)
        self.assertEqual(caught.exception.strerror, mimiio.strerror(4001))
        self.assertEqual(session.error, 4001)


class ExampleErrorTest(unittest.TestCase):
    def test_example_reports_the_error_number(self):
        run = subprocess.run(
            [sys.executable, str(HERE / "example.py"), "--port", "0"],
            capture_output=True, text=True, timeout=60,
        )
        self.assertEqual(run.returncode, 1)
        self.assertIn("(704)", run.stderr)


if __name__ == "__main__":
    unittest.main()
