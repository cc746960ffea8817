"""Launching stages on a cluster from Python (submitit): :mod:`hpcgan.launch.submit`."""
