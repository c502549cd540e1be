"""The settings every party of one consortium must share, fixed at deployment.

Parties whose rules, rounds, models or mask rings differ cannot sum each other's vectors, and
today a mismatch would silently break the sums. So these settings are encoded canonically
(sorted-key JSON of integers, strings and exact fractions, no floats), stored by the ledger
at deployment and compared by every node before it takes part: a node whose own settings
differ refuses to run and names the setting.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from fractions import Fraction
from typing import Any, Final

from eth_utils import keccak

from client.errors import FppdlError

#: Bumped when the encoding changes; a node refuses settings of another version.
SETTINGS_VERSION: Final = 1
#: The most bytes of encoded settings a node parses (the ledger bounds them too).
MAX_SETTINGS_BYTES: Final = 4096
#: Denominator bound of the exact fractions a setting is written as.
FRACTION_LIMIT: Final = 10**6


class SettingsError(FppdlError, ValueError):
    """Consortium settings are malformed, of another version, or differ from a node's."""


def _exact(value: Any) -> Any:
    """Return a JSON-safe exact form: floats become ``"num/den"`` strings."""
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float | Fraction):
        frac = Fraction(value).limit_denominator(FRACTION_LIMIT)
        return f"{frac.numerator}/{frac.denominator}"
    if isinstance(value, Mapping):
        return {str(k): _exact(v) for k, v in value.items()}
    raise SettingsError(f"a consortium setting cannot hold {type(value).__name__}")


def _is_fraction(text: str) -> bool:
    num, sep, den = text.partition("/")
    return bool(sep) and num.lstrip("-").isdigit() and den.isdigit() and int(den) > 0


@dataclass(frozen=True)
class ConsortiumSettings:
    """What every party of a consortium must agree on.

    Attributes
    ----------
    rounds : int
        Collaborative rounds (the ledger also enforces them).
    model : str
        The model every party trains (its parameter count is the ledger's ``modelSize``).
    init_seed : int
        Seed of the public initial model w0.
    aggregation : str
        The aggregation rule, by registered name.
    rule_options : Mapping
        Its options.
    budget_policy : str
        The budget policy, by registered name.
    budget_fraction : str
        Fraction of the balance the policy spends over the rounds, as ``"num/den"``.
    eval_samples : int
        Released samples every party labels per owner and epoch.
    ring_bits : int
        Ring of the additive masks.
    neighbours : int or None
        Mask neighbours per sender (None: all).
    """

    rounds: int
    model: str
    init_seed: int
    aggregation: str
    rule_options: Mapping[str, Any] = field(default_factory=dict)
    budget_policy: str = "even"
    budget_fraction: str = "1/1"
    eval_samples: int = 100
    ring_bits: int = 32
    neighbours: int | None = None

    def __post_init__(self) -> None:
        # Options are kept in their exact written form, so equality means equal encodings.
        object.__setattr__(self, "rule_options", _exact(dict(self.rule_options)))

    def rule_option_values(self) -> dict[str, Any]:
        """Return the rule options with ``"num/den"`` strings turned back into numbers."""
        out: dict[str, Any] = {}
        for key, value in self.rule_options.items():
            if isinstance(value, str) and _is_fraction(value):
                num, _, den = value.partition("/")
                out[key] = float(Fraction(int(num), int(den)))
            else:
                out[key] = value
        return out

    def to_bytes(self) -> bytes:
        """Return the canonical encoding the ledger stores."""
        body = {k: _exact(v) for k, v in asdict(self).items()}
        body["version"] = SETTINGS_VERSION
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("ascii")

    def digest(self) -> bytes:
        """Return keccak256 of :meth:`to_bytes` (what the ledger's ``settingsDigest`` holds)."""
        return bytes(keccak(self.to_bytes()))

    @classmethod
    def from_bytes(cls, data: bytes) -> ConsortiumSettings:
        """Decode :meth:`to_bytes` output read from a ledger (untrusted: bounded, checked)."""
        if len(data) > MAX_SETTINGS_BYTES:
            raise SettingsError(f"consortium settings of {len(data)} bytes (at most "
                                f"{MAX_SETTINGS_BYTES})")
        try:
            body = json.loads(data.decode("ascii"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise SettingsError(f"consortium settings are not canonical JSON: {exc}") from None
        if not isinstance(body, dict) or body.pop("version", None) != SETTINGS_VERSION:
            raise SettingsError(f"consortium settings are not of version {SETTINGS_VERSION}")
        known = {f.name for f in fields(cls)}
        if set(body) != known:
            raise SettingsError(
                f"consortium settings have fields {sorted(body)}, expected {sorted(known)}"
            )
        types = {"rounds": int, "model": str, "init_seed": int, "aggregation": str,
                 "rule_options": dict, "budget_policy": str, "budget_fraction": str,
                 "eval_samples": int, "ring_bits": int}
        for name, kind in types.items():
            if not isinstance(body[name], kind) or isinstance(body[name], bool):
                raise SettingsError(f"consortium setting {name} is not a {kind.__name__}")
        if body["neighbours"] is not None and not isinstance(body["neighbours"], int):
            raise SettingsError("consortium setting neighbours is not an integer or null")
        settings = cls(**body)
        if settings.to_bytes() != data:
            raise SettingsError("consortium settings are not in canonical form")
        return settings

    def differences(self, other: ConsortiumSettings) -> list[str]:
        """Return ``"name: ours != theirs"`` for every setting that differs."""
        ours, theirs = asdict(self), asdict(other)
        return [f"{k}: {_exact(ours[k])!r} != {_exact(theirs[k])!r}"
                for k in ours if _exact(ours[k]) != _exact(theirs[k])]

    def budget_fraction_value(self) -> Fraction:
        """Return the budget fraction as an exact fraction."""
        num, _, den = self.budget_fraction.partition("/")
        try:
            return Fraction(int(num), int(den or "1"))
        except (ValueError, ZeroDivisionError):
            raise SettingsError(f"budget_fraction {self.budget_fraction!r} is not num/den") \
                from None
