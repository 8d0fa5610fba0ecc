"""Neural network models of the engine (torch): the frozen ViT backbones in :mod:`core.models.vit`.

Importing this package is cheap; torch is imported by the modules inside it.
"""
