"""The reveal rule and the guard that enforces it across crashes and restarts.

For one request (round, receiver) and one sender x, each mask neighbour h of x reveals to
the receiver EITHER its share of x's self-mask seed (x is in the receipt's accepted set A)
OR its pair seed with x (x is not in A and h is, so the receiver must cancel h's stream for
x), never both. Both would give the receiver x's self-mask and its pair masks: x's whole
update. The rule is a pure function of public data, the on-chain uploads and the receiver's
one receipt (:func:`decide_reveals`); :class:`RevealGuard` persists what a party revealed per
(round, receiver, sender) and refuses to reveal the other kind afterwards, even after a
restart or if a second, contradicting receipt shows up.

Threat model (one request with sender set S, neighbour graph of degree m = k_n, threshold t):

* The receiver alone learns the sum of the accepted envelopes and nothing else about any
  sender, whatever it claims about envelopes: an excluded sender keeps its self-mask (its
  shares are never revealed), an accepted one keeps the pair masks with its accepted
  neighbours (A is connected, so only the total of A is unmasked).
* The receiver plus c colluding neighbours of a sender x learn nothing about x's self-mask
  while c < t. With the default t = ceil(m / 2), up to ceil(m / 2) - 1 colluders are
  tolerated and up to floor(m / 2) of x's holders may be unreachable at unmask time.
* Colluding senders always learn the sum of the others (inherent to aggregation); a
  receiver that falsely excludes honest senders to shrink A is answered by the dispute
  mechanism (deposits), not by cryptography, and ``min_accepted`` bounds how small A gets.
* With k_n < n - 1, colluding senders removed from the graph may split the honest accepted
  senders into components whose sums the receiver learns separately (SecAgg+ property).

The guard serialises to JSON bytes; the party stores them with its state. ``reveal`` writes
them through the caller's ``persist`` callback BEFORE returning the message, so a crash can
never leave a revealed secret unrecorded.
"""

from __future__ import annotations

import enum
import hashlib
import json
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from client.crypto.constants import (
    ADDRESS_LEN,
    DEFAULT_MIN_ACCEPTED,
    DIGEST_LEN,
    GUARD_VERSION,
    LABEL_RECEIPT,
    MAX_U64,
    SEED_LEN,
    UNMASK_MAGIC,
    UNMASK_VERSION,
)
from client.crypto.context import RoundContext, check_address
from client.crypto.envelope import parse_header
from client.crypto.errors import (
    ContextError,
    DecryptionError,
    GuardFormatError,
    KeyFormatError,
    RevealConflictError,
    UnmaskFormatError,
)
from client.crypto.keys import PartyKeys
from client.crypto.masking import derive_pair_seeds
from client.crypto.onion import header_matches
from client.crypto.receipt import Receipt, check_receipt
from client.crypto.selfmask import open_share, share_commitment
from client.crypto.shamir import encode_element


class RevealKind(enum.IntEnum):
    """What a neighbour reveals about one sender (the item's kind byte)."""

    #: Its Shamir share of the sender's self-mask seed (the sender is accepted).
    SHARE = 1
    #: Its pair seed with the sender (the sender is not accepted, the holder is).
    PAIR = 2


@dataclass(frozen=True)
class RevealPlan:
    """What one holder reveals for one request: the output of :func:`decide_reveals`.

    Parameters
    ----------
    context_digest : bytes
        Digest of the request's context.
    holder : bytes
        The neighbour that reveals.
    shares : tuple of (bytes, bytes)
        (sender, accepted envelope digest) for each neighbour whose self-mask share it
        reveals; fetch each envelope by that digest for :meth:`RevealGuard.reveal`.
    pairs : tuple of bytes
        Excluded neighbours whose pair seed with the holder it reveals.
    receipt_digest : bytes
        SHA-256 of the receipt the plan follows (all-zero without a receipt).
    """

    context_digest: bytes
    holder: bytes
    shares: tuple[tuple[bytes, bytes], ...]
    pairs: tuple[bytes, ...]
    receipt_digest: bytes = bytes(DIGEST_LEN)

    @property
    def share_senders(self) -> tuple[bytes, ...]:
        """Return the senders whose self-mask share the holder reveals."""
        return tuple(s for s, _ in self.shares)

    def kinds(self) -> dict[bytes, RevealKind]:
        """Return sender -> kind revealed about it."""
        out = {s: RevealKind.SHARE for s, _ in self.shares}
        out.update({s: RevealKind.PAIR for s in self.pairs})
        return out

    @property
    def empty(self) -> bool:
        """Whether there is nothing to reveal."""
        return not self.shares and not self.pairs


