"""Pilot ladders: corpus -> tokens, the small GPT, the trainer, ladder design, executors.

The only room that imports torch (``pip install 'scalelab[train]'``).
"""
