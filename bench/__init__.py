"""Benchmarks; run each script from the repository root (see docs/BENCHMARKS.md)."""
