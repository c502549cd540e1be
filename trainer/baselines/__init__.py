"""Parameter-server baselines the paper compares against (seed 001, 5.2; seed 003 for CGSV).

Each ``run_*`` takes an :class:`Experiment` and returns a :class:`BaselineResult` with
per-party final accuracies and per-round curves. ``python -m trainer.baselines --help``.
"""

from trainer.baselines.cgsv import run_cgsv
from trainer.baselines.common import BaselineResult, Experiment
from trainer.baselines.dssgd import run_dssgd
from trainer.baselines.fedavg import run_fedavg
from trainer.baselines.standalone import run_centralized, run_standalone

BASELINES = {
    "standalone": run_standalone,
    "centralized": run_centralized,
    "dssgd": run_dssgd,
    "fedavg": run_fedavg,
    "cgsv": run_cgsv,
}

__all__ = [
    "BASELINES",
    "BaselineResult",
    "Experiment",
    "run_centralized",
    "run_cgsv",
    "run_dssgd",
    "run_fedavg",
    "run_standalone",
]
