"""Traffic signs for seed 001: a deterministic sign generator with country styles, scenes with
bounding boxes (for a later detector study), and a loader for a user's sign folders per country.

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

from lib.checks import BLOCKS, WEIGHT_NAMES, arch_name, hint, one_arch, weights_problem

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
    from lib.studies.plates import ALPHABET

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


# ---------------------------------------------------------------------------------------------
# The study's arms on the target country (notebooks/signs.ipynb)

SIGN_ARMS = {
    "zero_shot": "the country-A model applied to country B as it is",
    "scratch": "random weights, every layer trained on B",
    "finetune": "the country-A model (base and head), every layer trained on B",
    "frozen": "the country-A convolutions frozen, the head trained on B (a linear probe)",
    "freeze_first:K": "the country-A model with its first K blocks frozen, the rest trained on B",
    "lp_ft": "linear probe, then every layer fine-tuned (Kumar et al. 2022)",
    "surgical:BLOCK": "only one block of the country-A model (and the head) trained on B (Lee et al. 2023)",
    "compute_matched": "from scratch, trained for as many steps as source training and fine-tuning together",
}


def check_arm(name: str) -> str:
    """Refuse an arm name the study does not know, naming the nearest."""
    from lib.checks import table_arm

    return table_arm(name, SIGN_ARMS, "sign-study arm")


def arm_spec(name: str, arch: str, train_learning_rate: float) -> tuple[str | None, bool]:
    """``(spec for lib.transfer.run_image_arm, starts from the country-A model)`` of a study arm.
    Every arm that trains convolutions does so at ``train_learning_rate``; ``frozen`` trains its
    head at the study's head learning rate; ``lp_ft`` is the two-stage recipe."""
    kind, _, arg = check_arm(name).partition(":")
    lr = f"@{train_learning_rate:g}"
    return {
        "zero_shot": (None, True),
        "scratch": (f"{arch}:scratch{lr}", False),
        "compute_matched": (f"{arch}:scratch{lr}", False),
        "finetune": (f"{arch}:finetune{lr}", True),
        "frozen": (f"{arch}:frozen", True),
        "freeze_first": (f"{arch}:freeze_first:{arg}{lr}", True),
        "lp_ft": (f"{arch}:two_stage", True),
        "surgical": (f"{arch}:surgical:{arg}{lr}", True),
    }[kind]


