"""The `gongkai` command line, above every package it assembles: extraction, training, service and the
synthetic datasets (gongkai/cli.py)."""
