"""The built-in traffic signs (seed 001's stand-in data): a deterministic sign generator with country
styles, scenes with bounding boxes (the detector study's), and a loader for a user's sign folders
per country. No TensorFlow here; :mod:`lib.studies.signs` runs the study on them.

Classes follow GTSRB's families (43 at most): red-ringed prohibitory discs (speed limits and
prohibitions), red-bordered warning triangles, blue mandatory discs, and the specials (yield,
stop, priority road, no entry). A *country* is a drawing style of the same classes: sign
colours, border width, the fill of warning signs, pictogram stroke and size, the font of the
numbers, and variant pictograms (open or filled arrow heads, other figures). Country ``A`` is the
reference; ``B`` (yellow warning signs, thick borders, serif numbers, other pictograms, another
red and blue) and ``C`` (square mandatory signs, thin borders, mono numbers, small pictograms)
are two target countries. ``shift`` in [0, 1] moves a target country's style from ``A``
(``shift=0``: exactly country A's distribution) to its own (``shift=1``): continuous features are
interpolated, and each discrete feature (font, pictogram variant, sign shape) is the target's
with probability ``shift``. Any built-in country can be the reference (``reference``) instead of A.

Images are uint8 RGB in 0-255 (models preprocess inside). Every random draw is made whatever the
country, so country B at ``shift=0`` draws the very same images as country A for the same seed.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from lib.drawing import background, glyph_masks

# (class name, family, pictogram), interleaved across families so that the first n classes of
# any n cover every family
_BY_FAMILY = {
    "prohibitory": [("speed_30", "30"), ("speed_50", "50"), ("no_overtaking", "dots2"), ("speed_70", "70"),
                    ("no_trucks", "truck"), ("speed_20", "20"), ("speed_60", "60"), ("speed_80", "80"),
                    ("speed_100", "100"), ("speed_120", "120"), ("no_vehicles", "none"),
                    ("no_pedestrians", "person"), ("no_left_turn", "arrow_l"), ("no_right_turn", "arrow_r")],
    "warning": [("general_caution", "excl"), ("curve_left", "curve_l"), ("crossroads", "plus"),
                ("curve_right", "curve_r"), ("double_curve", "zigzag"), ("bumpy_road", "bumps"),
                ("road_narrows", "narrow"), ("traffic_signals", "dots3"), ("pedestrians", "person"),
                ("children", "persons2"), ("roundabout_ahead", "ring"), ("slippery_road", "skid"),
                ("wild_animals", "animal"), ("road_work", "truck")],
    "mandatory": [("ahead_only", "arrow_u"), ("turn_left", "arrow_l"), ("turn_right", "arrow_r"),
                  ("ahead_or_left", "arrow_ul"), ("ahead_or_right", "arrow_ur"), ("keep_left", "arrow_dl"),
                  ("keep_right", "arrow_dr"), ("roundabout", "ring"), ("bicycles", "dots2"), ("footpath", "person"),
                  ("snow_chains", "plus")],
    "yield": [("yield", "none")],
    "stop": [("stop", "bar")],
    "priority": [("priority_road", "none")],
    "no_entry": [("no_entry", "bar")],
}


def _interleave() -> list[tuple[str, str, str]]:
    out, lists = [], {f: list(v) for f, v in _BY_FAMILY.items()}
    while any(lists.values()):
        for family, items in lists.items():
            if items:
                name, pict = items.pop(0)
                out.append((name, family, pict))
    return out


CLASSES: list[tuple[str, str, str]] = _interleave()
CLASS_NAMES = [c[0] for c in CLASSES]
MAX_CLASSES = len(CLASSES)
assert MAX_CLASSES == 43 and len(set(CLASS_NAMES)) == 43

FAMILY_SHAPE = {"prohibitory": "circle", "warning": "triangle_up", "mandatory": "circle", "yield": "triangle_down",
                "stop": "octagon", "priority": "diamond", "no_entry": "circle"}


@dataclass(frozen=True)
class Style:
    """How one country draws its signs. Colours are RGB 0-255; sizes are fractions of the sign radius."""

    red: tuple[float, float, float]
    blue: tuple[float, float, float]
    warning_fill: tuple[float, float, float]
    ink: tuple[float, float, float]
    border: float  # width of the coloured ring
    stroke: float  # half-width of pictogram strokes
    pictogram: float  # pictogram scale
    font: str  # font of numbers (one of matplotlib's)
    variant: int  # 0: reference pictograms; 1, 2: the country's own drawings
    mandatory_shape: str  # circle or square


COUNTRIES: dict[str, Style] = {
    "A": Style(red=(196, 28, 36), blue=(24, 72, 168), warning_fill=(240, 240, 236), ink=(22, 22, 22),
               border=0.20, stroke=0.085, pictogram=1.0, font="DejaVuSans-Bold.ttf", variant=0,
               mandatory_shape="circle"),
    "B": Style(red=(228, 70, 40), blue=(40, 120, 205), warning_fill=(250, 204, 30), ink=(40, 36, 60),
               border=0.28, stroke=0.10, pictogram=0.9, font="DejaVuSerif-Bold.ttf", variant=1,
               mandatory_shape="circle"),
    "C": Style(red=(170, 20, 60), blue=(20, 110, 120), warning_fill=(236, 236, 236), ink=(10, 10, 10),
               border=0.12, stroke=0.065, pictogram=0.75, font="DejaVuSansMono-Bold.ttf", variant=2,
               mandatory_shape="square"),
}
_DISCRETE = ("font", "variant", "mandatory_shape")


def check_country(country: str) -> str:
    if country not in COUNTRIES:
        raise ValueError(f"unknown country {country!r}; built-in countries: {', '.join(COUNTRIES)}")
    return country


def check_n_classes(n_classes: int) -> int:
    if not 2 <= n_classes <= MAX_CLASSES:
        raise ValueError(f"n_classes must lie in 2..{MAX_CLASSES} (the built-in sign classes); received {n_classes}")
    return n_classes


def style_of(country: str, shift: float, reference: str = "A") -> tuple[Style, Style, Style]:
    """``(continuous, own, reference)`` styles of ``country`` at ``shift`` from ``reference``:
    the continuous style is interpolated from the reference country's; a discrete feature is the
    country's own per image with probability ``shift``, else the reference's."""
    check_country(country)
    check_country(reference)
    if shift < 0:
        raise ValueError(f"shift must be >= 0; received {shift}")
    a, b = COUNTRIES[reference], COUNTRIES[country]
    mixed = {}
    for f in fields(Style):
        va, vb = getattr(a, f.name), getattr(b, f.name)
        if f.name in _DISCRETE:
            mixed[f.name] = va
        elif isinstance(va, tuple):
            mixed[f.name] = tuple(float(np.clip(x + shift * (y - x), 0, 255)) for x, y in zip(va, vb))
        else:
            mixed[f.name] = float(max(0.02, va + shift * (vb - va)))
    return Style(**mixed), b, a


# ---------------------------------------------------------------------------------------------
# Drawing: every shape and pictogram is a mask over sign coordinates (u, v), radius 1, v down.

def _shape_mask(shape: str, u, v):
    if shape == "circle":
        return u**2 + v**2 < 1
    if shape == "square":
        return np.maximum(abs(u), abs(v)) < 0.86
    if shape == "triangle_up":
        return (v < 0.62) & (v > -1.0 + 1.72 * abs(u))
    if shape == "triangle_down":
        return (v > -0.62) & (v < 1.0 - 1.72 * abs(u))
    if shape == "octagon":
        return (abs(u) < 0.92) & (abs(v) < 0.92) & (abs(u) + abs(v) < 1.3)
    if shape == "diamond":
        return abs(u) + abs(v) < 1
    raise ValueError(shape)


_SHAPE_CENTRE = {"triangle_up": 0.08, "triangle_down": -0.08}  # centroid offsets along v


def _arrow(u, v, w, open_head: bool):
    """An arrow pointing up (-v), centred, length about 1.1."""
    shaft = (abs(u) < w) & (v > -0.2) & (v < 0.55)
    if open_head:
        head = (abs(v + 0.2 - 0.9 * abs(u) + 0.35) < w * 1.1) & (abs(u) < 0.42)
    else:
        head = (v < -0.15) & (v > -0.6 + 1.1 * abs(u))
    return shaft | head


def _rot(u, v, angle):
    c, s = np.cos(angle), np.sin(angle)
    return u * c - v * s, u * s + v * c


def _person(u, v, w, variant):
    head_r = 0.13 if variant != 1 else 0.17
    head = u**2 + (v + 0.42) ** 2 < head_r**2
    body = (abs(u) < w) & (v > -0.28) & (v < 0.15)
    legs = (abs(abs(u) - 0.45 * (v - 0.15)) < w * 0.9) & (v > 0.15) & (v < 0.55)
    arms = (abs(v + 0.12 + (0.25 * abs(u) if variant == 2 else 0)) < w * 0.8) & (abs(u) < 0.32)
    return head | body | legs | arms


def _pictogram(name: str, u, v, w: float, variant: int, font: str, size_px: int):
    """Mask of pictogram ``name`` in pictogram coordinates (about |u|, |v| < 0.6)."""
    if name == "none":
        return np.zeros(u.shape, bool)
    if name.isdigit():
        return _text_mask(name, u, v, font, size_px)
    d = np.sqrt(u**2 + v**2)
    open_head = variant == 1
    if name.startswith("arrow_"):
        angle = {"u": 0.0, "l": -np.pi / 2, "r": np.pi / 2, "dl": -3 * np.pi / 4, "dr": 3 * np.pi / 4}
        kind = name[6:]
        if kind in angle:
            ru, rv = _rot(u, v, angle[kind])
            return _arrow(ru, rv, w, open_head)
        side = -1 if kind == "ul" else 1  # ahead or left / right: two arrows
        ru, rv = _rot(u - side * 0.18, v, side * np.pi / 2)
        return _arrow(u + side * 0.15, v, w, open_head) | (_arrow(ru * 1.4, rv * 1.4 + 0.2, w * 1.4, open_head)
                                                          & (side * u > 0))
    if name == "excl":
        if variant == 2:
            return (abs(u) < w * 0.7) & (v > -0.5) & (v < 0.5)
        return ((abs(u) < w * (1.1 - 0.5 * (v + 0.5))) & (v > -0.5) & (v < 0.2)) | (u**2 + (v - 0.38) ** 2 < (w * 1.3) ** 2)
    if name in ("curve_l", "curve_r"):
        s = -1 if name == "curve_l" else 1
        uu = s * u
        arc = (abs(np.sqrt((uu + 0.45) ** 2 + (v + 0.45) ** 2) - 0.75) < w) & (uu > -0.45) & (v > -0.45)
        tip = (abs(uu + 0.45) < 0.3) & (v < -0.3) & (v > -0.7 + 1.2 * abs(uu + 0.45)) if variant != 1 else \
            (abs(v + 0.45 - 1.0 * abs(uu + 0.45)) < w) & (abs(uu + 0.45) < 0.3)
        return arc | tip
    if name == "zigzag":
        return (abs(u - 0.22 * np.sin(6 * v + (0.8 if variant else 0))) < w) & (abs(v) < 0.55)
    if name == "bumps":
        top = 0.3 - 0.28 * np.abs(np.cos(3.2 * u + (0.5 if variant else 0)))
        return (v < 0.3) & (v > top) & (abs(u) < 0.6)
    if name == "narrow":
        return (abs(abs(u) - (0.12 + 0.3 * (v + 0.5))) < w * 0.9) & (abs(v) < 0.55)
    if name == "dots3":
        return sum(u**2 + (v - c) ** 2 < 0.14**2 for c in (-0.38, 0, 0.38)).astype(bool) | \
            ((abs(u) < 0.2) & (abs(v) < 0.58) & ~((abs(u) < 0.16) & (abs(v) < 0.54)) if variant else False)
    if name == "dots2":
        r = 0.2 if variant != 1 else 0.16
        return ((u - 0.26) ** 2 + v**2 < r**2) | ((u + 0.26) ** 2 + v**2 < r**2)
    if name == "plus":
        bar = w * (1.0 if variant != 1 else 1.4)
        return ((abs(u) < bar) & (abs(v) < 0.55)) | ((abs(v) < bar) & (abs(u) < 0.55))
    if name == "ring":
        ring = (d < 0.5) & (d > 0.5 - 2 * w)
        return ring | ((abs(u - 0.5) < 0.15) & (v < 0) & (v > -0.3)) if variant else ring
    if name == "person":
        return _person(u, v, w, variant)
    if name == "persons2":
        return _person((u + 0.2) * 1.3, (v - 0.1) * 1.3, w * 1.3, variant) | _person((u - 0.22) * 1.1, v * 1.1, w * 1.1, variant)
    if name == "truck":
        body = (abs(u) < 0.5) & (v > -0.3) & (v < 0.15)
        cab = (u > 0.5) & (u < 0.68) & (v > -0.1) & (v < 0.15) if variant != 2 else np.zeros(u.shape, bool)
        wheels = ((u + 0.3) ** 2 + (v - 0.25) ** 2 < 0.1**2) | ((u - 0.35) ** 2 + (v - 0.25) ** 2 < 0.1**2)
        return body | cab | wheels
    if name == "skid":
        return (abs(v - 0.35 - 0.15 * np.sin(7 * u)) < w * 0.8) & (abs(u) < 0.55) | \
            ((abs(u) < 0.28) & (v > -0.45) & (v < -0.05))
    if name == "animal":
        body = ((u / 0.38) ** 2 + (v / 0.18) ** 2 < 1)
        neck = (abs(u + 0.35 + 0.5 * (v + 0.1)) < w) & (v < 0) & (v > -0.45)
        legs = (abs(np.abs(u) - 0.25) < w * 0.7) & (v > 0) & (v < 0.45)
        return body | neck | legs if variant != 1 else body | legs | (((u - 0.45) ** 2 + (v + 0.3) ** 2) < 0.15**2)
    if name == "bar":
        return (abs(v) < 0.16) & (abs(u) < 0.62)
    raise ValueError(f"unknown pictogram {name!r}")


@functools.lru_cache(maxsize=256)
def _text_bitmap(text: str, font: str) -> np.ndarray:
    """``text`` as a coverage mask (0..1) in ``font``, tight to the ink."""
    from lib.datasets.plates import ALPHABET

    glyphs = [glyph_masks(font, 40, ALPHABET)[c] for c in text]
    h = max(g.shape[0] for g in glyphs)
    out = np.zeros((h, sum(g.shape[1] for g in glyphs) + 2 * (len(glyphs) - 1)), "float32")
    x = 0
    for g in glyphs:
        out[h - g.shape[0]:, x:x + g.shape[1]] = g
        x += g.shape[1] + 2
    return out


def _text_mask(text: str, u, v, font: str, size_px: int):
    """``text`` fitted into the box |u| < 0.62, |v| < 0.36, sampled at (u, v)."""
    from scipy.ndimage import map_coordinates

    bmp = _text_bitmap(text, font)
    h, w = bmp.shape
    half_w = min(0.62, 0.36 * w / h)
    half_h = half_w * h / w
    rows = (v + half_h) / (2 * half_h) * (h - 1)
    cols = (u + half_w) / (2 * half_w) * (w - 1)
    return map_coordinates(bmp, [rows, cols], order=1, cval=0.0) > 0.45


def _paint_sign(img: np.ndarray, x, y, cls: int, style: Style, own: Style, ref: Style, use_own: np.ndarray,
                cx: float, cy: float, r: float, angle: float, shear: float, size_px: int) -> None:
    """Paint sign ``cls`` onto ``img`` (float, sampled at grid ``x``, ``y``), centred at
    (``cx``, ``cy``) with radius ``r`` (unit-square coordinates). ``use_own`` holds three flags:
    whether the font, pictogram variant and sign shape are the country's own (``own``) or the
    reference country's (``ref``)."""
    _, family, pict = CLASSES[cls]
    font = (own if use_own[0] else ref).font
    variant = (own if use_own[1] else ref).variant
    shape = FAMILY_SHAPE[family]
    if family == "mandatory" and (own if use_own[2] else ref).mandatory_shape == "square":
        shape = "square"
    u, v = _rot((x - cx) / r, (y - cy) / r, -angle)
    u = u + shear * v
    outer = _shape_mask(shape, u, v)
    if not outer.any():
        return
    c0 = _SHAPE_CENTRE.get(shape, 0.0)
    k = 1 - style.border
    inner = _shape_mask(shape, u / k, (v - c0) / k + c0)
    red, blue, white = np.asarray(style.red), np.asarray(style.blue), np.array([238.0, 238, 234])
    ink = np.asarray(style.ink)
    if family in ("prohibitory", "yield"):
        ring, fill, pict_colour = red, white, ink
    elif family == "warning":
        ring, fill, pict_colour = red, np.asarray(style.warning_fill), ink
    elif family == "mandatory":
        ring, fill, pict_colour = white, blue, white
        inner = _shape_mask(shape, u / 0.94, v / 0.94)  # a thin white rim
    elif family == "stop":
        ring, fill, pict_colour = white, red, white
        inner = _shape_mask(shape, u / 0.92, v / 0.92)
    elif family == "priority":
        ring, fill, pict_colour = white, np.array([250.0, 200, 30]), ink
        inner = _shape_mask(shape, u / 0.72, v / 0.72)
    else:  # no_entry: a red disc with a white bar
        ring, fill, pict_colour = red, red, white
    img[outer] = ring
    img[inner] = fill
    # the pictogram sits in the inner area (lower in a warning triangle)
    s = 0.62 * k * style.pictogram
    pu, pv = u / s, (v - (0.18 if shape == "triangle_up" else 0.0)) / s
    if family == "prohibitory" and pict == "none":
        return
    mask = _pictogram(pict, pu, pv, style.stroke / s, variant, font, size_px) & inner
    img[mask] = pict_colour
    if family == "prohibitory" and pict in ("arrow_l", "arrow_r", "person"):  # "no ...": a red slash
        img[(abs(u + v) < 0.09) & inner] = red


