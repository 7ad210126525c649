"""Arbitrary-style feed-forward transfer: any painting, no per-style training (AdaIN family on the project's VGG16).

Modules, lowest first: :mod:`.statistics` (pure feature-statistics functions), :mod:`.network` (encoder, decoder,
weights file), :mod:`.paintings` (the training/held-out split of a painting collection), :mod:`.train` (the
training run). Imports stay inside ``transfer`` (and ``media``/``foundation``) as the floor plan says.
"""
