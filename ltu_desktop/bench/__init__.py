"""`bench`: stage-by-stage timings, full-size synthetic profiles, precision agreement, the local API under load."""
