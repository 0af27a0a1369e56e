import numpy as np

from lib import drawing


def test_glyph_masks_cover_every_symbol_in_0_1_and_are_cached():
    masks = drawing.glyph_masks("DejaVuSans-Bold.ttf", 30, "A7")
    assert set(masks) == {"A", "7"}
    for m in masks.values():
        assert m.ndim == 2 and m.min() >= 0 and m.max() <= 1 and m.max() > 0.9
    assert drawing.glyph_masks("DejaVuSans-Bold.ttf", 30, "A7") is masks


def test_background_is_deterministic_in_its_generator_and_varies_across_draws():
    y, x = np.mgrid[0:16, 0:16] / 16.0
    a = drawing.background(np.random.default_rng(3), x, y)
    b = drawing.background(np.random.default_rng(3), x, y)
    c = drawing.background(np.random.default_rng(4), x, y)
    assert a.shape == (16, 16, 3) and np.array_equal(a, b) and not np.allclose(a, c)
