"""Named errors of the trainer, each rooted in a standard exception type.

Callers (the CLI, the protocol) catch :class:`TrainerError` to turn any of them into a
one-line message instead of a traceback.
"""

from __future__ import annotations


class TrainerError(Exception):
    """Root of every error raised by :mod:`trainer`."""


class DatasetMissing(TrainerError, FileNotFoundError):
    """A requested dataset (or one of its files) is not where it was looked for."""


class DatasetFormatError(TrainerError, ValueError):
    """A dataset file exists but is not in the expected format (bad magic, shapes, keys)."""


class ChecksumMismatch(DatasetFormatError):
    """A dataset file with a standard name does not have the standard MD5 digest."""


class PartitionError(TrainerError, ValueError):
    """A partition cannot be drawn (too few examples, bad sizes or levels)."""


class ModelError(TrainerError, ValueError):
    """Unknown model name, wrong input shape, or a flat vector of the wrong length."""


class TrainingConfigError(TrainerError, ValueError):
    """A training setting is out of range (non-positive lr, batch size, epochs...)."""