def _render(rng: np.random.Generator, size: int, labels_and_places, styles: tuple[Style, Style, Style],
            shift: float, supersample: int = 2) -> np.ndarray:
    """One image: background, each ``(cls, cx, cy, r)`` sign with random pose, light, blur, noise."""
    from scipy.ndimage import gaussian_filter


    n = size * supersample
    ys, xs = np.mgrid[0:n, 0:n].astype("float32")
    x, y = (xs + 0.5) / n, (ys + 0.5) / n
    img = background(rng, x, y)
    for cls, cx, cy, r in labels_and_places:
        angle, shear = rng.normal(0, 0.08), rng.normal(0, 0.1)
        use_own = rng.uniform(size=3) < shift
        _paint_sign(img, x, y, cls, *styles, use_own, cx, cy, r, angle, shear, size)
    img = img.reshape(size, supersample, size, supersample, 3).mean(axis=(1, 3))
    light = 1 + rng.uniform(-0.3, 0.3) * (x[::supersample, ::supersample] - 0.5) + rng.uniform(-0.35, 0.15)
    img = img * light[..., None]
    sigma = rng.uniform(0, 0.9) * size / 48
    if sigma > 0.05:
        img = gaussian_filter(img, sigma=(sigma, sigma, 0))
    return np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype("uint8")


