"""Experiments as data: one TOML per table cell, every framework on the same parties.

``fppdl experiment run|list|report`` (:mod:`client.cli.experiment`) is the command line;
this package holds the pieces:

* :mod:`client.experiments.config` -- the TOML schema (:class:`ExperimentConfig`), overrides
  and the hashes that key resumption and caching (no torch import);
* :mod:`client.experiments.frameworks` -- ``dppdl`` through the real protocol and the
  parameter-server baselines, all on one seed's partition, w0 and training seeds;
* :mod:`client.experiments.runner` -- seeds, resumption, caches, per-seed JSON;
* :mod:`client.experiments.summary` -- ``summary.json`` (the results contract) and tables;
* :mod:`client.experiments.plots` -- the PNG figures;
* :mod:`client.experiments.paper` -- the paper's Tables 3 and 5, for comparison.
"""

from client.experiments.config import ExperimentConfig, ExperimentConfigError, load_config

__all__ = ["ExperimentConfig", "ExperimentConfigError", "load_config"]
