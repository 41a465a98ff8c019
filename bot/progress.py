"""The command line's progress lines.

Standard output of a `firstline` command is for JSON alone (`firstline say ... | jq` works), so
what the command is doing goes to standard error, each line marked as Firstline's own among
Rasa's and TensorFlow's.
"""

from __future__ import annotations

import sys

__all__ = ["progress"]


def progress(message: str) -> None:
    print(f"[firstline] {message}", file=sys.stderr, flush=True)
