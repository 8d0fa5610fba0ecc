"""Matchscope: ``python main.py`` opens the window; ``python main.py match ...`` works headless."""

import sys

from app.cli import main

if __name__ == "__main__":
    sys.exit(main())