def make_signs(n_per_class: int, size: int = 32, *, country: str = "A", shift: float = 1.0,
               n_classes: int = MAX_CLASSES, seed: int = 0, reference: str = "A") -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``n_per_class`` images of each of the first ``n_classes`` sign classes drawn in
    ``country``'s style at ``shift`` from ``reference`` (see the module text), one centred sign per image with
    random size, position, turn, shear, light, blur and noise. Deterministic in ``seed``; the
    first ``k`` images of a class are the same whatever ``n_per_class`` (nested sizes), and
    images come round-robin over the classes. Returns images ``(n, size, size, 3)`` uint8, labels and class names."""
    check_n_classes(n_classes)
    if size < 16:
        raise ValueError(f"size must be at least 16 pixels; received {size}")
    styles = style_of(country, shift, reference)
    x = np.empty((n_per_class, n_classes, size, size, 3), "uint8")
    for cls in range(n_classes):  # one random stream per class: nested sizes
        rng = np.random.default_rng([seed, cls, 40_000])
        for j in range(n_per_class):
            place = (cls, *rng.uniform(0.42, 0.58, 2), rng.uniform(0.34, 0.46))
            x[j, cls] = _render(rng, size, [place], styles, shift)
    # ordered round-robin over classes (image j of every class, then j + 1): the first k * n_classes
    # images hold k of each class
    labels = np.tile(np.arange(n_classes, dtype="int64"), n_per_class)
    return x.reshape(-1, size, size, 3), labels, CLASS_NAMES[:n_classes]


def take_per_class(x: np.ndarray, y: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``k`` examples of every class (in order of appearance): nested subsets."""
    keep = np.concatenate([np.flatnonzero(y == c)[:k] for c in np.unique(y)])
    keep.sort()
    return x[keep], y[keep]


