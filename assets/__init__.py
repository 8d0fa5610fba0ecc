"""Demo inputs that Matchscope generates itself, released under the project's MIT licence.

``python assets/make_demo.py`` re-renders the demo pair with :mod:`core.synthetic`.
"""

from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parent / "demo"
DEMO_A = DEMO_DIR / "scene_a.png"
DEMO_B = DEMO_DIR / "scene_b.png"
