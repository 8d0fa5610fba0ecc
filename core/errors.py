"""Errors that reach the user as one line (the CLI exits with status 2 on them)."""


class MatchscopeError(Exception):
    """A problem with the user's input or settings, described in one line."""


class InputError(MatchscopeError):
    """A file that cannot be used, with its path and the reason."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def failure_message(what: str, exc: BaseException) -> str:
    """One line for a run that raised ``exc``: a MatchscopeError's own text, else what failed
    (``what``), the exception's type and the first line of its message."""
    if isinstance(exc, MatchscopeError):
        return str(exc)
    if isinstance(exc, MemoryError):
        return f"{what}: out of memory"
    first_line = (str(exc).strip().splitlines() or [""])[0]
    return f"{what} failed: {type(exc).__name__}: {first_line}"


class Cancelled(MatchscopeError):
    """A run stopped by the user between two stages."""

    def __init__(self, stage: str = ""):
        self.stage = stage
        super().__init__(f"cancelled{' during ' + stage if stage else ''}")
