"""The ``onceonly`` command as an operator meets it when the database is not there yet."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from onceonly.cli import app as cli


def onceonly(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ONCEONLY_")}
    return subprocess.run(
        [sys.executable, "-m", "onceonly.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean | env,
    )


def test_a_missing_data_directory_is_named_with_what_to_do(tmp_path: Path) -> None:
    missing = tmp_path / "not-made-yet"
    result = onceonly("users", "list", ONCEONLY_DATA_DIR=str(missing), ONCEONLY_LANGUAGE="en")
    assert result.returncode == 1
    assert f"Cannot open the database sqlite:///{missing}/onceonly.sqlite" in result.stderr
    assert "ONCEONLY_DATA_DIR" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    listed = onceonly("keys", "list", ONCEONLY_DATA_DIR=str(missing), ONCEONLY_LANGUAGE="en")
    assert listed.returncode == 1 and "Cannot open the database" in listed.stderr
    assert not missing.exists()  # a command that only reads makes no data directory


def test_the_database_named_is_the_one_the_command_used(tmp_path: Path) -> None:
    """``--data-dir`` overrides the environment: the message names that folder's database,
    not the environment's (which is fine, and would send the operator looking elsewhere)."""
    home = tmp_path / "deployment"
    assert onceonly("init", str(home), "--no-admin").returncode == 0
    missing = tmp_path / "typo"
    result = onceonly(
        "gateway", "rules-export", "--owner", "x", "--out", str(tmp_path / "r.json"),
        "--data-dir", str(missing), ONCEONLY_DATA_DIR=str(home), ONCEONLY_LANGUAGE="en",
    )  # fmt: skip
    assert result.returncode == 1
    assert f"Cannot open the database sqlite:///{missing}/onceonly.sqlite" in result.stderr
    assert str(home) not in result.stderr and "Traceback" not in result.stderr


