"""`bench`: stage-by-stage timings, the full-size synthetic profiles, and agreement between precisions."""