def compute_matched_epochs(source_epochs: int, n_source: int, epochs: int, n_target: int,
                           batch_size: int) -> int:
    """Epochs on the target that give as many optimiser steps as ``source_epochs`` on the source
    plus ``epochs`` of fine-tuning on the target (He et al. 2019: compare at equal compute)."""
    steps = lambda n: -(-n // batch_size)  # noqa: E731 - batches per epoch
    return -(-(source_epochs * steps(n_source) + epochs * steps(n_target)) // steps(n_target))


def evaluate_domains(model, tasks: dict) -> dict[str, float]:
    """Test accuracy of ``model`` on each named task's test split."""
    from lib import train

    return {f"test_acc_{k}": train.accuracy(model, t.x_test, t.y_test) for k, t in tasks.items()}


# --------------------------------------------------------------------------- the study's runs

def built_in_task(country: str, shift: float, n_train: int, name: str, *, image_size: int, n_classes: int,
                  val_per_class: int, test_per_class: int, data_seed: int, reference: str):
    """A task of the built-in generator: train / validation / test drawn with their own seeds
    (``1000 * data_seed + split``), so every size and shift shares validation and test draws."""
    from lib.data import Task

    (xt, yt, names), (xv, yv, _), (xs, ys, _) = [
        make_signs(n, image_size, country=country, shift=shift, n_classes=n_classes, seed=1000 * data_seed + k,
                   reference=reference)
        for k, n in enumerate((n_train, val_per_class, test_per_class))]
    return Task(name, xt.astype("float32"), yt, xv.astype("float32"), yv, xs.astype("float32"), ys, names)


def with_train(task, k: int, name: str | None = None):
    """``task`` with only the first ``k`` training examples of each class (nested sizes)."""
    from lib.data import Task

    xt, yt = take_per_class(task.x_train, task.y_train, k)
    return Task(name or f"{task.name}, {k}/class", xt, yt, task.x_val, task.y_val, task.x_test, task.y_test,
                task.class_names)


def convergence(hist: dict, n_train: int, target: float) -> tuple[int | None, int | None]:
    """Epochs (and training images) until validation accuracy first reached ``target``."""
    hit = [e for e, v in zip(hist["val_epoch"], hist["val_accuracy"]) if v >= target]
    return (hit[0], hit[0] * n_train) if hit else (None, None)


def epochs_text(values) -> str:
    """Per-seed epochs to target as one cell: ``3, never, 5``."""
    return ", ".join("never" if v is None or v != v else f"{v:.0f}" for v in values)


@dataclass
class SignRuns:
    """The settings every run of the sign study shares, and its two kinds of run: a source model
    on the source country (:meth:`source`), and a target arm on a target task (:meth:`target`),
    which starts from the source model of its seed saved in ``source_files``."""

    arch: str
    image_size: int
    source_task: object
    target_accuracy: float
    epochs: int
    source_epochs: int
    batch_size: int
    learning_rate: float
    train_learning_rate: float
    head_epochs: int
    source_files: dict = None  # seed -> the source model's .weights.h5

    def fit_kwargs(self, seed: int) -> dict:
        return dict(batch_size=self.batch_size, learning_rate=self.learning_rate,
                    finetune_learning_rate=self.train_learning_rate, head_epochs=self.head_epochs, seed=seed)

    def source(self, init: str, seed: int, out_file=None):
        """A country-A model from ``init`` (scratch or pre-trained weights): ``(row, history, parts)``,
        its weights saved to ``out_file`` when given (then the target arms of ``seed`` start from it)."""
        from lib import transfer

        spec = f"{self.arch}:{'scratch' if init == 'scratch' else 'finetune'}@{self.train_learning_rate:g}"
        row, hist, parts = transfer.run_image_arm(spec, self.source_task, self.image_size,
                                                  weights="none" if init == "scratch" else init,
                                                  epochs=self.source_epochs, **self.fit_kwargs(seed))
        if out_file is not None:
            parts.model.save_weights(out_file)
            self.source_files = {**(self.source_files or {}), seed: out_file}
        return row, hist, parts

    def target(self, name: str, task, seed: int, size: int, shift: float):
        """One target arm (:data:`SIGN_ARMS`) on ``task``: ``(row, history)``; the row holds both
        countries' test accuracy, convergence and cost; ``zero_shot`` trains nothing (history None)."""
        from lib import train, transfer

        spec, from_source = arm_spec(name, self.arch, self.train_learning_rate)
        base = {"arm": name, "size": size, "seed": seed, "shift": shift}
        domains = {"A": self.source_task, "B": task}
        if spec is None:  # zero-shot: the source model as it is
            model, _ = transfer.build_image_classifier(self.arch, self.image_size, task.n_classes, policy="frozen")
            model.load_weights(self.source_files[seed])
            val = train.accuracy(model, task.x_val, task.y_val)
            hit = 0 if val >= self.target_accuracy else None
            return {**base, "val_acc": val, "best_val_acc": val, "epochs_to_target": hit, "images_to_target": hit,
                    "wall_s": 0.0, "epochs": 0, "trainable_params": 0, **evaluate_domains(model, domains)}, None
        n_epochs, vfreq = self.epochs, 1
        if name == "compute_matched":
            n_epochs = compute_matched_epochs(self.source_epochs, len(self.source_task.y_train), self.epochs,
                                              len(task.y_train), self.batch_size)
            vfreq = max(1, n_epochs // self.epochs)
            n_epochs = -(-n_epochs // vfreq) * vfreq  # validate at the last epoch too
        row, hist, parts = transfer.run_image_arm(spec, task, self.image_size, weights="none", epochs=n_epochs,
                                                  init_weights=str(self.source_files[seed]) if from_source else None,
                                                  validation_freq=vfreq, **self.fit_kwargs(seed))
        ep, imgs = convergence(hist, len(task.y_train), self.target_accuracy)
        return {**base, "val_acc": row["val_acc"], "best_val_acc": row["best_val_acc"], "epochs_to_target": ep,
                "images_to_target": imgs, "wall_s": row["wall_s"], "epochs": n_epochs,
                "trainable_params": row["trainable_params"], "test_acc_B": row["test_acc"],  # the runner's own test pass
                "correct_B": row["test_correct"],
                **evaluate_domains(parts.model, {"A": self.source_task})}, hist


# --------------------------------------------------------------------------- the report's steps
# (notebooks/signs.ipynb: each cell calls one of these with the run's parameters ``p``)

def prepare(p: dict) -> list[str]:
    """Before any data or training: every pre-trained initialisation's weights can be had (offline
    ``imagenet`` or missing source weights fail now). Returns the architecture's block names."""
    from lib import backbones

    for init in p["source_inits"]:
        if init != "scratch":
            backbones.check_weights(p["arch"], p["image_size"], init)
    return backbones.get(p["arch"]).blocks(backbones.build_backbone(p["arch"], p["image_size"], "none")[1])


def task_kwargs(p: dict) -> dict:
    return dict(image_size=p["image_size"], n_classes=p["n_classes"], val_per_class=p["val_per_class"],
                test_per_class=p["test_per_class"], data_seed=p["data_seed"], reference=p["source_country"])


def largest_size(p: dict) -> int:
    """The most target examples per class any part of the run takes."""
    return max([*p["target_sizes"], p["surgical_size"], p["shift_size"]])


def load_tasks(p: dict):
    """``(source task, target task, note)``: the built-in countries (the target drawn at ``shift``,
    :func:`largest_size` examples per class to take nested sizes from), or ``sign_dir``'s folders;
    ``note`` says when a folder's smallest class holds fewer examples than a size asks (else "")."""
    from lib.data import split_task

    src_c, tgt_c, k = p["source_country"], p["target_country"], largest_size(p)
    if p["sign_dir"]:
        loaded = load_country_folders(p["sign_dir"], [src_c, tgt_c], p["image_size"])
        src, tgt = (split_task(c, *loaded[c], seed=p["data_seed"]) for c in (src_c, tgt_c))
        have = int(np.bincount(tgt.y_train).min())
        note = (f"**Note:** {tgt_c} has only {have} training images in its smallest class; sizes above {have} per "
                f"class use what there is.") if have < k else ""
        return src, tgt, note
    src = built_in_task(src_c, 1.0, p["source_per_class"], f"country {src_c}", **task_kwargs(p))
    tgt = built_in_task(tgt_c, p["shift"], k, f"country {tgt_c} (shift {p['shift']:g})", **task_kwargs(p))
    return src, tgt, ""


def plot_countries(src, tgt, source_country: str, target_country: str, most: int = 12):
    """The first training example of each class in both countries, one row each."""
    import matplotlib.pyplot as plt

    show = min(src.n_classes, most)
    fig, axes = plt.subplots(2, show, figsize=(1.1 * show, 2.8), squeeze=False)
    for row, (task, label) in enumerate([(src, source_country), (tgt, target_country)]):
        for c in range(show):
            ax = axes[row, c]
            ax.imshow(task.x_train[np.flatnonzero(task.y_train == c)[0]].astype("uint8")); ax.axis("off")
            if row == 0:
                ax.set_title(task.class_names[c].replace("_", " "), fontsize=6)
        axes[row, 0].text(-0.3, 0.5, label, transform=axes[row, 0].transAxes, ha="right", va="center")
    fig.suptitle(f"The same classes in the source country {source_country} (top) and the target {target_country} (bottom)")
    fig.tight_layout()
    return fig


def data_markdown(src, tgt, p: dict) -> str:
    n = src.n_classes
    return (f"{n} classes, {p['image_size']}x{p['image_size']} px raw pixels (every model preprocesses inside). "
            f"Source country {p['source_country']}: {src.sizes()}. Target country {p['target_country']}: a pool of "
            f"{tgt.sizes()['train']} training images ({largest_size(p)} per class), of which each size takes the first k "
            f"per class, and validation {tgt.sizes()['validation']}, test {tgt.sizes()['test']}. Chance is {1 / n:.3f}.")


def runs(p: dict, src) -> "SignRuns":
    """The run's :class:`SignRuns` from its parameters."""
    keys = ("arch", "image_size", "target_accuracy", "epochs", "source_epochs", "batch_size", "learning_rate",
            "train_learning_rate", "head_epochs")
    return SignRuns(source_task=src, **{k: p[k] for k in keys})


def run_sources(runs_: "SignRuns", p: dict, seeds, domains: dict, record, work: Path):
    """Every source initialisation for every seed: rows of validation and both countries' test
    accuracy, epochs to target and wall time; the ``transfer_from`` models saved under ``work`` for
    the target arms. One line per initialisation."""
    import pandas as pd

    from lib import report

    out = []
    for init in p["source_inits"]:
        for s in seeds:
            keep = work / f"source_{s}.weights.h5" if init == p["transfer_from"] else None
            row, hist, parts = runs_.source(init, s, out_file=keep)
            tested = {"test_acc_A": row["test_acc"], "correct_A": row["test_correct"],  # the runner's own test pass
                      **evaluate_domains(parts.model, {k: t for k, t in domains.items() if k != "A"})}
            record.add_history(f"source:{init}", s, hist, test_acc=tested["test_acc_A"])
            ep, _ = convergence(hist, len(runs_.source_task.y_train), runs_.target_accuracy)
            out.append({"init": init, "seed": s, "val_acc": row["val_acc"], "epochs_to_target": ep,
                        "wall_s": row["wall_s"], **tested})
        print(f"source model ({init}): {p['source_country']} test "
              + report.mean_sd([r["test_acc_A"] for r in out if r["init"] == init]))
    return pd.DataFrame(out)


def run_targets(runs_: "SignRuns", tgt, p: dict, seeds, record) -> list[dict]:
    """Every arm of ``arms`` at every target size for every seed (histories to ``record``, named
    ``arm @ k/class``); one line per arm and size."""
    from lib import report

    rows = []
    for k in p["target_sizes"]:
        task = with_train(tgt, k)
        for name in p["arms"]:
            for s in seeds:
                row, hist = runs_.target(name, task, s, k, p["shift"])
                rows.append(row)
                if hist is not None:
                    record.add_history(f"{name} @ {k}/class", s, hist, test_acc=row["test_acc_B"])
            got = [r["test_acc_B"] for r in rows if r["arm"] == name and r["size"] == k]
            print(f"{k:>3}/class  {name:<16} {p['target_country']} test {report.mean_sd(got)}")
    return rows


def plot_sizes(rows, p: dict, n_classes: int):
    """Test accuracy of each arm against the target examples per class, on both countries."""
    import seaborn as sns

    sizes, tc, sc = p["target_sizes"], p["target_country"], p["source_country"]
    long = rows.melt(id_vars=["arm", "size", "seed"], value_vars=["test_acc_B", "test_acc_A"], var_name="split",
                     value_name="accuracy")
    long["split"] = long.split.map({"test_acc_B": f"country {tc} test (target, out-of-distribution)",
                                    "test_acc_A": f"country {sc} test (source, in-distribution)"})
    g = sns.relplot(data=long, x="size", y="accuracy", hue="arm", hue_order=p["arms"], col="split", kind="line",
                    marker="o", errorbar="sd", height=3.8, aspect=1.25, facet_kws={"sharey": True})
    for ax in g.axes.flat:
        ax.set_xscale("log", base=2); ax.set_xticks(sizes, [str(k) for k in sizes])
        ax.axhline(1 / n_classes, color="grey", ls=":", lw=1)
    g.set_axis_labels("target training examples per class", "test accuracy")
    g.figure.suptitle(f"Test accuracy of each arm against the number of {tc} examples (mean ± sd, {p['n_seeds']} seeds)",
                      y=1.03)
    return g


def plot_convergence(history: dict, p: dict):
    """Validation accuracy per epoch of every trained target arm, one panel per size."""
    import seaborn as sns

    from lib import report

    curves = report.history_frame({a: h for a, h in history.items() if " @ " in a})
    curves = curves[curves.metric == "val_accuracy"].copy()
    curves["size"] = curves.arm.str.split(" @ ").str[1]
    curves["arm"] = curves.arm.str.split(" @ ").str[0]
    g = sns.relplot(data=curves, x="epoch", y="value", hue="arm", hue_order=[a for a in p["arms"] if a != "zero_shot"],
                    col="size", kind="line", errorbar="sd", height=3.3, aspect=1.1, facet_kws={"sharex": False})
    for ax in g.axes.flat:
        ax.axhline(p["target_accuracy"], color="grey", ls="--", lw=1)
    g.set_axis_labels("epoch", "validation accuracy")
    g.figure.suptitle(f"Convergence on country {p['target_country']}: validation accuracy per epoch "
                      f"(dashed: target {p['target_accuracy']})", y=1.04)
    return g


def _runs_at(runs_: "SignRuns", rows, names, task, seeds, size: int, shift: float) -> list[dict]:
    """The rows of ``names`` at ``size`` and ``shift``: those already in ``rows``, the rest run now."""
    out = []
    for name in names:
        done = [r for r in rows if r["arm"] == name and r["size"] == size and np.isclose(r["shift"], shift)]
        out += done or [runs_.target(name, task, s, size, shift)[0] for s in seeds]
    return out


def surgical_sweep(runs_: "SignRuns", tgt, rows, p: dict, blocks: list[str], seeds, n_test: int):
    """At ``surgical_size`` per class, each block trained alone with the head, against the head
    alone (``frozen``) and every layer (``finetune``), reusing runs already made. Returns the rows
    (``trained``: what trained) and a summary: the best single block chosen on validation, its test
    accuracy against every layer trained, with the paired interval."""
    import pandas as pd

    from lib import claims as C

    k = p["surgical_size"]
    names = [f"surgical:{b}" for b in blocks] + ["frozen", "finetune"]
    out = pd.DataFrame(_runs_at(runs_, rows.to_dict(orient="records"), names, with_train(tgt, k), seeds, k, p["shift"]))
    out["trained"] = out.arm.map(lambda a: a.split(":")[1] if a.startswith("surgical:") else
                                 {"frozen": "head only", "finetune": "all layers"}[a])
    best = out.groupby("trained", sort=False).best_val_acc.mean()[list(blocks)].idxmax()  # on validation
    full = out[out.arm == "finetune"].sort_values("seed").test_acc_B.tolist()
    one = out[out.arm == f"surgical:{best}"].sort_values("seed").test_acc_B.tolist()
    iv = C.paired_interval(one, full, n_test)
    return out, {"best_block": best, "best_block_acc": float(np.mean(one)), "finetune_acc": float(np.mean(full)),
                 "diff": iv.diff, "ci": [iv.low, iv.high], "text": iv.text(),
                 "by_block": out.groupby("trained", sort=False).test_acc_B.mean().to_dict()}


def plot_surgical(surgical, p: dict):
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(8, 3.5))
    sns.barplot(data=surgical, x="trained", y="test_acc_B", errorbar="sd", ax=ax, color="tab:blue")
    ax.axhline(surgical[surgical.arm == "finetune"].test_acc_B.mean(), color="tab:red", ls="--", lw=1,
               label="all layers (mean)")
    ax.set_ylabel(f"country {p['target_country']} test accuracy"); ax.set_xlabel("what trains (besides the head)")
    ax.legend()
    ax.set_title(f"Surgical fine-tuning at {p['surgical_size']} examples per class (mean ± sd, {p['n_seeds']} seeds)")
    fig.tight_layout()
    return fig


def surgical_markdown(s: dict) -> str:
    low, high = s["ci"]
    how = "not distinguishable" if low <= 0 <= high else "better" if low > 0 else "worse"
    return (f"Best single block on **validation**: **{s['best_block']}**, test {s['best_block_acc']:.3f} against "
            f"{s['finetune_acc']:.3f} with every layer trained (difference {s['text']}: {how}).")


def shift_sweep(runs_: "SignRuns", rows, p: dict, seeds, shifts):
    """At ``shift_size`` per class, the arms of ``shift_arms`` on targets drawn at each shift of
    ``shifts`` (reusing the main runs at the run's own shift). One line per shift."""
    import pandas as pd

    k, out = p["shift_size"], []
    for sh in shifts:
        task = with_train(built_in_task(p["target_country"], sh, k, f"{p['target_country']} shift {sh:g}",
                                        **task_kwargs(p)), k)
        done = rows.to_dict(orient="records") if np.isclose(sh, p["shift"]) else []
        out += _runs_at(runs_, done, p["shift_arms"], task, seeds, k, sh)
        print(f"shift {sh:g}: " + ", ".join(
            f"{a} {np.mean([r['test_acc_B'] for r in out if r['arm'] == a and r['shift'] == sh]):.3f}"
            for a in p["shift_arms"]))
    return pd.DataFrame(out)


def plot_shift(shift_rows, p: dict, n_classes: int):
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(7, 4))
    sns.lineplot(data=shift_rows, x="shift", y="test_acc_B", hue="arm", hue_order=p["shift_arms"], marker="o",
                 errorbar="sd", ax=ax)
    ax.axhline(1 / n_classes, color="grey", ls=":", lw=1)
    ax.set_xlabel(f"shift of country {p['target_country']} from {p['source_country']} (0: the same distribution)")
    ax.set_ylabel("target test accuracy")
    ax.set_title(f"Transfer against shift at {p['shift_size']} examples per class (mean ± sd, {p['n_seeds']} seeds)")
    fig.tight_layout()
    return fig


def metrics(rows, src_rows, shift_rows, p: dict, caught, surgical: dict, controls_: list) -> dict:
    """The record's metrics: each arm's country-B test accuracy per size (mean and per seed) and its
    country-A test accuracy, the source models, where scratch caught up, the sweeps, the controls
    and the cost per arm."""
    sizes, arms = p["target_sizes"], p["arms"]

    def at(a, k):
        return rows[(rows.arm == a) & (rows["size"] == k)]

    return {
        "target_test_acc": {f"{a} @ {k}": float(at(a, k).test_acc_B.mean()) for k in sizes for a in arms},
        "target_test_acc_per_seed": {f"{a} @ {k}": at(a, k).sort_values("seed").test_acc_B.tolist()
                                     for k in sizes for a in arms},
        "source_test_acc_of_target_arms": {f"{a} @ {k}": float(at(a, k).test_acc_A.mean()) for k in sizes for a in arms},
        "source_models": src_rows.groupby("init").agg(test_acc_A=("test_acc_A", "mean"),
                                                      test_acc_B=("test_acc_B", "mean")).to_dict(orient="index"),
        "scratch_catches_up_at": min(caught) if caught else None, "comparator_arm": p["comparator_arm"],
        "surgical": {k: v for k, v in surgical.items() if k != "text"},
        "shift_sweep": (shift_rows.groupby(["shift", "arm"]).test_acc_B.mean().unstack().to_dict()
                        if len(shift_rows) else {}),
        "controls": [c.as_dict() for c in controls_],
        "cost": rows.groupby("arm").agg(wall_s=("wall_s", "mean"),
                                        trainable_params=("trainable_params", "first")).to_dict(orient="index"),
    }


def conclusion_lines(rows, p: dict, caught, surgical: dict) -> list[str]:
    """The conclusions in words: per size the best arm on validation with its test accuracy, where
    scratch caught up, and the best single block."""
    sizes, arms, margin, comp = p["target_sizes"], p["arms"], p["margin"], p["comparator_arm"]
    means = rows.groupby(["size", "arm"]).test_acc_B.mean()
    val = rows.groupby(["size", "arm"]).val_acc.mean()
    lines = []
    for k in sizes:
        best = val[k].drop("zero_shot", errors="ignore").idxmax()  # chosen on validation
        lines.append(f"- **{k} examples per class**: best arm on validation **{best}** ({means[(k, best)]:.3f} on "
                     f"{p['target_country']} test); " + ", ".join(f"{a} {means[(k, a)]:.3f}" for a in arms if a != best))
    lines.append(f"- From scratch is within {margin:g} of {comp} from {min(caught)} examples per class on." if caught else
                 f"- From scratch is not shown to be within {margin:g} of {comp} up to {max(sizes)} examples per class.")
    if surgical:
        lines.append(f"- Surgical fine-tuning at {p['surgical_size']}/class: {surgical['best_block']} (best on validation) "
                     f"alone {surgical['best_block_acc']:.3f} against all layers {surgical['finetune_acc']:.3f}.")
    return lines


# --------------------------------------------------------------------------- the study's verdicts

def catch_up(rows, sizes: list[int], arms: list[str], comparator: str, n_test: int, margin: float):
    """Per target size, whether each from-scratch arm (``scratch``, ``compute_matched``) is within
    ``margin`` of ``comparator`` on country B's test split (an equivalence test): a table, and
    the sizes at which plain scratch caught up."""
    import pandas as pd

    from lib import claims as C

    out = []
    for k in sizes:
        at = rows[rows["size"] == k]
        per = {a: at[at.arm == a].sort_values("seed").test_acc_B.tolist() for a in arms}
        for scratch_arm in [a for a in ("scratch", "compute_matched") if a in arms]:
            v, iv = C.rule_verdict("no_better", per[comparator], per[scratch_arm], n_test, margin=margin)
            out.append({"size": k, "arm": scratch_arm, "against": comparator, f"{comparator} - {scratch_arm}": iv.text(),
                        "caught up": {C.REPRODUCED: "yes (within the margin)", C.NOT_REPRODUCED: "no"}.get(v, "cannot tell")})
    table = pd.DataFrame(out)
    caught = table[(table.arm == "scratch") & table["caught up"].str.startswith("yes")]["size"].tolist() if len(table) else []
    return table, caught


def controls(shift_rows, shift_arms: list[str], comparator: str, n_test: int, n_classes: int,
             negative: list[float] | None = None) -> list:
    """The study's controls: positive (at shift 0, the source country's own signs, ``comparator``
    must beat scratch: transfer must help) when the shift sweep ran shift 0 with both arms; negative
    (``comparator`` on shuffled target labels at chance) when ``negative`` holds its accuracies."""
    from lib import claims as C

    out = []
    if len(shift_rows) and (shift_rows["shift"] == 0).any() and {"scratch", comparator} <= set(shift_arms):
        zero = shift_rows[shift_rows["shift"] == 0]
        per0 = {a: zero[zero.arm == a].sort_values("seed").test_acc_B.tolist() for a in ("scratch", comparator)}
        out.append(C.judge("signs.control.positive", "control", f"at shift 0 (the source country's own signs) {comparator} "
                           "beats scratch: transfer must help", rule="greater", a=per0[comparator], b=per0["scratch"],
                           n_test=n_test, comparator="scratch", kind="control", expected=C.REPRODUCED))
    if negative:
        out.append(C.negative_control("signs.control.negative", comparator, negative, 1 / n_classes, n_test))
    return out


def claims(rows, src_rows, *, arms: list[str], comparator: str, sizes: list[int], n_classes: int, batch_size: int,
           n_seeds: int, target_accuracy: float, margin: float, n_val: int, n_test: int, source_inits: list[str],
           source_premise, src_n_val: int, src_n_test: int) -> list:
    """Seed 001's claims on the classifier study, judged through the claims contract: scratch
    beats each transfer arm at the smallest target size; scratch converges in fewer optimizer
    steps than ``comparator``; freezing gives no speed-up (not testable: this project's frozen arm
    trains on cached features, a different system); pre-trained initialisation does not help the
    first country (against the country-A model from scratch)."""
    import pandas as pd

    from lib import claims as C, results

    k0 = min(sizes)
    at = rows[rows["size"] == k0]
    cols = ["test_acc", "val_acc"] + (["test_correct"] if "correct_B" in at else [])
    per_arm = {a: at[at.arm == a].sort_values("seed").rename(columns={"test_acc_B": "test_acc", "correct_B": "test_correct"})
               [cols].assign(train_acc=np.nan).to_dict(orient="list") for a in arms}
    said = "from scratch converged fastest; every transfer arm stayed at a higher loss"
    # the asker's words: transfer "doesn't have any advantage at all" (an equivalence claim at the margin)
    out = [results.judge_claim("no_better_than scratch", other, per_arm, 1 / n_classes, n_val=n_val, n_test=n_test,
                               margin=margin, source="seed 001", seed_reported=said)
           for other in [a for a in ("finetune", "frozen", "freeze_first:2") if a in arms] if "scratch" in arms]
    if "scratch" in arms and comparator in arms:
        spe = -(-k0 * n_classes // batch_size)  # optimizer steps per epoch at k0 per class
        times = {a: g.sort_values("seed") for a, g in at.groupby("arm") if a in ("scratch", comparator)}
        steps = {a: [(e if pd.notna(e) else n) * spe for e, n in zip(g.epochs_to_target, g.epochs)]
                 for a, g in times.items()}
        reached = {a: g.epochs_to_target.notna().tolist() for a, g in times.items()}
        out.append(C.judge_time_to_event(
            f"seed001.scratch.faster.{comparator}", "seed 001",
            f"with {k0} examples per class, scratch reaches validation {target_accuracy} in fewer optimizer steps than "
            f"{comparator}", a=steps["scratch"], a_reached=reached["scratch"], b=steps[comparator],
            b_reached=reached[comparator], a_name="scratch", b_name=comparator, split="validation",
            premises=[C.enough_seeds(n_seeds),
                      C.above_chance("scratch", per_arm["scratch"]["test_acc"], 1 / n_classes, n_test)],
            seed_reported=said, data="stand-in"))
    if {"frozen", "finetune"} <= set(arms):
        w = rows[rows["size"] == max(sizes)].groupby("arm").wall_s.mean()
        same = C.Premise("the frozen arm runs its base every step, as the seed's did", False,
                         detail="this project's frozen arm trains its head on features computed once, a different system")
        out.append(C.judge("seed001.freezing.no_speedup", "seed 001", "freezing the convolutions gives no speed-up",
                           rule="", verdict=C.INCONCLUSIVE, premises=[same], measure="wall time per run",
                           evidence=f"measured at {max(sizes)}/class: fine-tune {w['finetune']:.1f} s, frozen "
                                    f"{w['frozen']:.1f} s per run", seed_reported="freezing gave no speed-up"))
    if len(source_inits) > 1 and "scratch" in source_inits:
        pre = [i for i in source_inits if i != "scratch"][0]
        src_cols = ["test_acc", "val_acc"] + (["test_correct"] if "correct_A" in src_rows else [])
        per_src = {i: src_rows[src_rows.init == i].sort_values("seed")
                   .rename(columns={"test_acc_A": "test_acc", "correct_A": "test_correct"})
                   [src_cols].assign(train_acc=np.nan).to_dict(orient="list") for i in source_inits}
        out.append(results.judge_claim("no_better_than scratch", pre, per_src, 1 / n_classes, n_val=src_n_val,
                                       n_test=src_n_test, margin=margin,
                                       premises={pre: [source_premise] if source_premise else []}, source="seed 001",
                                       seed_reported="COCO-pretrained and sign-pretrained starts never beat Belgium from scratch"))
    return out


# --------------------------------------------------------------------------- checks before any kernel

def check(p: dict) -> None:
    """The study's rules, checked on merged parameters before any kernel (``lib.params.STUDY_CHECKS``): every
    problem in one ``ValueError``."""
    problems = []
    try:
        blocks = BLOCKS[arch_name(p["arch"])]
    except ValueError:
        blocks = None  # _one_arch names the architecture
    for key in ("arms", "shift_arms"):
        for arm in p[key]:
            try:
                kind, _, arg = check_arm(arm).partition(":")
            except ValueError as exc:
                problems.append(f"{key}: {exc}")
                continue
            if blocks and kind == "freeze_first" and not 0 < int(arg) <= len(blocks):
                problems.append(f"{key}: arm {arm!r}: {p['arch']} has {len(blocks)} blocks ({', '.join(blocks)}); "
                                f"freeze between 1 and {len(blocks)}")
            if blocks and kind == "surgical" and arg not in blocks:
                problems.append(f"{key}: arm {arm!r}: {p['arch']} has no block {arg!r}{hint(arg, blocks)} "
                                f"(blocks: {', '.join(blocks)})")
    if p["comparator_arm"] not in p["arms"]:
        problems.append(f"comparator_arm {p['comparator_arm']!r} is not one of the arms{hint(p['comparator_arm'], p['arms'])}")
    elif p["comparator_arm"].partition(":")[0] in ("scratch", "compute_matched", "zero_shot"):
        problems.append(f"comparator_arm {p['comparator_arm']!r} must be an arm that trains from the source model")
    unknown = [i for i in p["source_inits"] if i not in ("scratch", *WEIGHT_NAMES) and not str(i).endswith(".h5")]
    problems += [f"source_inits: unknown initialisation {i!r}{hint(i, ('scratch', *WEIGHT_NAMES))}" for i in unknown]
    if blocks:
        problems += [f"source_inits: {q}" for i in p["source_inits"] if i != "scratch" and i not in unknown
                     for q in [weights_problem(i, {arch_name(p["arch"])})] if q]
    if p["transfer_from"] not in p["source_inits"]:
        problems.append(f"transfer_from {p['transfer_from']!r} must be one of source_inits {p['source_inits']}")
    if not p["target_sizes"] or any(k < 1 for k in p["target_sizes"]):
        problems.append(f"target_sizes must be positive numbers of examples per class; received {p['target_sizes']}")
    if "lp_ft" in p["arms"] and p["head_epochs"] >= p["epochs"]:
        problems.append(f"lp_ft needs head_epochs ({p['head_epochs']}) below epochs ({p['epochs']})")
    if not p["sign_dir"]:
        for check, value in ((check_country, p["source_country"]), (check_country, p["target_country"]),
                             (check_n_classes, p["n_classes"])):
            try:
                check(value)
            except ValueError as exc:
                problems.append(str(exc))
    one_arch("signs", p, problems)
