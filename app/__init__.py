"""Matchscope's main window: app state, worker threads, actions and docks.

Importing this package imports no Qt; :mod:`app.state` stays headless.
"""

WINDOW_MATCHER = "aliked-lightglue"
"""The window's matcher when none is given: a trained network that ships in its package, so a
fresh install opens on the demo pair with a neural matcher at work (``match`` keeps sift)."""
