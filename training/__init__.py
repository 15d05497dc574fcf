"""Training, evaluation and latency of the layout model (issue 4)."""
