"""The built-in license plates (seed 000's stand-in data): a deterministic plate generator, the
glyphs the plate source weights learn from, and a loader for a user's own plate images.

The alphabet has 35 symbols: the digits and the Latin capitals without ``O`` (too close to
``0`` on real plates). A plate is rendered wide (about 1:4) with one of several fonts, plate
colours and borders, then warped into a square image (the seed resized plates to 224x224), with
perspective, blur, lighting and, sometimes, a smudge over part of one character. No TensorFlow
here; :mod:`lib.studies.plates` runs the study on them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lib.drawing import glyph_masks

ALPHABET = "0123456789ABCDEFGHIJKLMNPQRSTUVWXYZ"
N_CHARS = 7
FONTS = ("DejaVuSans-Bold.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSerif-Bold.ttf", "STIXGeneralBol.ttf")
PLATE_COLOURS = ((236, 236, 230), (250, 214, 40), (226, 232, 245), (205, 210, 200))
INK_COLOURS = ((20, 20, 20), (20, 30, 110), (120, 20, 25))
_H, _W = 40, 168  # the flat plate is drawn at this size, then warped into the square image

assert len(ALPHABET) == 35 and "O" not in ALPHABET


def encode(text: str) -> np.ndarray:
    """Plate text -> the 7 class indices; refuses a wrong length or a symbol outside the alphabet."""
    problem = label_problem(text)
    if problem:
        raise ValueError(f"plate label {text!r}: {problem}")
    return np.array([ALPHABET.index(c) for c in text], dtype="int64")


def decode(labels) -> str:
    return "".join(ALPHABET[int(i)] for i in labels)


def label_problem(text: str) -> str | None:
    """Why ``text`` is not a valid plate label, or ``None``."""
    if len(text) != N_CHARS:
        return f"has {len(text)} characters, expected {N_CHARS}"
    bad = sorted({c for c in text if c not in ALPHABET})
    if bad:
        hint = " ('O' is not used: write '0')" if "O" in bad else ""
        return f"symbols {bad} are not in the 35-symbol alphabet {ALPHABET}{hint}"
    return None


def _flat_plate(text: str, rng: np.random.Generator) -> np.ndarray:
    """The unwarped plate, ``(_H, _W, 3)`` float pixels."""
    font = FONTS[rng.integers(len(FONTS))]
    glyphs = [glyph_masks(font, 30, ALPHABET)[c] for c in text]
    plate = np.empty((_H, _W, 3), dtype="float32")
    plate[:] = np.asarray(PLATE_COLOURS[rng.integers(len(PLATE_COLOURS))]) + rng.normal(0, 8, 3)
    ink = np.asarray(INK_COLOURS[rng.integers(len(INK_COLOURS))]) + rng.normal(0, 8, 3)
    border = rng.integers(0, 4)
    if border:
        plate[:border], plate[-border:], plate[:, :border], plate[:, -border:] = ink, ink, ink, ink
    mask = np.zeros((_H, _W), dtype="float32")
    widths = [g.shape[1] for g in glyphs]
    gap = rng.uniform(1, 4)
    total = sum(widths) + gap * (N_CHARS - 1)
    scale = min(1.0, (_W - 14) / total, (_H - 8) / max(g.shape[0] for g in glyphs))
    x = (_W - total * scale) / 2
    for g in glyphs:
        h, w = max(1, int(round(g.shape[0] * scale))), max(1, int(round(g.shape[1] * scale)))
        g = _resize(g, h, w)
        y0 = int(np.clip(round((_H - h) / 2 + rng.normal(0, 0.7)), 0, _H - h))
        x0 = int(np.clip(round(x), 0, _W - w))
        mask[y0:y0 + h, x0:x0 + w] = np.maximum(mask[y0:y0 + h, x0:x0 + w], g)
        x += w + gap * scale
    return plate * (1 - mask[..., None]) + ink * mask[..., None]


def _resize(a: np.ndarray, h: int, w: int) -> np.ndarray:
    from scipy.ndimage import zoom

    return np.clip(zoom(a, (h / a.shape[0], w / a.shape[1]), order=1), 0, 1)[:h, :w]


def render_plate(text: str, size: int, rng: np.random.Generator, *, hard: float = 1.0) -> np.ndarray:
    """One plate image, ``(size, size, 3)`` uint8: the flat plate warped (rotation, shear, scale,
    shift) into a square on a cluttered background, then lit unevenly, blurred, maybe smudged,
    and noised. ``hard`` scales every nuisance (0 gives a clean, centred plate)."""
    from scipy.ndimage import affine_transform, gaussian_filter

    flat = _flat_plate(text, rng)
    bg = rng.uniform(30, 200, 3) + rng.normal(0, 25, (size, size, 3)) * hard
    # output (row, col) in the square -> plate (row, col): stretch the wide plate to fill ~85% of it
    angle = rng.normal(0, 0.05 * hard)
    shear = rng.normal(0, 0.08 * hard)
    zoom_ = rng.uniform(0.85, 1.0) if hard else 0.92
    sy, sx = _H / (size * zoom_), _W / (size * zoom_)
    c, s = np.cos(angle), np.sin(angle)
    m = np.array([[sy * c, -sy * s + shear * sy], [sx * s, sx * c]])
    centre_out = np.array([size / 2, size / 2]) + rng.normal(0, 0.03 * size * hard, 2)
    offset = np.array([_H / 2, _W / 2]) - m @ centre_out
    inside = affine_transform(np.ones((_H, _W), "float32"), m, offset, output_shape=(size, size), order=1) > 0.5
    img = np.stack([affine_transform(flat[..., k], m, offset, output_shape=(size, size), order=1)
                    for k in range(3)], axis=-1)
    img = np.where(inside[..., None], img, bg)
    yy, xx = np.mgrid[0:size, 0:size] / size
    light = 1 + hard * (rng.uniform(-0.3, 0.3) * (xx - 0.5) + rng.uniform(-0.3, 0.3) * (yy - 0.5)) \
        + rng.uniform(-0.15, 0.1) * hard
    img = img * light[..., None]
    if hard and rng.uniform() < 0.3:  # a smudge over part of one character
        k = rng.integers(N_CHARS)
        cx = size * (0.5 + zoom_ * (k - 3) / 8.2)
        w = size * zoom_ / 8.2 * rng.uniform(0.3, 0.6)
        rows = slice(int(size * rng.uniform(0.2, 0.5)), int(size * rng.uniform(0.6, 0.85)))
        img[rows, int(max(0, cx - w / 2)):int(cx + w / 2)] = rng.uniform(40, 120, 3)
    sigma = rng.uniform(0, 1.0 * hard) * size / 64
    if sigma > 0.05:
        img = gaussian_filter(img, sigma=(sigma, sigma, 0))
    img = img + rng.normal(0, 4 + 4 * hard, img.shape)
    return np.clip(img, 0, 255).astype("uint8")


def make_plates(n: int, size: int = 64, seed: int = 0, hard: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` plates with uniformly random 7-symbol texts: images ``(n, size, size, 3)`` uint8 and
    labels ``(n, 7)`` class indices into :data:`ALPHABET`. Deterministic in ``seed``."""
    if size < 32:
        raise ValueError(f"size must be at least 32 pixels for legible plates; received {size}")
    rng = np.random.default_rng(seed + 20_000)
    labels = rng.integers(0, len(ALPHABET), (n, N_CHARS))
    x = np.stack([render_plate(decode(l), size, rng, hard=hard) for l in labels]) if n else \
        np.empty((0, size, size, 3), "uint8")
    return x, labels.astype("int64")


