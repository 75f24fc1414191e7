"""Benchmarks: scripts that measure and write their figures to docs/benchmarks.md."""
