"""Errors that reach the user as one line (the CLI exits with status 2 on them)."""


class MatchscopeError(Exception):
    """A problem with the user's input or settings, described in one line."""


class InputError(MatchscopeError):
    """A file that cannot be used, with its path and the reason."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class Cancelled(MatchscopeError):
    """A run stopped by the user between two stages."""

    def __init__(self, stage: str = ""):
        self.stage = stage
        super().__init__(f"cancelled{' during ' + stage if stage else ''}")
