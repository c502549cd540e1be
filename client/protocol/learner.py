"""The trainer adapter: what the protocol asks of a party's model, and nothing else.

The protocol never touches torch: it sees flat float32 parameter vectors, updates and labels.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt
import torch

from trainer.config import TrainConfig
from trainer.data import Dataset, Normalisation
from trainer.dpgan import SampleRelease
from trainer.models import build_model, get_flat, set_flat
from trainer.training import evaluate, local_update, predict_labels, train_with_config

FloatVec = npt.NDArray[np.float32]


class Learner(Protocol):
    """A party's local model as seen by the protocol."""

    @property
    def data_size(self) -> int:
        """|D_i|: local training examples."""
        ...

    def params(self) -> FloatVec:
        """Return current flat parameters."""
        ...

    def set_params(self, params: FloatVec) -> None:
        """Replace the flat parameters."""
        ...

    def local_update(self, round_number: int) -> FloatVec:
        """Train one round in place and return ``Delta w``."""
        ...

    def label(self, samples: SampleRelease) -> npt.NDArray[np.int64]:
        """Predicted classes of released synthetic ``samples``."""
        ...

    def accuracy(self) -> float:
        """Test accuracy of the current model."""
        ...


class ModelLearner:
    """An honest party's model: a paper model trained on its own shard with local SGD."""

    def __init__(
        self,
        *,
        model_name: str,
        data: Dataset,
        test: Dataset,
        train: TrainConfig,
        normalisation: Normalisation,
        seed: int,
        init_seed: int = 0,
    ) -> None:
        # Every party starts from the same public initialisation w0 (as in the authors' code):
        # averaging or summing parameters of differently initialised networks destroys them.
        torch.manual_seed(init_seed)
        self._model = build_model(model_name, data.input_shape)
        self._normalisation = normalisation
        self._data = data
        self._test = test
        self._train = train
        self._seed = seed

    @property
    def data_size(self) -> int:
        return len(self._data)

    @property
    def data(self) -> Dataset:
        """The party's own training data (never leaves the party)."""
        return self._data

    def pretrain(self) -> float:
        """Standalone pre-training (Algorithm 1 step 1); returns the standalone accuracy."""
        train_with_config(
            self._model, self._data, self._train, epochs=self._train.pretrain_epochs,
            seed=self._seed,
        )
        return self.accuracy()

    def params(self) -> FloatVec:
        return get_flat(self._model)

    def set_params(self, params: FloatVec) -> None:
        set_flat(self._model, params)

    def local_update(self, round_number: int) -> FloatVec:
        return local_update(self._model, self._data, self._train, seed=self._seed + round_number)

    def label(self, samples: SampleRelease) -> npt.NDArray[np.int64]:
        return predict_labels(self._model, samples.to_model_input(self._normalisation))

    def accuracy(self) -> float:
        return evaluate(self._model, self._test).accuracy


class FreeRiderLearner:
    """A party with no useful data that answers every evaluation with random labels.

    It exists to test that the consortium detects and removes such a party (seed 000).
    """

    def __init__(self, *, model_name: str, test: Dataset, claimed_size: int, seed: int) -> None:
        torch.manual_seed(seed)
        self._model = build_model(model_name, test.input_shape)
        self._test = test
        self._claimed = claimed_size
        self._rng = np.random.default_rng(seed)

    @property
    def data_size(self) -> int:
        return self._claimed

    def params(self) -> FloatVec:
        return get_flat(self._model)

    def set_params(self, params: FloatVec) -> None:
        set_flat(self._model, params)

    def local_update(self, round_number: int) -> FloatVec:
        return np.zeros_like(self.params())

    def label(self, samples: SampleRelease) -> npt.NDArray[np.int64]:
        return self._rng.integers(0, 10, size=samples.count, dtype=np.int64)

    def accuracy(self) -> float:
        return evaluate(self._model, self._test).accuracy
