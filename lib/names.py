"""The lab's one "did you mean": the nearest known names to a mistyped one (no TensorFlow, no
other import of the lab: every layer may use it)."""

from __future__ import annotations

import difflib


def hint(name: str, known, n: int = 2, prefix: str = "") -> str:
    """``"; did you mean 'x' or 'y'?"``: the ``n`` names of ``known`` closest to a mistyped ``name``
    (``difflib``), each shown with ``prefix``; ``""`` when none is close. The one "did you mean" of the lab."""
    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=n)
    return f"; did you mean {' or '.join(repr(prefix + c) for c in close)}?" if close else ""
