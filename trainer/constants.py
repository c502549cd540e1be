"""Names and defaults every entry point shares, defined once (no torch import: CLIs read it).

Argument parsers take their ``choices=`` and defaults from here; the trainer's own modules
import the same names, so a model or partition is added in one place.
"""

from __future__ import annotations

from typing import Final

from trainer.errors import TrainingConfigError

#: The paper's models (seed 001, section 5.2), by the name configs and the CLI use.
MODEL_NAMES: Final[tuple[str, ...]] = ("mlp", "cnn")
DEFAULT_MODEL: Final = "mlp"

#: The paper's data settings (section 5.3) plus CGSV's class imbalance.
PARTITION_KINDS: Final[tuple[str, ...]] = ("same", "different", "imbalanced", "classes")
DEFAULT_PARTITION: Final = "different"

#: DPGAN training of a party's samples. Fewer epochs (or fewer than ~600 examples) leave the
#: samples no more recognisable than noise, and mutual evaluation then has no evidence:
#: measured in benchmarks/results/dpgan.json (reference_mlp_agrees_with_intended_class).
DEFAULT_DPGAN_EPOCHS: Final = 40
DEFAULT_DPGAN_WIDTH: Final = 16

#: The paper's DPGAN privacy target for the released samples.
DEFAULT_EPSILON: Final = 4.0
DEFAULT_DELTA: Final = 1e-5

#: Stride between the training seeds of the parties of one run (party i of run seed s trains
#: with ``s * PARTY_SEED_STRIDE + i``), so runs with different seeds never share a party seed.
PARTY_SEED_STRIDE: Final = 1000


def party_seed(run_seed: int, index: int) -> int:
    """Return the training and DPGAN seed of party ``index`` in a run seeded ``run_seed``."""
    if not 0 <= index < PARTY_SEED_STRIDE:
        raise TrainingConfigError(f"party index must be in [0, {PARTY_SEED_STRIDE}), got {index}")
    return run_seed * PARTY_SEED_STRIDE + index
