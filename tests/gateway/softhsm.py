"""A throwaway SoftHSM2 token in a tmp dir (``SOFTHSM2_CONF`` names a config whose token
directory is there), and the owner's key made in it through ``onceonly gateway
token-keygen``. Everything that loads the PKCS#11 library runs in a child process: SoftHSM2
reads its config once per process, and each test has its own."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

LIBRARIES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
)
TOKEN_LABEL = "onceonly-gw"
KEY_LABEL = "central.fia-signing"
PIN = "246810"


def softhsm_library() -> Path:
    """SoftHSM2's library; a missing one skips, unless ``./run-tests`` runs (it sets
    ``ONCEONLY_CHROMIUM`` and installs ``softhsm2``): then it fails, so a CI without SoftHSM2
    cannot pass with the token tests silently skipped."""
    found = next((Path(p) for p in LIBRARIES if Path(p).exists()), None)
    if found is not None and shutil.which("softhsm2-util"):
        return found
    message = "no SoftHSM2 (apt-get install softhsm2; ./run-tests installs it)"
    if "ONCEONLY_CHROMIUM" in os.environ:
        pytest.fail(message + ": ./run-tests is running, so the PKCS#11 tests must run")
    pytest.skip(message)


class SoftToken:
    def __init__(self, root: Path) -> None:
        self.module = softhsm_library()
        self.root = root
        (root / "tokens").mkdir(parents=True)
        self.conf = root / "softhsm2.conf"
        self.conf.write_text(
            f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\n"
            "log.level = ERROR\nslots.removable = false\n",
            "utf-8",
        )
        self.pin_file = root / "pin"
        self.pin_file.write_text(PIN + "\n", "utf-8")
        self.pin_file.chmod(0o600)
        init = ["softhsm2-util", "--init-token", "--free", "--label", TOKEN_LABEL]
        init += ["--so-pin", "13579", "--pin", PIN]
        made = subprocess.run(init, env=self.env(), capture_output=True, text=True, check=False)
        assert made.returncode == 0, made.stderr
        self.public_jwk = self.keygen(KEY_LABEL)

    def env(self) -> dict[str, str]:
        return {**os.environ, "SOFTHSM2_CONF": str(self.conf)}

    def keygen(self, label: str) -> dict[str, Any]:
        """``onceonly gateway token-keygen``, the PIN from the environment."""
        made = self.cli(
            "token-keygen", "--pkcs11-module", str(self.module), "--token-label", TOKEN_LABEL,
            "--key-label", label, pin_env=True,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        return dict(json.loads(made.stdout))

    def cli(self, *args: str, pin_env: bool = False) -> subprocess.CompletedProcess[str]:
        env = self.env() | ({"ONCEONLY_PKCS11_PIN": PIN} if pin_env else {})
        command = [sys.executable, "-m", "onceonly.cli", "gateway", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, check=False)

    def serve_options(self) -> list[str]:
        return [
            "--pkcs11-module", str(self.module), "--token-label", TOKEN_LABEL,
            "--key-label", KEY_LABEL, "--pin-file", str(self.pin_file),
        ]  # fmt: skip

    def private_attributes(self) -> dict[str, Any]:
        """What the token says of the private key: its class, and whether it may leave."""
        probe = [sys.executable, str(Path(__file__).with_name("token_probe.py"))]
        probe += [str(self.module), TOKEN_LABEL, PIN]
        ran = subprocess.run(probe, env=self.env(), capture_output=True, text=True, check=False)
        assert ran.returncode == 0, ran.stderr
        return dict(json.loads(ran.stdout))
