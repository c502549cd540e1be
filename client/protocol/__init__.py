"""The fppdl protocol: Algorithm 1 (initial benchmarking) and Algorithm 2 (collaborative rounds).

Only the protocol lives here: the party state machine (:mod:`.party`), the masked exchange of
a round (:mod:`.exchange`), mutual evaluation (:mod:`.evaluation`), private notes
(:mod:`.mailbox`), the peer directory (:mod:`.peers`), messages, aggregation rules
(:mod:`.aggregation`, registered by name), budget policies (:mod:`.market`), local state and
settings. How a party is assembled is :mod:`client.compose`'s business; whether its peers run
in the same process (:mod:`client.consortium`) or elsewhere (:mod:`client.node`) it never knows.
"""
