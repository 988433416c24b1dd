"""``together-magic check NOTEBOOK.ipynb ...``: the notebook preflight on the command line.

Each notebook's table goes to standard output (see ``preflight.report``). Exit codes: 0 every cell would
run on the cloud, 1 some cell would fail there (each named with its fix), 2 a file that is not a readable
notebook (one line on stderr naming it; the other notebooks are still checked).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..preflight import NotebookError, Report, check_notebook

__all__ = ["run_check_command"]


def run_check_command(args: argparse.Namespace) -> int:
    status = 0
    reports: list[Report] = []
    for name in args.notebooks:
        try:
            report = check_notebook(Path(name))
        except NotebookError as exc:
            print(f"together-magic: error: {exc}", file=sys.stderr)
            status = 2
            continue
        if reports:
            print()
        print(report.text(), flush=True)
        reports.append(report)
        status = max(status, report.exit_status)
    if len(reports) > 1:
        cost = sum(r.cost for r in reports)
        unpriced = sum(r.unpriced for r in reports)
        more = f" + {unpriced} images at unpublished prices" if unpriced else ""
        failing = sum(not r.ok for r in reports)
        verdict = f"{failing} with cells that would fail on the cloud" if failing else "no cell would fail"
        images = sum(r.images for r in reports)
        print(f"\nall {len(reports)} notebooks: {images} images, about ${cost:.4f}{more}; {verdict}")
    return status
