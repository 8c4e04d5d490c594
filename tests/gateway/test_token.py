"""The owner's signing key in a PKCS#11 token (SoftHSM2): made inside it, never extractable,
never a file; the gateway signs through the token and the clerk's transcript verifies against
the platform's JWKS."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pkcs11
import pytest

from onceonly.connectors import SUFFIX
from onceonly.exchange import keys
from onceonly.exchange.transcript import verify_transcript
from onceonly.gateway.token import unusable
from tests.conftest import DemoEnv
from tests.exchange.support import Counter
from tests.gateway.softhsm import KEY_LABEL, PIN, TOKEN_LABEL, SoftToken
from tests.gateway.test_gateway import OWNER, Setup, _ask
from tests.pdf_support import assert_reader_valid, pdfsig, validated


@pytest.fixture
def token(tmp_path: Path) -> SoftToken:
    return SoftToken(tmp_path / "hsm")


@pytest.fixture
def setup(demo_env: DemoEnv, tmp_path: Path, token: SoftToken) -> Iterator[Setup]:
    result = Setup(demo_env, tmp_path / "gw-test", token=token)
    try:
        yield result
    finally:
        result.stop()


def test_the_key_is_made_in_the_token_and_cannot_leave_it(token: SoftToken) -> None:
    held = token.private_attributes()
    assert sorted(held["keys"], key=lambda k: k["label"]) == [
        {
            "label": label,
            "extractable": False,
            "sensitive": True,
            "never_extractable": True,
            "local": True,
        }
        for label in (KEY_LABEL, KEY_LABEL + ".seal")  # the signing key and its PDF seal
    ]
    assert held["value_readable"] is False
    again = token.cli(
        "token-keygen", "--pkcs11-module", str(token.module), "--token-label", TOKEN_LABEL,
        "--key-label", KEY_LABEL, pin_env=True,
    )  # fmt: skip
    assert (
        again.returncode == 2 and "already holds a key" in again.stderr and "已有" in again.stderr
    )
    wrong = token.cli(
        "token-keygen", "--pkcs11-module", str(token.module), "--token-label", TOKEN_LABEL,
        "--key-label", "other",
    )  # fmt: skip
    assert wrong.returncode == 2 and "ONCEONLY_PKCS11_PIN" in wrong.stderr


def test_the_gateway_signs_in_the_token(setup: Setup, token: SoftToken) -> None:
    setup.start()
    counter = Counter(setup.env)
    try:
        result = _ask(counter)
        assert result["status"] == "issued", result
        jwks = counter.client.get("/.well-known/jwks.json").json()
        verified = verify_transcript(result["transcripts"][0]["jws"], jwks)
        assert verified.claims.issuer == OWNER
        assert verified.header["kid"] == keys.install_kid(token.public_jwk)
        member = next(k for k in jwks["keys"] if k["kid"] == verified.header["kid"])
        assert member["x-onceonly-custody"] == "gateway" and "d" not in member
    finally:
        counter.client.close()
        exchange = getattr(counter.app.state, "exchange", None)
        if exchange is not None:
            exchange.close()
    # no private key file anywhere: not at the gateway, not on the platform
    for settings in (setup.gw, setup.env.settings):
        assert not [p for p in settings.keys_dir.rglob("*") if OWNER in str(p) and p.is_file()]
    for path in setup.gw.data_dir.rglob("*"):
        if path.is_file():
            assert b"PRIVATE KEY" not in path.read_bytes(), path


def test_a_pdf_is_sealed_in_the_token(token: SoftToken, tmp_path: Path) -> None:
    """The owner key in the token certifies the seal key in the same token, which seals the
    PDF: pyHanko and poppler both call it valid, and no key file was written."""
    out = tmp_path / "probe" / "sealed.pdf"
    out.parent.mkdir()
    # as a module from the checkout's root: the probe imports the tests' own helpers, and a
    # clean install (CI) has only onceonly on its path
    probe = [sys.executable, "-m", "tests.gateway.token_pdf_probe"]
    probe += [str(token.module), TOKEN_LABEL, KEY_LABEL, PIN, str(out)]
    root = Path(__file__).resolve().parents[2]
    ran = subprocess.run(
        probe, env=token.env(), cwd=root, capture_output=True, text=True, check=False
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    data = out.read_bytes()
    status = validated(data)
    assert status.bottom_line and status.coverage.name == "ENTIRE_FILE"
    assert_reader_valid(pdfsig(data, tmp_path), "內政部戶政司")
    files = [p for p in (out.parent / "data").rglob("*") if p.is_file()]
    assert not [p for p in files if p.suffix == ".pem" or b"PRIVATE KEY" in p.read_bytes()]
    assert [p for p in files if p.name.endswith(".seal.crt")], "the chain is kept"


def test_a_library_or_key_not_there_is_told_in_words(token: SoftToken, tmp_path: Path) -> None:
    """What the operator reads names the library or the key and why, in both languages, never
    the PKCS#11 binding's exception class."""
    missing = token.cli(
        "token-keygen", "--pkcs11-module", str(tmp_path / "nosuch.so"),
        "--token-label", TOKEN_LABEL, "--key-label", "other", pin_env=True,
    )  # fmt: skip
    assert missing.returncode == 2
    assert "無法載入 PKCS#11 程式庫" in missing.stderr and "cannot be loaded" in missing.stderr
    assert "No such file or directory" in missing.stderr
    assert "PKCS11Error" not in missing.stderr and "OS exception" not in missing.stderr
    probe = (
        "import sys; from pathlib import Path\n"
        "from onceonly.gateway.token import TokenError, TokenKey\n"
        "try:\n"
        "    TokenKey.open(Path(sys.argv[1]), sys.argv[2], 'no-such-key', sys.argv[3])\n"
        "except TokenError as exc:\n"
        "    print(exc)\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", probe, str(token.module), TOKEN_LABEL, PIN],
        env=token.env(), capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert "沒有標籤為「no-such-key」" in ran.stdout
    assert "holds no Ed25519 key labelled 'no-such-key'" in ran.stdout
    assert "NoSuchKey" not in ran.stdout


