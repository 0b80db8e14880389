"""Benchmarks against optax and PyTorch: each prints ratios; speed is never asserted in a test."""
