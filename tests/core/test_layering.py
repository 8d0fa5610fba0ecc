"""`core` is the engine: it imports with no Qt or view library loaded (DESIGN.md, layers)."""

import subprocess
import sys

from tests.conftest import REPO

SCRIPT = """
import importlib, pkgutil, sys
import core
for module in pkgutil.walk_packages(core.__path__, "core."):
    importlib.import_module(module.name)
forbidden = [m for m in sys.modules if m.split(".")[0] in
             ("PySide6", "PyQt5", "PyQt6", "pyqtgraph", "vispy", "superqt", "qtpy")]
print(",".join(forbidden))
print(len([m for m in sys.modules if m.startswith("core.")]))
"""


def test_core_imports_without_qt():
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out[0] == "", f"core pulled in view libraries: {out[0]}"
    assert int(out[1]) >= 10  # the walk really imported the engine's modules
