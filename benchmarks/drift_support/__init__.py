"""Helpers of the drift benchmarks (not benchmarks themselves): shared synthetic data, and
the Evidently side run in its own environment."""
