"""The fppdl protocol: Algorithm 1 (initial benchmarking) and Algorithm 2 (collaborative rounds).

A :class:`~client.protocol.party.Party` is composed of its identity (signing account and
encryption keys), a :class:`~client.chain.ledger.Ledger`, a
:class:`~storage.base.ContentStore`, the onion encryption of :mod:`client.crypto` and a
:class:`~client.protocol.learner.Learner`. It only moves forward on what the chain says: every
call to :meth:`Party.step` reads the phase and does what is due and not done yet. The same
class runs N parties in one process (:mod:`client.protocol.runner`) or one party per process.
"""
