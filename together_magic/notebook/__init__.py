"""The notebook front end: ``%%imagine`` and its friends, and the rewriter that lets a cell ``await``.

Owns: ``magic`` (the magics: parse, plan, run, bind, return) and ``rewriter`` (the cell transformer).
``%load_ext`` loads only these two and their cheap imports; everything else loads on first use. May
import every wing below it; nothing imports it but the package face.
"""
