"""Ledger test suite."""
