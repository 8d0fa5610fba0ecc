"""Matchscope's engine: matchers, geometry, image IO and results. Never imports Qt."""

__version__ = "0.1.0"
