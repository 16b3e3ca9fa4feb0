"""Reproducing the papers' closed-ended benchmarks, and running batch and eval on a Ray cluster."""
