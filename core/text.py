"""Words for messages: counts with the right plural."""

from __future__ import annotations


def plural(count: int, noun: str) -> str:
    """``"1 pair"``, ``"2 pairs"``, ``"0 pairs"``, ``"1 match"``, ``"5 matches"``."""
    if count == 1:
        return f"{count} {noun}"
    suffix = "es" if noun.endswith(("ch", "sh", "s", "x")) else "s"
    return f"{count} {noun}{suffix}"
