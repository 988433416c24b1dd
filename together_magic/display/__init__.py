"""How results look: previews, captions, grids, contact sheets, the live status line.

Owns: ``gallery`` (previews, captions, ``compare``, the model table), ``sheets`` (labelled grids and the
contact sheet PNG), ``live`` (a display updated in place that leaves nothing behind) and ``status`` (the
running cell's line, the offline notice). May import ``generation`` and everything below it; the features
and front ends show their results through it.
"""
