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


def _hex(address: bytes | None) -> str:
    return "-" if address is None else "0x" + address.hex()


class AttributedError(CryptoError, ValueError):
    """A failure caused by one identified party's bytes (``culprit``).

    Attributes
    ----------
    culprit : bytes or None
        20-byte address of the party whose message is at fault (a holder for a bad reveal,
        the receiver for a bad receipt, a sender for a bad dealing or dispute opening).
    sender : bytes or None
        The sender the faulty material is about, when that is another party.
    """

    def __init__(
        self, message: str, *, culprit: bytes | None = None, sender: bytes | None = None
    ) -> None:
        super().__init__(message)
        self.culprit = culprit
        self.sender = sender

    def describe(self) -> dict[str, str]:
        """Return the error as a JSON-ready record (kind, culprit, sender, message)."""
        return {
            "kind": type(self).__name__,
            "culprit": _hex(self.culprit),
            "sender": _hex(self.sender),
            "message": str(self),
        }


class DisclosureError(AttributedError):
    """A dispute opening is malformed or belongs to another envelope (culprit: its sender)."""


class InvalidReceiptError(AttributedError):
    """A receipt is malformed or breaks the reveal rule (culprit: the receiver).

    A neighbour that gets this reveals nothing for the request.
    """


class UnmaskFormatError(AttributedError):
    """An unmask message is malformed or not for this request (culprit: its holder)."""


class BadShareError(AttributedError):
    """A revealed self-mask share does not match the sender's share commitment."""


class BadPairSeedError(AttributedError):
    """A revealed pair seed does not match the holder's pair commitment."""


class UnexpectedRevealError(AttributedError):
    """A holder revealed something the receipt does not call for (it is ignored)."""


class RevealConflictError(AttributedError):
    """Revealing this would disclose both kinds of secret about one sender.

    Raised by :class:`~client.crypto.reveal.RevealGuard` before anything is revealed, and by
    aggregation when a holder's message holds both kinds about one sender.
    """


class GuardFormatError(CryptoError, ValueError):
    """Serialised reveal-guard bytes are corrupted or belong to another party."""


class AggregationError(CryptoError):
    """The sum of the accepted envelopes cannot be completed (the message names why)."""

    def __init__(self, message: str, *, faults: tuple[AttributedError, ...] = ()) -> None:
        if faults:
            message += "; ignored reveals: " + "; ".join(str(f) for f in faults)
        super().__init__(message)
        self.faults = faults


class MissingSharesError(AggregationError):
    """Fewer than t valid self-mask shares of an accepted sender were revealed."""


class MissingPairSeedError(AggregationError):
    """An accepted holder did not reveal (or mis-revealed) a pair seed with an excluded sender."""


class DealingError(AggregationError):
    """A sender's shares are individually valid but do not reconstruct its committed seed.

    The sender dealt inconsistent shares; the t revealed shares and its public header prove it
    (see :func:`client.crypto.aggregate.check_dealing`).
    """

    def __init__(self, message: str, *, sender: bytes) -> None:
        super().__init__(message)
        self.sender = sender