@pytest.mark.parametrize(
    ("refusal", "words"),
    [
        (pkcs11.exceptions.PinLocked(), "security officer"),
        (pkcs11.exceptions.TokenNotPresent(), "absent or not recognised"),
        (pkcs11.exceptions.DeviceError(), "fault in the token"),
        (pkcs11.exceptions.SessionCount(), "no session left"),
        (pkcs11.exceptions.TokenWriteProtected(), "write-protected"),
        (pkcs11.exceptions.ArgumentsBad(), "gave no reason"),
        (pkcs11.exceptions.ArgumentsBad("the slot list changed"), "the slot list changed"),
    ],
)
def test_a_tokens_refusal_is_told_in_words(refusal: Exception, words: str) -> None:
    told = unusable(Path("/usr/lib/hsm.so"), refusal)
    assert words in told.text["en"]
    assert told.text["zh-TW"] and told.text["zh-TW"] != told.text["en"]
    assert type(refusal).__name__ not in str(told)


def test_token_options_given_in_part_are_refused_in_words(
    demo_env: DemoEnv, tmp_path: Path
) -> None:
    """Before any token is opened: a connector file not there, or the token's labels not
    given, is said in words and names what to fix."""
    from typer.testing import CliRunner

    from onceonly.cli import app as cli

    connector = tmp_path / "none.yaml"
    common = ["gateway", "serve", "--id", "gw", "--platform", "central", "--cert", "c",
              "--key", "k", "--ca", "a", "--crl", "r", "--pkcs11-module", "/none.so",
              "--data-dir", str(tmp_path / "gw")]  # fmt: skip
    runner = CliRunner()
    missing = runner.invoke(cli, [*common, "--connector", str(connector)])
    assert missing.exit_code == 2, missing.output
    assert "file is missing" in missing.output and str(connector) in missing.output
    assert "Traceback" not in missing.output and "ConnectorInvalid" not in missing.output
    connector = demo_env.settings.registries_dir / f"{OWNER}{SUFFIX}"
    labels = runner.invoke(cli, [*common, "--connector", str(connector)])
    assert labels.exit_code == 2, labels.output
    said = " ".join(labels.output.replace("│", " ").split())  # unwrapped from the error box
    assert "須一併指定 --token-label 與 --key-label" in said
    assert "needs --token-label and --key-label" in said
