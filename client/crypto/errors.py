"""Exceptions raised by :mod:`client.crypto`.

Every failure to open, parse or authenticate an envelope is reported as ONE opaque
:class:`DecryptionError` (as ``InvalidTag`` in pyca/cryptography), so that an attacker
probing the receiver learns nothing from which check failed. Errors caused by the caller's
own input (bad addresses, out-of-range values, wrong parameters) are specific and say what
is wrong; they also inherit ``ValueError`` so generic handlers keep working.
"""

from __future__ import annotations

from client.errors import FppdlError


class CryptoError(FppdlError, ValueError):
    """Root of every error raised by :mod:`client.crypto`."""


class DecryptionError(CryptoError):
    """An envelope could not be parsed, authenticated or decrypted (deliberately opaque)."""

    def __init__(self) -> None:
        super().__init__("envelope could not be opened")


class QuantizationError(CryptoError, ValueError):
    """A value cannot be represented in the ring without risking a wrap-around."""


class ContextError(CryptoError, ValueError):
    """A round context, address or neighbour-graph parameter is invalid."""


class KeyFormatError(CryptoError, ValueError):
    """Key bytes have the wrong length or encode an unusable key."""


class KeyImportError(CryptoError):
    """A password-protected key file is malformed or the password is wrong."""


class MissingRecoveryError(CryptoError):
    """Aggregation lacks the recovery stream of a surviving neighbour of a dropped sender."""


class DisclosureError(CryptoError):
    """A recovery seed or dispute disclosure does not match what the envelope commits to."""
