"""The command line's progress lines.

Standard output of a `firstline` command is for JSON alone (`firstline say ... | jq` works), so
what the command is doing goes to standard error, each line marked as Firstline's own among
Rasa's and TensorFlow's.
"""

from __future__ import annotations

import logging
import sys

from bot import log_format

__all__ = ["progress"]

_logger = logging.getLogger("firstline")


def progress(message: str) -> None:
    """One line of what the command is doing; a log record when the log is JSON, so that every
    line on standard error parses."""
    if log_format.is_json():
        _logger.info(message)
    else:
        print(f"[firstline] {message}", file=sys.stderr, flush=True)