def make_scene(size: int = 128, n_signs: int = 3, *, country: str = "A", shift: float = 1.0,
               n_classes: int = MAX_CLASSES, seed: int = 0, reference: str = "A") -> tuple[np.ndarray, np.ndarray]:
    """A larger scene with ``n_signs`` signs of random classes and sizes (not overlapping), for
    a detector. Returns the image and boxes ``(n_signs, 5)``: ``x0, y0, x1, y1`` in pixels
    (the sign's full extent) and the class index."""
    check_n_classes(n_classes)
    styles = style_of(country, shift, reference)
    rng = np.random.default_rng([seed, 40_002])
    places, boxes = [], []
    for _ in range(n_signs):
        for _try in range(100):
            r = rng.uniform(0.06, 0.14)
            cx, cy = rng.uniform(r + 0.02, 1 - r - 0.02, 2)
            if all(abs(cx - p[1]) > r + p[3] or abs(cy - p[2]) > r + p[3] for p in places):
                break
        else:
            raise ValueError(f"cannot place {n_signs} signs without overlap in one scene")
        cls = int(rng.integers(n_classes))
        places.append((cls, cx, cy, r))
        ext = 1.15 * r  # turned and sheared, a sign stays inside 1.15 radii
        boxes.append([max(0, (cx - ext) * size), max(0, (cy - ext) * size),
                      min(size, (cx + ext) * size), min(size, (cy + ext) * size), cls])
    return _render(rng, size, places, styles, shift), np.asarray(boxes, "float32").reshape(-1, 5)


