"""Exit codes of a stage stopped by a signal with its checkpoint saved (the requeue rule that reads
them: :mod:`hpcgan.launch.requeue`)."""
from __future__ import annotations

EXIT_REQUEUE = 75
EXIT_TERMINATED = 128 + 15  # stopped on SIGTERM (checkpoint saved): not requeued
EXIT_INTERRUPTED = 128 + 2  # stopped on SIGINT (Ctrl-C; checkpoint saved)


def stop_exit_code(signal_name: str | None) -> int:
    """The exit code of a stage that stopped (checkpoint saved) on ``signal_name`` (``SIGTERM``, ...;
    None: the stop came from another rank's signal)."""
    return {"SIGTERM": EXIT_TERMINATED, "SIGINT": EXIT_INTERRUPTED}.get(signal_name or "", EXIT_REQUEUE)
