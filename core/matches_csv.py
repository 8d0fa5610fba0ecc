"""A result's matches as CSV: ``xA,yA,xB,yB,certainty[,error]``, one match a line.

The header line names the columns; positions are pixels of the images as loaded (OpenCV's
convention, the centre of the top-left pixel at (0, 0)) to 1/1000 px, certainty in [0, 1] to
1e-6, and the optional ``error`` the match's true error in px against a ground truth (``nan``
where unknown). ``np.loadtxt(path, delimiter=",", skiprows=1)`` reads it back.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import numpy as np

from core.result import MatchResult

COLUMNS = ("xA", "yA", "xB", "yB", "certainty")
ERROR_COLUMN = "error"
_FORMATS = ("%.3f", "%.3f", "%.3f", "%.3f", "%.6f")


def matches_table(result: MatchResult, errors: np.ndarray | None = None) -> np.ndarray:
    """(N, 5) ``[xA, yA, xB, yB, certainty]`` float64, or (N, 6) with the (N,) ``errors`` (px)."""
    columns = [np.asarray(result.matches, np.float64), result.match_certainty[:, None]]
    if errors is not None:
        if len(errors) != result.num_matches:
            raise ValueError(f"{len(errors)} errors for {result.num_matches} matches")
        columns.append(np.asarray(errors, np.float64)[:, None])
    return np.hstack(columns).astype(np.float64, copy=False)


def save_matches_csv(
    result: MatchResult, path: str | os.PathLike, errors: np.ndarray | None = None
) -> None:
    """Write ``result``'s matches to ``path`` in the result's order, with an ``error`` column
    when the (N,) true ``errors`` (px, NaN unknown) are given. The file appears only when
    complete, with the mode a new file gets from the user's umask (as ``save_result``)."""
    path = Path(path)
    table = matches_table(result, errors)
    header = ",".join(COLUMNS + ((ERROR_COLUMN,) if errors is not None else ()))
    formats = list(_FORMATS) + (["%.3f"] if errors is not None else [])
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.partial"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", newline="") as handle:
            np.savetxt(handle, table, fmt=formats, delimiter=",", header=header, comments="")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
