"""What the protocol asks of a party's model, and nothing else.

The protocol never touches torch: it sees flat float32 parameter vectors, updates and labels.
The adapters that implement this over the trainer live in :mod:`client.learner`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from trainer.dpgan import SampleRelease

FloatVec = npt.NDArray[np.float32]


class Learner(Protocol):
    """A party's local model as seen by the protocol (the one owner of its parameters)."""

    @property
    def data_size(self) -> int:
        """Return |D_i|: local training examples."""
        ...

    def params(self) -> FloatVec:
        """Return the current flat parameters."""
        ...

    def set_params(self, params: FloatVec) -> None:
        """Replace the flat parameters."""
        ...

    def local_update(self, round_number: int) -> FloatVec:
        """Train one round in place and return ``Delta w``."""
        ...

    def label(self, samples: SampleRelease) -> npt.NDArray[np.int64]:
        """Return the predicted classes of released synthetic ``samples``."""
        ...

    def accuracy(self) -> float:
        """Return the test accuracy of the current model."""
        ...
