"""Benchmarks that print their figures: `govpulse bench` (see docs/performance.md)."""
