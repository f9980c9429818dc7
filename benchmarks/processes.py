"""The processes a benchmark starts (``omnigraph serve``, ``omnigraph demo``): waiting until one
answers, and stopping it."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx

__all__ = ["stop", "wait_until_up"]


def wait_until_up(
    url: str, process: subprocess.Popen[bytes], seconds: float, log: Path | None = None
) -> None:
    """Until ``url`` answers a GET with less than 500; a ``SystemExit`` if ``process`` exits or
    ``seconds`` pass first, with the end of its ``log`` when it writes one."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{url} exited with {process.returncode}" + _tail(log))
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {seconds:.0f} s" + _tail(log))


def _tail(log: Path | None) -> str:
    if log is None or not log.exists():
        return ""
    return f"; see {log}:\n" + "\n".join(log.read_text(errors="replace").splitlines()[-20:])


def stop(process: subprocess.Popen[bytes], seconds: float = 10) -> None:
    """Ask ``process`` to end; kill it if it has not within ``seconds``."""
    process.terminate()
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