def load_country_folders(root: str | Path, countries: list[str], size: int) -> dict[str, tuple]:
    """A user's signs, ``root/<country>/<class>/<image>`` (GTSRB or BelgiumTSC style folders,
    one per country): ``{country: (images, labels, class_names)}``. Every country folder must
    exist and hold the same classes, so one label means one sign everywhere; a missing folder,
    a class present in one country only, or an unreadable image is refused by name."""
    from lib.images import check_image_folder, load_image_folder

    root = Path(root)
    missing = [c for c in countries if not (root / c).is_dir()]
    if missing:
        present = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        raise FileNotFoundError(f"{root}: no folder for country {missing} (found: {present}); expected "
                                f"{root}/<country>/<class>/<images>")
    classes = {c: sorted(check_image_folder(root / c)) for c in countries}
    first = countries[0]
    for c in countries[1:]:
        if classes[c] != classes[first]:
            only_a = sorted(set(classes[first]) - set(classes[c]))
            only_b = sorted(set(classes[c]) - set(classes[first]))
            raise ValueError(f"{root}: countries {first!r} and {c!r} must hold the same classes; only in "
                             f"{first}: {only_a}; only in {c}: {only_b}")
    return {c: load_image_folder(root / c, size) for c in countries}


def make_scenes(n: int, size: int, *, country: str = "A", shift: float = 1.0, n_classes: int = 4, max_signs: int = 3,
                seed: int = 0, reference: str = "A") -> tuple[np.ndarray, list[np.ndarray]]:
    """``n`` built-in scenes (:func:`make_scene`) of 1..``max_signs`` signs each: images
    ``(n, size, size, 3)`` uint8 and per image its boxes ``(k, 5)`` (xyxy pixels + class). Scene ``i``
    depends only on ``seed`` and ``i`` (nested sizes), and country B at ``shift=0`` draws the same scenes as A."""

    rng = np.random.default_rng([seed, 40_010])
    counts = rng.integers(1, max_signs + 1, size=max(n, 0))
    images, boxes = np.empty((n, size, size, 3), "uint8"), []
    for i in range(n):
        images[i], b = make_scene(size, int(counts[i]), country=country, shift=shift, n_classes=n_classes,
                                        seed=seed * 1_000_003 + i, reference=reference)
        boxes.append(b)
    return images, boxes
