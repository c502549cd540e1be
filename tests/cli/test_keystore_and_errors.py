"""`fppdl party init` keystores, and bad input: one line, non-zero exit, nothing corrupted."""

from __future__ import annotations

import json
from pathlib import Path

from eth_account import Account

from client.chain.anvil import AnvilNode
from client.crypto import PartyKeys
from tests.cli.conftest import (
    PASSWORD,
    PASSWORD_ENV,
    assert_one_line_error,
    cli_env,
    fppdl,
)


def test_party_init_writes_encrypted_private_keystore(shards: list[Path], tmp_path: Path) -> None:
    folder = tmp_path / "alice"
    result = fppdl("party", "init", folder, "--data", shards[0], "--kdf-cost", "10",
                   "--password-env", PASSWORD_ENV, "--store", f"embedded:{tmp_path / 's'}")
    assert result.returncode == 0, result.stderr
    signing, encryption = folder / "signing-key.json", folder / "encryption-key.bin"
    for path in (signing, encryption):
        assert path.stat().st_mode & 0o777 == 0o600
    keystore = json.loads(signing.read_text())
    assert keystore["crypto"]["kdf"] == "scrypt" and keystore["version"] == 3
    key = Account.decrypt(keystore, PASSWORD)
    keys = PartyKeys.import_encrypted(encryption.read_bytes(), PASSWORD.encode())
    for path in folder.iterdir():  # no secret in clear anywhere in the folder
        data = path.read_bytes()
        assert bytes(key) not in data and bytes(key).hex().encode() not in data.lower()
        assert keys.to_bytes() not in data
    assert PASSWORD not in result.stdout + result.stderr
    address = Account.from_key(key).address
    assert address in result.stdout
    settings = json.loads((folder / "party.json").read_text())
    assert PASSWORD not in json.dumps(settings)

    # a second init never overwrites the keys
    before = signing.read_bytes()
    again = fppdl("party", "init", folder, "--data", shards[0], "--password-env", PASSWORD_ENV)
    assert_one_line_error(again, "already holds a keystore")
    assert signing.read_bytes() == before


def test_wrong_password_and_missing_password(
    shards: list[Path], tmp_path: Path, chain: AnvilNode
) -> None:
    folder = tmp_path / "bob"
    assert fppdl("party", "init", folder, "--data", shards[1], "--kdf-cost", "10",
                 "--password-env", PASSWORD_ENV).returncode == 0
    wrong = fppdl("party", "register", folder, "--password-env", "WRONG_PW",
                  env=cli_env(WRONG_PW="not the password"))
    line = assert_one_line_error(wrong, "wrong password")
    assert "not the password" not in line
    none = fppdl("party", "register", folder)  # stdin is not a terminal: no prompt possible
    assert_one_line_error(none, "--password-env")
    assert sorted(p.name for p in folder.iterdir()) == [
        "encryption-key.bin", "party.json", "signing-key.json"
    ]


def test_unreachable_rpc_url_is_named() -> None:
    url = "http://127.0.0.1:9"
    assert_one_line_error(fppdl("inspect", "--rpc-url", url), url)


def test_no_contract_at_address(chain: AnvilNode) -> None:
    empty = "0x000000000000000000000000000000000000dEaD"
    result = fppdl("inspect", "--rpc-url", chain.rpc_url, "--ledger", empty)
    assert_one_line_error(result, "no contract at", empty)


def test_missing_dataset_files(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.npz"
    result = fppdl("party", "init", tmp_path / "p", "--data", missing,
                   "--password-env", PASSWORD_ENV)
    assert_one_line_error(result, str(missing), "does not exist")
    assert not (tmp_path / "p").exists()
    demo = fppdl("demo", "--data-dir", tmp_path / "no-mnist", "--out", tmp_path / "run")
    assert_one_line_error(demo, "no-mnist")
    assert not (tmp_path / "run").exists()  # no run folder, no chain started


def test_malformed_multiaddr(shards: list[Path], tmp_path: Path) -> None:
    bad = "/ip4/999.0.0.1/tcp/5001"
    demo = fppdl("demo", "--ipfs-api", bad, "--out", tmp_path / "run")
    assert_one_line_error(demo, bad, "multiaddr")
    init = fppdl("party", "init", tmp_path / "p", "--data", shards[0], "--store", "/ip4/x",
                 "--password-env", PASSWORD_ENV)
    assert_one_line_error(init, "/ip4/x")
    assert not (tmp_path / "p").exists() and not (tmp_path / "run").exists()


def test_malformed_arguments_exit_2() -> None:
    result = fppdl("demo", "--parties", "many")
    assert result.returncode == 2 and "invalid int value" in result.stderr
