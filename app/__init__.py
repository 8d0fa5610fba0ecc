"""Matchscope's main window: app state, worker threads, actions and docks.

Importing this package imports no Qt; :mod:`app.state` stays headless.
"""
