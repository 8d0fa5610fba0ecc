"""Sequences: videos, image folders and dataset layouts read frame by frame (see
:mod:`core.sequence.base` for the interface)."""