def test_a_database_without_tables_says_to_upgrade_it(
    tmp_path: Path, empty_database_url: str
) -> None:
    env = {"ONCEONLY_DATA_DIR": str(tmp_path), "ONCEONLY_DATABASE_URL": empty_database_url}
    result = onceonly("users", "list", **env)
    assert result.returncode == 1
    assert "尚未建立 onceonly 的資料表" in result.stderr and "onceonly db upgrade" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    upgraded = onceonly("db", "upgrade", **env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert onceonly("users", "list", **env).returncode == 0


def test_an_unreachable_server_is_named_without_its_password(tmp_path: Path) -> None:
    url = "postgresql+psycopg://clerk:s3cret@127.0.0.1:1/onceonly"
    result = onceonly("users", "list", ONCEONLY_DATABASE_URL=url, ONCEONLY_DATA_DIR=str(tmp_path))
    assert result.returncode == 1
    assert "無法連線到資料庫 postgresql+psycopg://clerk:***@127.0.0.1:1/onceonly" in result.stderr
    assert "s3cret" not in result.stderr + result.stdout
    made = onceonly("init", str(tmp_path / "new"), "--no-admin", "--database-url", url)
    assert made.returncode == 1, made.stderr
    assert "無法連線到資料庫 postgresql+psycopg://clerk:***@127.0.0.1:1/onceonly" in made.stderr
    assert "sqlite" not in made.stderr and "s3cret" not in made.stderr  # the one given to init
    assert not (tmp_path / "new" / "onceonly.toml").exists()  # a later init would keep it
    garbled = onceonly("init", str(tmp_path / "other"), "--no-admin", "--database-url", "x")
    assert garbled.returncode == 2 and "資料庫網址" in garbled.stderr, garbled.stderr
    assert "The database URL (--database-url or ONCEONLY_DATABASE_URL)" in garbled.stderr
    assert not (tmp_path / "other").exists()


def test_refused_input_prints_each_field_and_reason_and_exits_1(
    tmp_path: Path, database_url: str
) -> None:
    env = {
        "ONCEONLY_DATA_DIR": str(tmp_path),
        "ONCEONLY_DATABASE_URL": database_url,
        "ONCEONLY_LANGUAGE": "en",
    }
    result = onceonly("notify", "record-death", "A123456789", "--death-date", "2024-13-45", **env)
    assert result.returncode == 1
    assert "The input is not valid" in result.stderr
    assert "--death-date: month must be 1-12, got 13" in result.stderr
    assert "payload." not in result.stderr  # the option typed, not the event's field
    assert "Traceback" not in result.stderr + result.stdout


def _node_credentials(root: Path, node: str) -> list[str]:
    """``--cert``, ``--key`` and ``--ca`` of a node certificate issued by a throwaway CA."""
    from onceonly.pki import ca

    if not (root / "ca" / "ca.pem").exists():
        ca.init_ca(root / "ca")
    issued = ca.issue_node(root / "ca", node, root / "certs")
    key = root / "certs" / f"{node}.key"
    return ["--cert", issued.cert_path, "--key", str(key), "--ca", str(root / "ca" / "ca.pem")]


def test_federation_init_checks_the_nodes_own_credentials(tmp_path: Path) -> None:
    """A node whose certificate or key is not one, whose key is another node's, or whose
    endpoint is not https is refused at ``init``, naming each option; it was written and
    failed only when served."""
    jwk = tmp_path / "directory.jwk"
    jwk.write_text('{"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}', "utf-8")
    taipei = _node_credentials(tmp_path, "taipei")
    yilan = _node_credentials(tmp_path, "yilan")
    junk = tmp_path / "junk.pem"
    junk.write_text("junk", "utf-8")
    base = ["federation", "init", "taipei", "--jurisdiction", "taipei-city"]
    base += ["--directory-url", "https://127.0.0.1:2", "--directory-key", str(jwk)]
    base += ["--data-dir", str(tmp_path / "node")]
    runner = CliRunner()
    env = {"ONCEONLY_OUTBOUND_ALLOWED_HOSTS": "127.0.0.1"}
    wrong = [*taipei[:3], yilan[3], *taipei[4:]]  # yilan's key with taipei's certificate
    cases = {
        ("--key", "與 --cert 的憑證不成對"): [*wrong, "--endpoint", "https://127.0.0.1:1"],
        ("--cert", "不是 PEM 格式的憑證"): [*taipei[:1], str(junk), *taipei[2:], "--endpoint",
                                              "https://127.0.0.1:1"],
        ("--endpoint", "不是其他節點連得到的網址"): [*taipei, "--endpoint", "127.0.0.1:1"],
    }  # fmt: skip
    for (option, words), extra in cases.items():
        result = runner.invoke(cli, [*base, *extra], env=env)
        said = " ".join(result.output.split())
        assert result.exit_code == 2 and f"{option}:" in said and words in said, said
        assert not (tmp_path / "node" / "federation" / "node.json").exists()
    good = runner.invoke(cli, [*base, *taipei, "--endpoint", "https://127.0.0.1:1"], env=env)
    assert good.exit_code == 0, good.output


def test_node_commands_without_data_dir_use_the_settings_file(tmp_path: Path) -> None:
    """``federation init`` (like the backup commands) once wrote into ``./onceonly-data``
    beside the deployment the settings file ``ONCEONLY_CONFIG`` names."""
    from onceonly.config import Settings
    from onceonly.deployment import write_settings_file
    from onceonly.federation.node import NodeConfig

    deployment = Settings(data_dir=tmp_path / "deployment")
    deployment.data_dir.mkdir()
    config, _ = write_settings_file(deployment)
    jwk = tmp_path / "directory.jwk"
    jwk.write_text('{"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}', "utf-8")
    command = ["federation", "init", "taipei", "--jurisdiction", "taipei-city"]
    command += ["--endpoint", "https://127.0.0.1:1", "--directory-url", "https://127.0.0.1:2"]
    command += ["--directory-key", str(jwk), *_node_credentials(tmp_path, "taipei")]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(elsewhere)
        patch.setenv("ONCEONLY_OUTBOUND_ALLOWED_HOSTS", "127.0.0.1")
        env = {"ONCEONLY_CONFIG": str(config), "ONCEONLY_DATA_DIR": None}
        result = CliRunner().invoke(cli, command, env=env)
    assert result.exit_code == 0, result.output
    assert NodeConfig.read(deployment) is not None
    assert not (elsewhere / "onceonly-data").exists()


def test_a_path_that_cannot_be_used_is_named_with_why(tmp_path: Path) -> None:
    """A file where a folder is needed, a folder where a file is needed, a file that is not
    text or not JSON: the path and why, in both languages, and exit 2, never a traceback."""
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x", "utf-8")
    a_folder = tmp_path / "folder"
    a_folder.mkdir()
    garbage = tmp_path / "registration.json"
    garbage.write_text("{nope", "utf-8")
    binary = tmp_path / "log.jsonl"
    binary.write_bytes(bytes(range(128, 256)))
    data = {"ONCEONLY_DATA_DIR": str(tmp_path / "data")}
    gw = str(tmp_path / "gateway")
    assert onceonly("pki", "init-ca", "--ca-dir", str(tmp_path / "ca"), **data).returncode == 0
    cases = [
        (("init", str(a_file), "--no-admin"), [f"{a_file} is a file, and a folder is needed"]),
        (
            ("pki", "crl", "--ca-dir", str(tmp_path / "ca"), "--out", str(a_folder)),
            [f"{a_folder} is a folder, and a file is needed"],
        ),
        (
            ("directory", "add-node", str(tmp_path / "nope.json"), "--home", str(tmp_path / "d")),
            [f"{tmp_path / 'nope.json'} was not found"],
        ),
        (
            ("gateway", "rules-import", str(garbage), "--owner", "central.fia", "--data-dir", gw),
            ["A file given is not valid JSON (line 1, column 2)"],
        ),
        (("audit", "verify", "--file", str(binary)), ["A file given is not UTF-8 text"]),
    ]
    for args, words in cases:
        result = onceonly(*args, **data)
        said = result.stderr + result.stdout
        assert "Traceback" not in said and "Error:" not in said, (args, said)
        assert result.returncode != 0, (args, said)
        for expected in words:
            assert expected in said, (args, said)
    short_id = onceonly("citizen", "issue-card", "A123", "--name", "X", **data)
    assert short_id.returncode == 2, short_id.stderr
    assert "national ID must have 10 characters, got 4" in short_id.stderr
    assert "身分證統一編號應為 10 碼" in short_id.stderr and "Traceback" not in short_id.stderr
    first = onceonly("init", str(a_file), "--no-admin", **data)
    assert first.returncode == 2 and "已是一個檔案" in first.stderr
    assert not Path(gw).exists()  # the rules file is read before a gateway is made


def test_settings_that_cannot_be_read_are_named(tmp_path: Path) -> None:
    """The settings file ONCEONLY_CONFIG names: missing, not TOML, or a value of the wrong
    kind; every command says which file and which setting, in both languages."""
    missing = tmp_path / "missing.toml"
    not_toml = tmp_path / "not.toml"
    not_toml.write_text("data_dir = [unclosed\n", "utf-8")
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('smtp_port = "twenty-five"\n', "utf-8")
    told = {
        missing: ["The settings file", "does not exist", "找不到設定檔"],
        not_toml: ["is not valid TOML", "不是有效的 TOML"],
        wrong: ["Settings of the wrong kind: smtp_port", "設定值的型別不正確"],
    }
    for path, words in told.items():
        result = onceonly("users", "list", ONCEONLY_CONFIG=str(path))
        assert result.returncode == 2, result.stderr
        assert str(path) in result.stderr and "Traceback" not in result.stderr
        for expected in words:
            assert expected in result.stderr, result.stderr


def test_a_receiver_is_not_started_with_a_key_anyone_has(tmp_path: Path) -> None:
    """The reference receiver checks each push's HMAC: an empty secret (or an empty one among
    several) would let anyone sign for the platform, so it is refused before serving, as is a
    way to answer it does not know."""
    runner = CliRunner()
    base = ["notify", "receiver", "--db", str(tmp_path / "r.sqlite"), "--port", "1"]
    for secret in ("", "s3cret,", " "):
        empty = runner.invoke(cli, [*base, "--secret", secret], env={"ONCEONLY_LANGUAGE": "en"})
        said = " ".join(empty.output.replace("│", " ").split())
        assert empty.exit_code == 2 and "No HMAC secret may be empty" in said, empty.output
    odd = runner.invoke(cli, [*base, "--secret", "s", "--ack", "later"])
    assert odd.exit_code == 2 and "later" in odd.output
    assert not (tmp_path / "r.sqlite").exists()


def test_numbers_out_of_bounds_are_refused_not_replaced(tmp_path: Path) -> None:
    """Zero days for a token once meant the default validity, a batch of 0 the default size,
    a negative one was taken as given, and a snapshot valid for -100 s was served: each is
    now refused, naming the option, before anything runs."""
    runner = CliRunner()
    env = {"ONCEONLY_LANGUAGE": "en", "ONCEONLY_DATA_DIR": str(tmp_path / "none")}
    refused = {
        ("notify", "worker", "--batch", "0"): "--batch",
        ("notify", "worker", "--batch", "-5"): "--batch",
        ("directory", "serve", "--valid-seconds", "-100", "--home", str(tmp_path / "d")): "60",
        ("backup", "ship", "--every", "-5", "--data-dir", str(tmp_path / "n")): "--every",
    }
    for args, named in refused.items():
        result = runner.invoke(cli, list(args), env=env)
        said = " ".join(result.output.replace("│", " ").split())
        assert result.exit_code == 2, (args, result.output)
        assert "must be a whole number of at least" in said or "應為不小於" in said, said
        assert named in said, said
    assert not (tmp_path / "d").exists()


def test_values_a_library_would_trip_on_are_refused_in_words(tmp_path: Path) -> None:
    """A card holder's empty name, a migration revision Alembic does not know, a CA folder
    whose files are not PEM: each was a traceback from the library underneath."""
    junk = tmp_path / "ca"
    junk.mkdir()
    (junk / "ca.pem").write_text("junk", "utf-8")
    (junk / "ca.key").write_text("junk", "utf-8")
    env = {"ONCEONLY_DATA_DIR": str(tmp_path / "data"), "ONCEONLY_LANGUAGE": "en"}
    told = {
        ("citizen", "issue-card", "A123456789", "--name", " "): "Give the holder's name",
        ("db", "upgrade", "no-such-revision"): "Cannot upgrade to 'no-such-revision'",
        ("pki", "issue-node", "n1", "--ca-dir", str(junk), "--out", str(tmp_path / "o")): (
            "(ca.key) in " + str(junk) + " cannot be read"
        ),
    }
    for args, words in told.items():
        result = onceonly(*args, **env)
        said = " ".join((result.stdout + result.stderr).replace("│", " ").split())
        assert result.returncode in (1, 2) and words in said, (args, said)
        assert "Traceback" not in said, said


def test_a_failed_move_names_the_path_asked_for() -> None:
    """Exports are written aside and moved into place; when the move fails, the path the
    operator gave is named, not the file written aside."""
    from onceonly.cli_errors import explained

    moved = IsADirectoryError(21, "Is a directory", "out.jsonl.partial", None, "out.jsonl")
    said = explained(moved)
    assert said is not None and "out.jsonl is a folder" in said and "partial" not in said
    assert explained(RuntimeError("anything else")) is None  # keeps its traceback


@pytest.mark.parametrize(
    ("args", "zh", "en"),
    [
        (("users", "list", "--rol", "clerk"), "沒有 --rol 這個選項（是不是要用 --role？）",
         "there is no option --rol (did you mean --role?)"),
        (("users", "lst"), "沒有 lst 這個指令（是不是要用 list？）",
         "there is no command lst (did you mean list?)"),
        (("gateway", "rules-export"), "缺少必填的選項 --owner", "the option --owner is required"),
        (("users", "issue-token"), "缺少必填的參數 username", "the argument username is required"),
        (("users", "issue-token", "x", "--days", "abc"), "--days 的值不正確：必須是整數",
         "the value of --days is not right: it must be a whole number"),
        (("audit", "prove", "1", "--tree-size", "0"), "--tree-size 的值不正確：不得小於 1",
         "it must be at least 1"),
        (("users", "list", "a", "b"), "多出了這個指令不需要的參數（a b）",
         "this command takes no more arguments (a b)"),
        (("audit", "prove", "--bundle"), "選項 --bundle 後面需要一個值",
         "the option --bundle needs a value after it"),
    ],
)  # fmt: skip
def test_a_command_typed_wrongly_is_told_in_both_languages(
    args: tuple[str, ...], zh: str, en: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Click and Typer word these in English only, before any command runs."""
    from onceonly.cli import main

    monkeypatch.setattr(sys, "argv", ["onceonly", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    said = capsys.readouterr().err
    assert exited.value.code == 2, said
    assert zh in said and en in said, said
    assert said.index(zh) < said.index(en) and "Traceback" not in said


def test_help_and_a_finished_command_exit_as_before(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from onceonly.cli import main

    for args, code in ((["--help"], 0), (["users"], 2), (["users", "--help"], 0)):
        monkeypatch.setattr(sys, "argv", ["onceonly", *args])
        with pytest.raises(SystemExit) as exited:
            main()
        shown = capsys.readouterr()
        assert exited.value.code == code, (args, shown)
        assert "Usage:" in shown.out + shown.err and "錯誤" not in shown.err
