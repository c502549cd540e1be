"""Numbered, idempotent deployment steps writing deployments/<chainId>.json."""
