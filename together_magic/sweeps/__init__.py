"""Sweeps (``--vary``): one labelled grid over up to three axes, one request per cell.

Owns: ``axes`` and ``values`` (which knobs sweep and how their values are written), ``result`` (the
``Sweep``), ``run`` (planning and running the cells) and ``api`` (``sweep()``, ``asweep()`` and the
``--vary`` cell). May import ``display``, ``generation`` and below; never a sibling feature (batches,
histories) nor a front end.
"""
