"""Real notebook files for the preflight's tests, written as Jupyter writes them (nbformat 4 JSON)."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat

Cell = str | tuple[str, list[str]]
"""A code cell's source, or (source, tags); a source starting with ``# `` is a markdown cell."""

BEFORE_CLASS: list[Cell] = [
    "# A class notebook with three mistakes",
    '%load_ext together_magic\nprompt = "a lighthouse on a cliff at sunset"',
    "%%imagine -m black-forest-labs/FLUX.1-schnell --steps 4 --size 512x512 --seed 1\n{{ prompt }}",
    '%%imagine --negative "blurry" --size 512x512 --seed 2\n{{ prompt }}',
    "%%imagine --size 500x500 --seed 3\n{{ prompt }}",
    "%%imagine -n 2 --size 512x512 --seed 4\n{{ prompt }}",
]
"""Cell 3 names a retired model, cell 4 an input FLUX.2 [dev] does not take, cell 5 a size outside its
table; cell 6 is fine (2 images of FLUX.2 [dev] at $0.0154)."""


def write_notebook(path: Path, cells: list[Cell]) -> Path:
    """Write ``cells`` as a valid nbformat 4 notebook (checked with nbformat itself)."""
    made = []
    for cell in cells:
        source, tags = (cell, []) if isinstance(cell, str) else cell
        metadata = {"tags": tags} if tags else {}
        if source.startswith("# "):
            made.append({"cell_type": "markdown", "metadata": metadata, "source": source})
        else:
            made.append(
                {
                    "cell_type": "code",
                    "metadata": metadata,
                    "source": source.splitlines(keepends=True),
                    "outputs": [],
                    "execution_count": None,
                }
            )
        made[-1]["id"] = f"cell-{len(made)}"
    notebook = {
        "cells": made,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    nbformat.validate(nbformat.from_dict(notebook))
    path.write_text(json.dumps(notebook, indent=1))
    return path
