"""localstripe (PyPI, GPL-3.0) as a separate process: never imported, never copied. Found through
SETTLE_LOCALSTRIPE (the path of its `localstripe` command, which .ci/run installs into a venv of its
own) or on PATH. Tests using it skip when it is absent, and fail in CI (SETTLE_REQUIRE_LOCALSTRIPE=1).

It stands in for Stripe where it is faithful (../shared/STRIPE-NOTES.md): customers and their
metadata, card payment methods, a customer's default payment method, and Stripe-signed webhooks."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import pytest

REQUIRED = os.environ.get("SETTLE_REQUIRE_LOCALSTRIPE") == "1"


def command() -> str | None:
    return os.environ.get("SETTLE_LOCALSTRIPE") or shutil.which("localstripe")


@contextmanager
def running() -> Iterator[str]:
    exe = command()
    if exe is None:
        if REQUIRED:
            pytest.fail("localstripe is required here (SETTLE_REQUIRE_LOCALSTRIPE=1) but SETTLE_LOCALSTRIPE is not set")
        pytest.skip("localstripe is not installed (pip install localstripe in a venv of its own; SETTLE_LOCALSTRIPE)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="localstripe-")
    # its own working directory, and --from-scratch: it never reads another instance's saved state
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--from-scratch"],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                pytest.fail(f"localstripe exited {proc.returncode}")
            with suppress(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            assert time.monotonic() < deadline, "localstripe never started"
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def reset(url: str) -> None:
    """DELETE /_config/data: an empty account for the next test."""
    urllib.request.urlopen(urllib.request.Request(url + "/_config/data", method="DELETE"), timeout=10).close()


def send_webhooks_to(url: str, target: str, secret: str) -> None:
    """localstripe's own set-up call: sign every event with `secret` and POST it to `target`."""
    body = f"url={urllib.parse.quote(target, safe='')}&secret={secret}".encode()
    req = urllib.request.Request(url + "/_config/webhooks/settle", data=body, method="POST")
    urllib.request.urlopen(req, timeout=10).close()
