"""From a pain drawing to trigger points: an exact noisy-OR model over the atlas.

`triggerpoint.inference.service.suggest` is the entry point (also `triggerpoint.suggest`).
See docs/inference.md for the model, the algorithm and its guarantees.
"""
