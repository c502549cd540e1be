"""Chain side of fppdl: contract compilation, the Ledger bindings, Anvil, deployments."""
