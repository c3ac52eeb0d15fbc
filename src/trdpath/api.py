"""The public Python API. The CLI (cli.py) is a thin layer over these functions."""
