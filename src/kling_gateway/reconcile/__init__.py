"""Reconciliation: the upstream's deduction exports against the gateway's ledger, difference by difference."""