def make_glyphs(n: int, size: int = 64, seed: int = 0, hard: float = 1.0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The glyph source task: ``n`` images of one alphabet symbol each (35 classes, balanced), in a
    random font, ink and plate colour, turned, sheared, shifted, blurred and noised like the
    plates. A natural source domain for plate reading. Returns images, labels and class names."""
    from scipy.ndimage import affine_transform, gaussian_filter

    if size < 32:
        raise ValueError(f"size must be at least 32 pixels; received {size}")
    rng = np.random.default_rng(seed + 30_000)
    labels = np.arange(n) % len(ALPHABET)
    rng.shuffle(labels)
    out = np.empty((n, size, size, 3), dtype="uint8")
    for i, label in enumerate(labels):
        g = glyph_masks(FONTS[rng.integers(len(FONTS))], 30, ALPHABET)[ALPHABET[label]]
        canvas = np.zeros((48, 48), "float32")
        y0, x0 = (48 - g.shape[0]) // 2, (48 - g.shape[1]) // 2
        canvas[y0:y0 + g.shape[0], x0:x0 + g.shape[1]] = g
        scale = 48 / (size * rng.uniform(0.75, 1.0))
        angle, shear = rng.normal(0, 0.06 * hard), rng.normal(0, 0.1 * hard)
        c, s_ = np.cos(angle), np.sin(angle)
        m = scale * np.array([[c, -s_ + shear], [s_, c]])
        offset = np.array([24.0, 24.0]) - m @ (np.array([size / 2, size / 2]) + rng.normal(0, 0.05 * size * hard, 2))
        mask = np.clip(affine_transform(canvas, m, offset, output_shape=(size, size), order=1), 0, 1)[..., None]
        paper = np.asarray(PLATE_COLOURS[rng.integers(len(PLATE_COLOURS))]) + rng.normal(0, 20, 3)
        ink = np.asarray(INK_COLOURS[rng.integers(len(INK_COLOURS))]) + rng.normal(0, 15, 3)
        img = paper * (1 - mask) + ink * mask
        img = img * (1 + rng.uniform(-0.25, 0.1) * hard)
        sigma = rng.uniform(0, 1.0 * hard) * size / 64
        if sigma > 0.05:
            img = gaussian_filter(img, sigma=(sigma, sigma, 0))
        out[i] = np.clip(img + rng.normal(0, 4 + 4 * hard, img.shape), 0, 255).astype("uint8")
    return out, labels.astype("int64"), list(ALPHABET)


def plate_labels_from(folder: str | Path, csv: str | Path | None = None) -> dict[Path, str]:
    """Labels of a user's plate images: from ``csv`` (columns ``filename``, ``label``) or from each
    file name's stem up to the first ``_`` (``AB12CDE.png``, ``AB12CDE_2.jpg``). Every file whose
    label has the wrong length or symbols outside the alphabet is named in one error."""
    from lib.images import IMAGE_SUFFIXES

    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"plate folder not found: {root}")
    if csv:
        import pandas as pd

        table = pd.read_csv(csv, dtype=str)
        missing = {"filename", "label"} - set(table.columns)
        if missing:
            raise ValueError(f"{csv}: needs columns 'filename' and 'label'; missing {sorted(missing)}")
        labels = {root / f: str(l).strip().upper() for f, l in zip(table.filename, table.label)}
        absent = [str(p) for p in labels if not p.exists()]
        if absent:
            raise FileNotFoundError(f"{csv} names files that do not exist: {', '.join(absent[:20])}")
    else:
        files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        labels = {p: p.stem.split("_")[0].upper() for p in files}
    if not labels:
        raise ValueError(f"{root}: no plate images found")
    bad = [f"{p.name}: {label!r} {label_problem(label)}" for p, label in labels.items() if label_problem(label)]
    if bad:
        raise ValueError(f"{len(bad)} plate label(s) are not 7 symbols of {ALPHABET}:\n  " + "\n  ".join(bad[:50]))
    return labels


def load_plate_folder(folder: str | Path, size: int, csv: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A user's plate images (labels checked first, see :func:`plate_labels_from`; unreadable
    files named), resized to ``size`` x ``size``: uint8 images and ``(n, 7)`` labels."""
    from PIL import Image

    labels = plate_labels_from(folder, csv)
    xs, bad = [], []
    for path in labels:
        try:
            with Image.open(path) as im:
                xs.append(np.asarray(im.convert("RGB").resize((size, size), Image.BILINEAR), dtype="uint8"))
        except Exception as exc:  # PIL raises many kinds for a corrupt file
            bad.append(f"{path} ({type(exc).__name__})")
    if bad:
        raise ValueError(f"{len(bad)} unreadable or corrupt image(s):\n  " + "\n  ".join(bad))
    return np.stack(xs), np.stack([encode(l) for l in labels.values()])


def plate_metrics(y_true: np.ndarray, probs: np.ndarray) -> dict:
    """Per-character accuracy (each of the 7 positions and overall), whole-plate accuracy (all 7
    right) and the most-confused (true, predicted) symbol pairs."""
    from sklearn.metrics import confusion_matrix

    pred = probs.argmax(-1)
    right = pred == y_true
    cm = confusion_matrix(y_true.ravel(), pred.ravel(), labels=range(len(ALPHABET)))
    np.fill_diagonal(cm, 0)
    order = np.argsort(cm.ravel())[::-1][:10]
    pairs = [(ALPHABET[i // len(ALPHABET)], ALPHABET[i % len(ALPHABET)], int(cm.ravel()[i]))
             for i in order if cm.ravel()[i] > 0]
    return {"char_acc": float(right.mean()), "char_acc_by_position": right.mean(axis=0).tolist(),
            "plate_acc": float(right.all(axis=1).mean()), "confused_pairs": pairs}
