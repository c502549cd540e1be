"""Training settings (the authors' defaults, with the paper's stated values selectable)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from trainer.errors import TrainingConfigError


@dataclass(frozen=True)
class TrainConfig:
    """How every party trains locally.

    Defaults are the authors' code (lr 0.15, batch 10, 5 local epochs per round, 10
    standalone pre-training epochs); :meth:`paper` gives the values written in section 5.3
    (lr 0.001, lr decay 1e-7, batch 1).

    Attributes
    ----------
    lr : float
        SGD learning rate.
    batch_size : int
        Mini-batch size.
    local_epochs : int
        Local epochs per communication round.
    pretrain_epochs : int
        Standalone epochs before collaboration starts.
    lr_decay : float
        Torch7-style decay: step ``t`` uses ``lr / (1 + t * lr_decay)``; ``t`` restarts at 0
        with every :func:`trainer.training.train_local` call (with the paper's 1e-7 that
        changes the rate by under 1% over 100,000 steps).
    threads : int or None
        ``torch.set_num_threads`` value; None leaves torch's default.
    """

    lr: float = 0.15
    batch_size: int = 10
    local_epochs: int = 5
    pretrain_epochs: int = 10
    lr_decay: float = 0.0
    threads: int | None = None

    def __post_init__(self) -> None:
        if not self.lr > 0:
            raise TrainingConfigError(f"lr must be > 0, got {self.lr}")
        if self.batch_size < 1:
            raise TrainingConfigError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.local_epochs < 1:
            raise TrainingConfigError(f"local_epochs must be >= 1, got {self.local_epochs}")
        if self.pretrain_epochs < 0:
            raise TrainingConfigError(f"pretrain_epochs must be >= 0, got {self.pretrain_epochs}")
        if self.lr_decay < 0:
            raise TrainingConfigError(f"lr_decay must be >= 0, got {self.lr_decay}")
        if self.threads is not None and self.threads < 1:
            raise TrainingConfigError(f"threads must be >= 1, got {self.threads}")

    @classmethod
    def paper(cls) -> TrainConfig:
        """Return the settings stated in the paper: lr 0.001, lr decay 1e-7, batch size 1."""
        return cls(lr=0.001, batch_size=1, lr_decay=1e-7)

    def with_(self, **changes: object) -> TrainConfig:
        """Return a copy with some fields changed (validated again)."""
        return replace(self, **changes)  # type: ignore[arg-type]
