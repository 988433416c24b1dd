"""One generation for any front end: options -> plan -> budget, cache, send, verify, record, save.

Owns: ``options`` (the option table and ``ImagineOptions``), ``line`` (reading a ``%%imagine`` line),
``inputs`` (what a user names as an image, made into what the API takes), ``plan`` (checked requests),
``cost`` (estimated prices), ``saving`` (files with their parameters, ``--from``), ``stored`` (store rows
<-> responses), ``generate`` (the one engine: budget, cache, send, verify, record, save), ``live``
(the cloud's own model list, kept a day) and ``loop`` (which event loop, cancellation, a client per loop).
May import ``client``, ``store``, ``types``, ``imagefiles``, ``errors``, ``config`` and ``models``; never
display, features or front ends.
"""
