"""The ``mixrl`` logger: ``[mixrl:LEVEL] message`` on stderr, coloured only on a TTY."""

import logging
import sys

_COLOURS = {
    logging.DEBUG: "\033[36m",
    logging.INFO: "\033[32m",
    logging.WARNING: "\033[33m",
    logging.ERROR: "\033[31m",
    logging.CRITICAL: "\033[1;31m",
}


class _Formatter(logging.Formatter):
    def __init__(self, stream) -> None:
        super().__init__()
        self._colour = hasattr(stream, "isatty") and stream.isatty()

    def format(self, record: logging.LogRecord) -> str:
        text = f"[mixrl:{record.levelname}] {record.getMessage()}"
        if self._colour and record.levelno in _COLOURS:
            text = f"{_COLOURS[record.levelno]}{text}\033[0m"
        return text


def _make_logger() -> logging.Logger:
    log = logging.getLogger("mixrl")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_Formatter(sys.stderr))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    return log


logger = _make_logger()

_said_once: set[str] = set()


def warn_once(message: str) -> None:
    """Log ``message`` as a warning the first time it is seen in this process."""
    if message not in _said_once:
        _said_once.add(message)
        logger.warning(message)
