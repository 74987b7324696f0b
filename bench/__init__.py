"""Benchmarks of linkname: not tests; run each explicitly (docs/PERFORMANCE.md)."""
