"""``onceonly demo`` as a long-running process: stopped the way a service manager stops it
(SIGTERM), it takes its tell-us-once receiver processes down with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.demo.conftest import quiet_demo_port

pytestmark = pytest.mark.slow


def _stat(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name: state, parent pid, ..."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return ["X", "0"]


def _children(pid: int) -> set[int]:
    procs = (int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit())
    return {child for child in procs if _stat(child)[1] == str(pid)}


def _alive(pid: int) -> bool:
    return _stat(pid)[0] not in ("X", "Z")


def test_sigterm_stops_the_demo_and_its_receivers(tmp_path: Path) -> None:
    port = quiet_demo_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONCEONLY_")}
    args = ["demo", "--people", "200", "--port", str(port), "--data-dir", str(tmp_path / "data")]
    demo = subprocess.Popen(
        [sys.executable, "-m", "onceonly.cli", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            assert demo.poll() is None, demo.stderr.read().decode() if demo.stderr else ""
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        receivers = _children(demo.pid)
        assert len(receivers) >= 3, "the demo runs a receiver per subscribed agency"
        demo.send_signal(signal.SIGTERM)
        demo.wait(30)
        time.sleep(0.5)
        assert not [pid for pid in receivers if _alive(pid)], "receivers outlived the demo"
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait(10)