def decide_reveals(
    ctx: RoundContext,
    holder: bytes,
    *,
    uploads: Mapping[bytes, bytes],
    receipt: Receipt | None,
    min_accepted: int = DEFAULT_MIN_ACCEPTED,
) -> RevealPlan:
    """Decide what ``holder`` reveals to the receiver of ``ctx`` (pure; no secrets involved).

    Parameters
    ----------
    ctx : RoundContext
        The request, exactly as fixed on-chain at DOWNLOAD.
    holder : bytes
        The calling sender.
    uploads : mapping
        Sender -> digest of its on-chain upload to this receiver in this round.
    receipt : Receipt or None
        The receiver's one published receipt; None if it published none (then nothing is
        revealed, ever, for this request: a receiver that never says what it accepted gets
        nothing).
    min_accepted : int
        The deployment's minimum number of summed senders (``minUploaders``).

    Raises
    ------
    InvalidReceiptError
        If the receipt accepts a sender whose on-chain upload differs or is absent, or
        accepts a disconnected or too small set (reveal nothing; culprit: the receiver).
    """
    holder = ctx.require_sender(holder)
    if receipt is None:
        return RevealPlan(ctx.digest, holder, (), ())
    accepted = check_receipt(ctx, receipt, uploads=uploads, min_accepted=min_accepted)
    receipt_digest = hashlib.sha256(LABEL_RECEIPT + receipt.to_bytes()).digest()
    shares, pairs = [], []
    for sender in ctx.neighbours_of(holder):
        if sender in accepted:
            shares.append((sender, accepted[sender]))
        elif holder in accepted:
            pairs.append(sender)
    return RevealPlan(ctx.digest, holder, tuple(shares), tuple(pairs), receipt_digest)


@dataclass(frozen=True, repr=False)
class UnmaskItem:
    """One revealed secret: a self-mask share or a pair seed, about ``sender``."""

    kind: RevealKind
    sender: bytes
    value: bytes

    def __repr__(self) -> str:
        return f"UnmaskItem({self.kind.name}, sender=0x{self.sender.hex()})"


_UNMASK_HEAD = struct.Struct(f">4sB{DIGEST_LEN}s{ADDRESS_LEN}sH")
_UNMASK_ITEM = struct.Struct(f">B{ADDRESS_LEN}s{SEED_LEN}s")


@dataclass(frozen=True)
class UnmaskMessage:
    """Everything one holder reveals to one receiver for one request (kind ``unmask``).

    Send it as a note encrypted to the receiver
    (:func:`client.crypto.notes.seal_note`); it is never public.
    """

    context_digest: bytes
    holder: bytes
    items: tuple[UnmaskItem, ...]

    def to_bytes(self) -> bytes:
        """Encode as ``magic | version | digest | holder | n u16 | n x (kind|sender|value)``."""
        head = _UNMASK_HEAD.pack(
            UNMASK_MAGIC, UNMASK_VERSION, self.context_digest, self.holder, len(self.items)
        )
        return head + b"".join(
            _UNMASK_ITEM.pack(int(i.kind), i.sender, i.value) for i in self.items
        )

    @classmethod
    def from_bytes(cls, data: bytes, *, ctx: RoundContext, holder: bytes) -> UnmaskMessage:
        """Parse the unmask message ``holder`` sent for request ``ctx``.

        Raises
        ------
        UnmaskFormatError
            If malformed, for another request or holder, or about a non-neighbour.
        RevealConflictError
            If it reveals both kinds about one sender.
        """
        holder = ctx.require_sender(holder)
        data = bytes(data)

        def bad(why: str) -> UnmaskFormatError:
            return UnmaskFormatError(f"unmask message of 0x{holder.hex()}: {why}", culprit=holder)

        if len(data) < _UNMASK_HEAD.size:
            raise bad("truncated")
        magic, version, digest, who, n = _UNMASK_HEAD.unpack_from(data)
        if magic != UNMASK_MAGIC or version != UNMASK_VERSION:
            raise bad("bad magic or version")
        if digest != ctx.digest or who != holder:
            raise bad("belongs to another request or holder")
        if len(data) != _UNMASK_HEAD.size + n * _UNMASK_ITEM.size:
            raise bad("length does not match its item count")
        neighbours = set(ctx.neighbours_of(holder))
        items: dict[bytes, UnmaskItem] = {}
        for i in range(n):
            kind, sender, value = _UNMASK_ITEM.unpack_from(
                data, _UNMASK_HEAD.size + i * _UNMASK_ITEM.size
            )
            if kind not in (RevealKind.SHARE, RevealKind.PAIR):
                raise bad(f"unknown item kind {kind}")
            if sender not in neighbours:
                raise bad(f"item about 0x{sender.hex()}, not a mask neighbour")
            if sender in items:
                if items[sender].kind != kind:
                    raise RevealConflictError(
                        f"0x{holder.hex()} revealed both a share and a pair seed "
                        f"about 0x{sender.hex()}",
                        culprit=holder,
                        sender=sender,
                    )
                raise bad(f"two items about 0x{sender.hex()}")
            items[sender] = UnmaskItem(RevealKind(kind), sender, value)
        return cls(ctx.digest, holder, tuple(items.values()))


