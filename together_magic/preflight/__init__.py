"""The notebook preflight: ``together-magic check NOTEBOOK.ipynb`` and ``%imagine_check``.

Before class, a teacher learns what a notebook will make and cost on the cloud, and which cells the cloud
would refuse today, without sending anything. Owns: ``reading`` (the .ipynb file, its ``%%imagine`` cells,
``%imagine`` lines and ``%config Imagine`` lines, and the literal values earlier cells assign), ``check``
(each found magic planned as the magic would plan it: ``generation.plan``, ``sweeps``, ``batches``) and
``report`` (the table, the totals, the exit status). May import ``sweeps``, ``batches``, ``generation`` and
below; it sends nothing and writes nothing. The CLI and the notebook magic import it (lazily).
"""

from __future__ import annotations

from .check import check_notebook
from .reading import NotebookError
from .report import Report

__all__ = ["NotebookError", "Report", "check_notebook"]
