"""Classroom mode: one teacher's key behind a gateway, per-student tokens and budgets, a shared cache, a wall.

``together-magic serve --upstream URL`` runs :mod:`.app` under uvicorn; ``together-magic class ...``
(:mod:`.commands`) manages the students in the same data folder. Students point ``TOGETHER_BASE_URL`` at
the gateway and put their class token in ``TOGETHER_API_KEY``; every client works unchanged.

Modules, bottom up: ``settings`` (flags, checked), ``schema`` / ``roster`` / ``pace`` / ``ledger`` (the
SQLite tables: tokens, each student's own minutes and lanes, reservations, the class's pace, the wall),
``upkeep`` (the one disk bound), ``intake`` (what a student may send), ``upstream`` (the forwarding client
and the offline fallback), ``answers`` / ``core`` (one request's path), ``asgi`` / ``wall`` / ``app``
(HTTP), ``protocol`` (uvicorn's h11 with deadlines), ``server`` / ``commands`` (the CLI).

May import ``offline`` (its server machinery and renderer), ``generation``, ``client``, ``store`` and the
ground; never ``widgets`` (its sibling), the features or the notebook and CLI front ends.
"""

from __future__ import annotations

__all__: list[str] = []
