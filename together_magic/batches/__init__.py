"""Batches (``--each``, ``generate_many``, ``together-magic batch``): many images, paced and resumable.

Owns: ``items`` (a list, a DataFrame or a file, item by item), ``manifest`` (the SQLite file in the output
folder), ``plan`` (items -> requests, files on disk adopted), ``pacing`` (one limiter fed by the server's
headers), ``run`` (paced requests, each answer written and recorded), ``view`` (the ``Batch`` result) and
``api`` (the front doors). May import ``display``, ``generation`` and below; never a sibling feature
(sweeps, histories) nor a front end.
"""
