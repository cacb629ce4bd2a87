"""Helpers for Ember's integration tests: start the real binaries on free loopback ports, talk to them
over HTTP/1.1 (requests) and HTTP/2 (curl), stop them by PID.

Every server started here is stopped when the test ends, and every wait is bounded.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.parse

import requests

EMBER_BIN = os.environ.get("EMBER_BIN", "build/test/tools/ember")
EMBERTOOL_BIN = os.environ.get("EMBERTOOL_BIN", "build/test/tools/embertool")
SHARED_DIR = os.environ.get("EMBER_SHARED_DIR", "")
SOURCE_DIR = os.environ.get("EMBER_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "../../..")))


# A configuration without scrape jobs: without one, ember scrapes itself, and tests that count or match
# every series it holds would see its own metrics too.
NO_SCRAPE = "global:\n  scrape_interval: 15s\n"


def metric(text, name):
    """The value of a metric in an exposition page, summed over its label sets; None when absent."""
    vals = re.findall(r"^" + re.escape(name) + r"(?:\{[^}]*\})? (\S+)$", text, re.M)
    return sum(float(v) for v in vals) if vals else None


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout=30.0, interval=0.05, what="condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - retried until the deadline
            last = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last error: {last})")


class Process:
    """A server process with its own log file; stop() sends a signal and waits (bounded)."""

    def __init__(self, argv, log_path, env=None):
        self.argv = argv
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def alive(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                raise AssertionError(f"{self.argv[0]} did not stop within {timeout}s after signal {sig}")
        self.log.close()
        return self.proc.returncode

    def output(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


class Ember(Process):
    """An ember server on a free loopback port with a temporary data directory."""

    def __init__(self, workdir, config=None, args=(), data_dir=None, port=None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir or os.path.join(workdir, "data")
        argv = [EMBER_BIN, f"--web.listen-address=127.0.0.1:{self.port}", f"--storage.tsdb.path={self.data_dir}"]
        if config is not None:
            cfg_path = os.path.join(workdir, "ember.yml")
            with open(cfg_path, "w") as f:
                f.write(config)
            self.config_path = cfg_path
            argv.append(f"--config.file={cfg_path}")
        argv += list(args)
        super().__init__(argv, os.path.join(workdir, f"ember-{self.port}.log"))

    def wait_ready(self, timeout=60):
        def ready():
            if not self.alive():
                raise AssertionError("ember exited early:\n" + self.output())
            return requests.get(self.url + "/-/ready", timeout=2).status_code == 200
        wait_for(ready, timeout, what="ember /-/ready")
        return self

    def get(self, path, **kw):
        return requests.get(self.url + path, timeout=kw.pop("timeout", 30), **kw)

    def post(self, path, **kw):
        return requests.post(self.url + path, timeout=kw.pop("timeout", 30), **kw)

    def api(self, path, method="GET", **params):
        r = (self.get(path, params=params) if method == "GET" else self.post(path, data=params))
        return r.status_code, r.json()


def curl_h2(url, *extra):
    """GET over HTTP/2 with prior knowledge; returns (http_version, status, body)."""
    out = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-o", "-", "-w", "\n%{http_version} %{http_code}",
                          *extra, url], capture_output=True, timeout=30)
    text = out.stdout.decode("utf-8", "replace")
    body, _, tail = text.rpartition("\n")
    ver, code = tail.split()
    return ver, int(code), body


class TempDirTestCase(unittest.TestCase):
    """A test case with a temporary directory and a list of processes stopped at tear-down."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ember-it-")
        self.procs = []

    def tearDown(self):
        failed = False
        for p in self.procs:
            if p.alive():
                try:
                    p.stop(signal.SIGKILL, timeout=10)
                except AssertionError:
                    failed = True
        if not failed and not os.environ.get("EMBER_KEEP_TMP"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def start_ember(self, **kw):
        e = Ember(self.tmp, **kw)
        self.procs.append(e)
        return e


def run():
    unittest.main(verbosity=2)
