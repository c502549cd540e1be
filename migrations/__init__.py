"""Numbered, idempotent deployment steps writing deployments/<chainId>.json.

``deploy(rpc_url, account, params)`` runs every step not yet live on that chain; the
command line is ``python -m migrations --help``.
"""

from migrations.runner import ParametersDiffer, StepOutcome, deploy, run_migrations

__all__ = ["ParametersDiffer", "StepOutcome", "deploy", "run_migrations"]
