"""The trainer behind the protocol's :class:`client.protocol.learner.Learner` interface.

An honest party's model trained on its own shard (:class:`ModelLearner`) and a free-rider with
no data (:class:`FreeRiderLearner`, for the tests and the demo's adversaries). The protocol
never touches torch: it sees flat float32 parameter vectors, updates and labels.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch

from trainer.config import TrainConfig
from trainer.data import Dataset, Normalisation
from trainer.dpgan import SampleRelease
from trainer.models import build_model, get_flat, set_flat
from trainer.training import evaluate, local_update, predict_labels, train_with_config

FloatVec = npt.NDArray[np.float32]


class ModelLearner:
    """An honest party's model: a paper model trained on its own shard with local SGD.

    The model is the one owner of the party's parameters; the protocol reads and replaces them
    through :meth:`params` and :meth:`set_params` only.
    """

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
        """Return |D_i|, the number of local training examples."""
        return len(self._data)

    def pretrain(self) -> float:
        """Train alone for the pre-training epochs (Algorithm 1 step 1); return the accuracy."""
        train_with_config(
            self._model, self._data, self._train, epochs=self._train.pretrain_epochs,
            seed=self._seed,
        )
        return self.accuracy()

    def params(self) -> FloatVec:
        """Return the current flat parameters (a copy)."""
        return get_flat(self._model)

    def set_params(self, params: FloatVec) -> None:
        """Replace the flat parameters."""
        set_flat(self._model, params)

    def local_update(self, round_number: int) -> FloatVec:
        """Train one round of local epochs in place; return ``Delta w``."""
        return local_update(self._model, self._data, self._train, seed=self._seed + round_number)

    def label(self, samples: SampleRelease) -> npt.NDArray[np.int64]:
        """Return the predicted classes of released synthetic ``samples``."""
        return predict_labels(self._model, samples.to_model_input(self._normalisation))

    def accuracy(self) -> float:
        """Return the test accuracy of the current model."""
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
        """Return the data size it claims (it has none)."""
        return self._claimed

    def params(self) -> FloatVec:
        """Return the current flat parameters (a copy)."""
        return get_flat(self._model)

    def set_params(self, params: FloatVec) -> None:
        """Replace the flat parameters."""
        set_flat(self._model, params)

    def local_update(self, round_number: int) -> FloatVec:
        """Return a zero update: it trains on nothing."""
        return np.zeros_like(self.params())

    def label(self, samples: SampleRelease) -> npt.NDArray[np.int64]:
        """Return random labels."""
        return self._rng.integers(0, 10, size=samples.count, dtype=np.int64)

    def accuracy(self) -> float:
        """Return the test accuracy of its (untrained) model."""
        return evaluate(self._model, self._test).accuracy


def noise_release(count: int, seed: int) -> SampleRelease:
    """Return what a free-rider with no data publishes: uniform noise images."""
    rng = np.random.default_rng(seed)
    return SampleRelease(rng.integers(0, 256, size=(count, 1, 32, 32), dtype=np.uint8), 0, 0)
