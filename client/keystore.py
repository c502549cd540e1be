"""A party's secrets on disk: the signing key and the encryption key pair, both password-encrypted.

Two files in the party folder, each created with mode 0600 and never overwritten:

* ``signing-key.json`` -- an eth-account (Web3 Secret Storage v3) keystore, scrypt KDF, so the
  signing key can also be opened by other Ethereum tools (``cast wallet``, geth).
* ``encryption-key.bin`` -- :meth:`client.crypto.PartyKeys.export_encrypted` under the same password
  (scrypt + AES-256-GCM).

The password comes from an environment variable, a file, or a terminal prompt; it is never
logged, printed or written anywhere by this module.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from client.crypto import PartyKeys
from client.crypto.errors import KeyImportError
from client.errors import FppdlError
from client.identity import PartyIdentity

SIGNING_KEY_FILE = "signing-key.json"
ENCRYPTION_KEY_FILE = "encryption-key.bin"
#: scrypt log2(N) of both files (eth-account's own default is 2^18).
DEFAULT_KDF_LOG2_N = 18
#: The cheapest cost accepted (tests and throw-away demos).
MIN_KDF_LOG2_N = 10


class KeystoreError(FppdlError, ValueError):
    """A keystore cannot be created or opened (message says why; never holds a secret)."""


class WrongPassword(KeystoreError):
    """The password does not open the keystore."""


class PasswordUnavailable(KeystoreError):
    """No password source was given and there is no terminal to prompt on."""


@dataclass(frozen=True)
class PasswordSource:
    """Where the password comes from: an environment variable, a file, or a prompt."""

    env: str | None = None
    file: str | None = None

    def read(self, *, confirm: bool = False) -> bytes:
        """Return the password as UTF-8 bytes.

        Parameters
        ----------
        confirm : bool
            When prompting, ask twice and require both answers to match (new keystores).
        """
        if self.env is not None:
            value = os.environ.get(self.env)
            if not value:
                raise PasswordUnavailable(f"environment variable {self.env} is unset or empty")
            return value.encode()
        if self.file is not None:
            path = Path(self.file)
            if not path.is_file():
                raise PasswordUnavailable(f"password file {path} does not exist")
            text = path.read_text().rstrip("\r\n")
            if not text:
                raise PasswordUnavailable(f"password file {path} is empty")
            return text.encode()
        if not sys.stdin.isatty():
            raise PasswordUnavailable(
                "no password given: use --password-env VAR or --password-file PATH "
                "(or run on a terminal to be prompted)"
            )
        try:
            first = getpass.getpass("keystore password: ")
            if not first:
                raise PasswordUnavailable("empty password")
            if confirm and getpass.getpass("repeat password: ") != first:
                raise PasswordUnavailable("the two passwords differ")
        except EOFError:
            raise PasswordUnavailable("no password entered (end of input)") from None
        return first.encode()


def _write_private(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 (fails if it exists; the mode is set before any byte)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def keystore_exists(directory: Path) -> bool:
    """Whether ``directory`` already holds either key file."""
    return (directory / SIGNING_KEY_FILE).exists() or (directory / ENCRYPTION_KEY_FILE).exists()


def create_keystore(
    directory: Path,
    password: bytes,
    *,
    kdf_log2_n: int = DEFAULT_KDF_LOG2_N,
    account: LocalAccount | None = None,
) -> PartyIdentity:
    """Generate (or take) a signing key, generate encryption keys, write both encrypted.

    Parameters
    ----------
    directory : Path
        The party folder (created if missing; existing key files are never replaced).
    password : bytes
        Password of both files.
    kdf_log2_n : int
        scrypt cost log2(N) of both files.
    account : LocalAccount, optional
        An existing signing account to store; a fresh one from OS randomness by default.

    Returns
    -------
    PartyIdentity
        The keys just written.
    """
    if not MIN_KDF_LOG2_N <= kdf_log2_n <= 22:
        raise KeystoreError(f"scrypt cost must be in [{MIN_KDF_LOG2_N}, 22], got {kdf_log2_n}")
    directory.mkdir(parents=True, exist_ok=True)
    if keystore_exists(directory):
        raise KeystoreError(f"{directory} already holds a keystore; refusing to overwrite it")
    signer: LocalAccount = account or Account.create()
    keys = PartyKeys.generate()
    encrypted = Account.encrypt(signer.key, password.decode(), kdf="scrypt",
                                iterations=2**kdf_log2_n)
    _write_private(directory / SIGNING_KEY_FILE, json.dumps(encrypted).encode())
    _write_private(
        directory / ENCRYPTION_KEY_FILE, keys.export_encrypted(password, log2_n=kdf_log2_n)
    )
    return PartyIdentity(signer, keys)


def keystore_address(directory: Path) -> str:
    """Return the party's address, read from the keystore without the password."""
    data = _read_signing_file(directory)
    address = str(data.get("address", ""))
    if not address:
        raise KeystoreError(f"{directory / SIGNING_KEY_FILE} holds no address")
    return str(Web3.to_checksum_address(address if address.startswith("0x") else "0x" + address))


def _read_signing_file(directory: Path) -> dict[str, object]:
    path = directory / SIGNING_KEY_FILE
    if not path.is_file():
        raise KeystoreError(f"no keystore in {directory}: run `fppdl party init {directory}` first")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise KeystoreError(f"{path} is not a keystore file: {type(exc).__name__}") from None
    if not isinstance(data, dict):
        raise KeystoreError(f"{path} is not a keystore file")
    return data


def load_identity(directory: Path, password: bytes) -> PartyIdentity:
    """Decrypt both key files of ``directory``.

    Raises
    ------
    WrongPassword
        If the password opens neither file.
    KeystoreError
        If a file is missing or malformed.
    """
    data = _read_signing_file(directory)
    try:
        key = Account.decrypt(data, password.decode())
    except ValueError as exc:
        if "MAC mismatch" in str(exc):
            raise WrongPassword(f"wrong password for the keystore in {directory}") from None
        raise KeystoreError(f"{directory / SIGNING_KEY_FILE} is malformed") from None
    except (KeyError, TypeError, AttributeError) as exc:
        # A keystore JSON missing a field ('kdf', 'cipherparams', ...) or of the wrong shape.
        raise KeystoreError(
            f"{directory / SIGNING_KEY_FILE} is malformed (missing or bad field {exc})"
        ) from None
    enc_path = directory / ENCRYPTION_KEY_FILE
    if not enc_path.is_file():
        raise KeystoreError(f"{enc_path} is missing")
    try:
        keys = PartyKeys.import_encrypted(enc_path.read_bytes(), password)
    except KeyImportError as exc:
        raise WrongPassword(f"cannot open {enc_path}: {exc}") from None
    return PartyIdentity(Account.from_key(key), keys)
