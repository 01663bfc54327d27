"""Benchmarks: every figure is a ratio against a bare baseline measured on the same machine in the same run."""
