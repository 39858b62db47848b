"""``make bench``: TDS measured against baselines in the same run (see docs/benchmarks.md)."""
