"""The history: everything generated before, from any notebook, the panel or the CLI.

Owns: ``search`` (``history()``, ``clear_history()``, the ``History`` result and the
``%imagine_history`` / ``together-magic history`` arguments). May import ``display``, ``generation``,
``store`` and below; never a sibling feature (sweeps, batches) nor a front end.
"""