@dataclass(frozen=True)
class RevealOutcome:
    """Result of :meth:`RevealGuard.reveal`.

    ``message`` goes to the receiver; ``unreadable`` lists accepted senders whose share this
    holder could not read from the envelope it was given (missing blob, or a share that
    does not authenticate or match its commitment: that sender dealt badly to this holder).
    """

    message: UnmaskMessage
    unreadable: tuple[bytes, ...]


def _pin(ctx: RoundContext, plan: RevealPlan) -> str:
    # What a (round, receiver) is pinned to once anything was revealed: one sender set and
    # one receipt. Neighbours can only be consistent with each other if the chain holds a
    # single receipt per request; this makes each one at least consistent with itself.
    return ctx.digest.hex() + plan.receipt_digest.hex()


def _key(round_: int, receiver: bytes, sender: bytes | None = None) -> str:
    base = f"{round_}:{receiver.hex()}"
    return base if sender is None else f"{base}:{sender.hex()}"


@dataclass
class RevealGuard:
    """Persistent record of what one party revealed, per (round, receiver, sender).

    Create it once per party and consortium, store :meth:`to_bytes` with the party's state,
    and reload it with :meth:`from_bytes` after a restart. Every reveal goes through
    :meth:`reveal`, which applies the rule itself and refuses whatever contradicts what this
    party revealed before.
    """

    holder: bytes
    chain_id: int
    contract: bytes
    #: Rounds below this were pruned: nothing is revealed for them any more.
    floor: int = 0
    contexts: dict[str, str] = field(default_factory=dict)
    revealed: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.holder = check_address(self.holder, "holder")
        self.contract = check_address(self.contract, "contract")
        if not 0 <= self.chain_id <= MAX_U64:
            raise ContextError("chain id out of range")

    def kind_revealed(self, round_: int, receiver: bytes, sender: bytes) -> RevealKind | None:
        """Return what was revealed about ``sender`` to ``receiver`` in ``round_``, if any."""
        value = self.revealed.get(_key(round_, receiver, sender))
        return None if value is None else RevealKind[value.upper()]

    def check(self, ctx: RoundContext, plan: RevealPlan) -> None:
        """Raise :class:`RevealConflictError` if ``plan`` contradicts an earlier reveal."""
        if (ctx.chain_id, ctx.contract) != (self.chain_id, self.contract):
            raise ContextError("request of another consortium than this guard's")
        if plan.context_digest != ctx.digest or plan.holder != self.holder:
            raise ContextError("reveal plan of another request or holder")
        if ctx.round < self.floor:
            raise RevealConflictError(
                f"round {ctx.round} was pruned from the guard: nothing is revealed for it",
                culprit=ctx.receiver,
            )
        for sender, kind in plan.kinds().items():
            before = self.kind_revealed(ctx.round, ctx.receiver, sender)
            if before is not None and before != kind:
                raise RevealConflictError(
                    f"refusing to reveal the {kind.name.lower()} about 0x{sender.hex()} to "
                    f"0x{ctx.receiver.hex()} in round {ctx.round}: its "
                    f"{before.name.lower()} was already revealed",
                    culprit=ctx.receiver,
                    sender=sender,
                )
        known = self.contexts.get(_key(ctx.round, ctx.receiver))
        if known is not None and not plan.empty and known != _pin(ctx, plan):
            other_set = not known.startswith(ctx.digest.hex())
            raise RevealConflictError(
                f"already revealed to 0x{ctx.receiver.hex()} in round {ctx.round} under "
                + ("another sender set" if other_set else "another receipt"),
                culprit=ctx.receiver,
            )

    def reveal(
        self,
        ctx: RoundContext,
        *,
        uploads: Mapping[bytes, bytes],
        receipt: Receipt | None,
        min_accepted: int = DEFAULT_MIN_ACCEPTED,
        holder_keys: PartyKeys,
        peer_publics: Mapping[bytes, bytes],
        envelopes: Mapping[bytes, bytes],
        persist: Callable[[bytes], None],
    ) -> RevealOutcome:
        """Apply the rule, record the decision, persist the guard, then build the message.

        The plan is recomputed here with :func:`decide_reveals` from the same inputs, so no
        hand-made plan can get past the rule.

        Parameters
        ----------
        ctx : RoundContext
            The request.
        uploads, receipt, min_accepted
            As for :func:`decide_reveals` (call it first to learn which envelopes to fetch).
        holder_keys : PartyKeys
            The holder's private keys.
        peer_publics : mapping
            Address -> registered X25519 public key (covering the holder's neighbours).
        envelopes : mapping
            Sender -> envelope bytes fetched by the accepted digest, for each
            ``plan.share_senders``, through the store's verifying ``get`` (only the header
            is read, but it must be the committed envelope's).
        persist : callable
            Called with the updated :meth:`to_bytes` before anything is returned; it must
            write them durably (if it raises, nothing is recorded or revealed).

        Raises
        ------
        RevealConflictError
            If the plan contradicts an earlier reveal (nothing is revealed).
        InvalidReceiptError
            If the receipt breaks the rule (nothing is revealed).
        """
        plan = decide_reveals(
            ctx, self.holder, uploads=uploads, receipt=receipt, min_accepted=min_accepted
        )
        self.check(ctx, plan)
        holder = self.holder
        items: list[UnmaskItem] = []
        unreadable: list[bytes] = []
        for sender in plan.share_senders:
            share = self._read_share(ctx, sender, holder_keys, peer_publics, envelopes.get(sender))
            if share is None:
                unreadable.append(sender)
            else:
                items.append(UnmaskItem(RevealKind.SHARE, sender, encode_element(share)))
        if plan.pairs:
            pairs = derive_pair_seeds(ctx, holder, holder_keys, peer_publics, only=plan.pairs)
            items += [
                UnmaskItem(RevealKind.PAIR, s, seed)
                for s, seed in zip(pairs.neighbours, pairs.seeds, strict=True)
            ]
        updated = RevealGuard(
            holder,
            self.chain_id,
            self.contract,
            self.floor,
            dict(self.contexts),
            dict(self.revealed),
        )
        if not plan.empty:
            updated.contexts[_key(ctx.round, ctx.receiver)] = _pin(ctx, plan)
            for sender, kind in plan.kinds().items():
                updated.revealed[_key(ctx.round, ctx.receiver, sender)] = kind.name.lower()
            persist(updated.to_bytes())
            self.contexts, self.revealed = updated.contexts, updated.revealed
        message = UnmaskMessage(ctx.digest, holder, tuple(items))
        return RevealOutcome(message, tuple(unreadable))

    def _read_share(
        self,
        ctx: RoundContext,
        sender: bytes,
        keys: PartyKeys,
        peer_publics: Mapping[bytes, bytes],
        blob: bytes | None,
    ) -> int | None:
        if blob is None or sender not in peer_publics:
            return None
        try:
            header, _ = parse_header(blob)
        except DecryptionError:
            return None
        if not header_matches(header, ctx, sender) or not header.self_masked:
            return None
        index = ctx.neighbours_of(sender).index(self.holder)
        try:
            share = open_share(
                ctx,
                sender=sender,
                sender_x25519=peer_publics[sender],
                holder=self.holder,
                holder_keys=keys,
                sealed=header.sealed_shares[index],
                self_commit=header.self_commit,
            )
        except KeyFormatError:  # an unusable registered key: that sender's problem only
            return None
        if share is None:
            return None
        if share_commitment(ctx, sender, self.holder, share) != header.share_commits[index]:
            return None
        return share

    def prune(self, before_round: int) -> None:
        """Forget rounds below ``before_round`` and refuse any reveal for them from now on."""
        if before_round <= self.floor:
            return
        self.floor = before_round
        keep = {k for k in self.contexts if int(k.split(":", 1)[0]) >= before_round}
        self.contexts = {k: v for k, v in self.contexts.items() if k in keep}
        self.revealed = {
            k: v for k, v in self.revealed.items() if int(k.split(":", 1)[0]) >= before_round
        }

    def to_bytes(self) -> bytes:
        """Return the canonical JSON encoding (UTF-8)."""
        doc = {
            "format": "fppdl reveal guard",
            "version": GUARD_VERSION,
            "holder": self.holder.hex(),
            "chain_id": self.chain_id,
            "contract": self.contract.hex(),
            "floor": self.floor,
            "contexts": dict(sorted(self.contexts.items())),
            "revealed": dict(sorted(self.revealed.items())),
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(
        cls, data: bytes, *, holder: bytes, chain_id: int, contract: bytes
    ) -> RevealGuard:
        """Load a guard written by :meth:`to_bytes`, checking it belongs to this party.

        Raises
        ------
        GuardFormatError
            If the bytes are corrupted or belong to another party or consortium.
        """
        try:
            doc = json.loads(bytes(data).decode())
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise GuardFormatError("reveal guard is not valid JSON") from None
        if not isinstance(doc, dict) or doc.get("format") != "fppdl reveal guard":
            raise GuardFormatError("not a reveal guard")
        if doc.get("version") != GUARD_VERSION:
            raise GuardFormatError(f"unsupported reveal guard version {doc.get('version')!r}")
        expected = (holder.hex(), chain_id, contract.hex())
        if (doc.get("holder"), doc.get("chain_id"), doc.get("contract")) != expected:
            raise GuardFormatError("reveal guard of another party or consortium")
        floor, contexts, revealed = doc.get("floor"), doc.get("contexts"), doc.get("revealed")
        if isinstance(floor, bool) or not isinstance(floor, int) or not 0 <= floor <= MAX_U64:
            raise GuardFormatError("reveal guard has a bad floor")
        if not isinstance(contexts, dict) or not isinstance(revealed, dict):
            raise GuardFormatError("reveal guard has bad tables")
        for k, v in contexts.items():
            if not (_valid_key(k, 2) and isinstance(v, str) and _is_hex(v, 2 * DIGEST_LEN)):
                raise GuardFormatError(f"reveal guard has a bad context entry {k!r}")
        for k, v in revealed.items():
            if not (_valid_key(k, 3) and v in ("share", "pair")):
                raise GuardFormatError(f"reveal guard has a bad entry {k!r}")
            if ":".join(k.split(":")[:2]) not in contexts:
                raise GuardFormatError(f"reveal guard entry {k!r} has no context")
        return cls(holder, chain_id, contract, floor, dict(contexts), dict(revealed))


def _is_hex(text: str, length: int) -> bool:
    if len(text) != 2 * length:
        return False
    try:
        bytes.fromhex(text)
    except ValueError:
        return False
    return text == text.lower()


def _valid_key(key: object, parts: int) -> bool:
    if not isinstance(key, str):
        return False
    fields = key.split(":")
    if len(fields) != parts or not fields[0].isdigit() or int(fields[0]) > MAX_U64:
        return False
    return all(_is_hex(f, ADDRESS_LEN) for f in fields[1:])


def expected_unmaskers(ctx: RoundContext, receipt: Receipt) -> dict[bytes, RevealPlan]:
    """Return, for every holder the receiver should hear from, what it should reveal.

    Lets the receiver wait for exactly the unmask messages its sum needs (it needs t of the
    share holders of each accepted sender, and every pair-seed holder). The receipt is the
    receiver's own, so its upload digests are taken as given.
    """
    if receipt.context_digest != ctx.digest:
        raise ContextError("receipt of another request")
    out = {}
    for holder in ctx.senders:
        plan = decide_reveals(
            ctx, holder, uploads=receipt.accepted, receipt=receipt, min_accepted=1
        )
        if not plan.empty:
            out[holder] = plan
    return out
