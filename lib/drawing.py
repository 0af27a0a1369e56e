"""Drawing primitives the built-in data sets share (no TensorFlow): a smooth random background,
and a font's symbols as coverage masks. The shapes (``lib/images.py``), plates (``lib/studies/plates.py``)
and traffic signs (``lib/studies/signs.py``) draw with them."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np


def background(rng: np.random.Generator, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A smooth random colour gradient with a faint texture over the grid ``(x, y)`` (0..1)."""
    base = rng.uniform(0, 255, 3)
    grad = rng.uniform(-80, 80, 3)
    ang = rng.uniform(0, 2 * np.pi)
    t = (x * np.cos(ang) + y * np.sin(ang))[..., None]
    freq = rng.uniform(4, 14)
    texture = 15 * np.sin(2 * np.pi * freq * (x + rng.uniform()) + 3 * y)[..., None]
    return base + grad * t + texture


@functools.lru_cache(maxsize=None)
def glyph_masks(font: str, px: int, symbols: str) -> dict[str, np.ndarray]:
    """Every symbol of ``symbols`` in ``font`` (a file of matplotlib's bundled fonts) as a float
    coverage mask (0..1), ``px`` points high."""
    import matplotlib
    from matplotlib import ft2font

    face = ft2font.FT2Font(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / font))
    face.set_size(px, 72)
    out = {}
    for c in symbols:
        face.clear()
        face.set_text(c)
        face.draw_glyphs_to_bitmap(antialiased=True)
        out[c] = np.asarray(face.get_image(), dtype="float32") / 255.0
    return out
