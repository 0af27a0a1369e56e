"""Image data sets the project draws itself (deterministic, offline), and a user's image folders.

- :func:`source_shapes`: the many-class *source* domain used to pre-train backbones offline
  (ImageNet's stand-in): geometric shapes and glyph-like strokes on textured backgrounds.
- :func:`target_faces`: the small *binary target* of seed 002 (two people, ~1,350 images):
  cartoon faces of two "persons" that differ in face geometry, under pose, light, colour and
  clutter jitter. It shares low-level statistics with the source (edges, blobs, colour) but not
  its classes, so whether transfer helps is a real question.

All images are uint8 RGB in 0-255, shape ``(n, size, size, 3)``: models take raw pixels and do
their own preprocessing inside (see :mod:`lib.backbones`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lib.drawing import background

SHAPES = ("disc", "ring", "square", "frame", "triangle", "cross", "plus", "bar_h", "bar_v", "diag",
          "anti_diag", "dots", "checker", "stripes_h", "stripes_v", "star", "ellipse_h", "ellipse_v",
          "arc", "chevron")
# Source shapes turn by at most this many radians (about 14 degrees): several classes are turns of
# one another (bar_h / bar_v / diag, plus / cross, the ellipses, the stripes), so a free rotation
# would make them the same class.
TILT = 0.25


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:size, 0:size].astype("float32")
    return (xs + 0.5) / size, (ys + 0.5) / size


def _mask(shape: str, x: np.ndarray, y: np.ndarray, cx: float, cy: float, r: float, angle: float) -> np.ndarray:
    """Boolean mask of one shape centred at (cx, cy) with radius r (unit-square coordinates)."""
    c, s = np.cos(angle), np.sin(angle)
    u = ((x - cx) * c + (y - cy) * s) / r
    v = (-(x - cx) * s + (y - cy) * c) / r
    d = np.sqrt(u**2 + v**2)
    w = 0.28
    table = {
        "disc": d < 1,
        "ring": (d < 1) & (d > 0.6),
        "square": (abs(u) < 0.8) & (abs(v) < 0.8),
        "frame": (abs(u) < 0.9) & (abs(v) < 0.9) & ~((abs(u) < 0.55) & (abs(v) < 0.55)),
        "triangle": (v < 0.7) & (v > -0.9 + 1.6 * abs(u) * 1.1),
        "cross": ((abs(u - v) < w) | (abs(u + v) < w)) & (d < 1),
        "plus": ((abs(u) < w) | (abs(v) < w)) & (abs(u) < 1) & (abs(v) < 1),
        "bar_h": (abs(v) < w) & (abs(u) < 1),
        "bar_v": (abs(u) < w) & (abs(v) < 1),
        "diag": (abs(u - v) < w) & (d < 1.1),
        "anti_diag": (abs(u + v) < w) & (d < 1.1),
        "dots": ((np.sqrt((u - 0.5) ** 2 + (v - 0.5) ** 2) < 0.3) | (np.sqrt((u + 0.5) ** 2 + (v + 0.5) ** 2) < 0.3)
                 | (np.sqrt((u - 0.5) ** 2 + (v + 0.5) ** 2) < 0.3)),
        "checker": ((np.floor(u * 2) + np.floor(v * 2)) % 2 == 0) & (abs(u) < 1) & (abs(v) < 1),
        "stripes_h": (np.floor(v * 3) % 2 == 0) & (abs(u) < 1) & (abs(v) < 1),
        "stripes_v": (np.floor(u * 3) % 2 == 0) & (abs(u) < 1) & (abs(v) < 1),
        "star": d < 0.55 + 0.4 * np.cos(5 * np.arctan2(v, u)),
        "ellipse_h": (u / 1.0) ** 2 + (v / 0.5) ** 2 < 1,
        "ellipse_v": (u / 0.5) ** 2 + (v / 1.0) ** 2 < 1,
        "arc": (d < 1) & (d > 0.65) & (v > 0),
        "chevron": (abs(v - 0.8 * abs(u) + 0.3) < w) & (abs(u) < 1),
    }
    return table[shape]


def source_shapes(n: int, size: int = 32, n_classes: int = 20, seed: int = 0,
                  distractor: bool = True) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``n`` images of ``n_classes`` shape classes (at most 20), balanced, deterministic in ``seed``.

    Each image: textured background, one shape of its class in a colour that contrasts with the background, a random
    position, size
    and a small turn (at most ``TILT``), pixel noise, and (``distractor``) a smaller shape of another class.
    """
    if not 2 <= n_classes <= len(SHAPES):
        raise ValueError(f"n_classes must be between 2 and {len(SHAPES)}; received {n_classes}")
    if size < 16:
        raise ValueError(f"size must be at least 16 pixels; received {size}")
    rng = np.random.default_rng(seed)
    x, y = _grid(size)
    labels = np.arange(n) % n_classes
    rng.shuffle(labels)
    images = np.empty((n, size, size, 3), dtype="uint8")
    for i, label in enumerate(labels):
        img = background(rng, x, y)
        other = rng.integers(n_classes - 1)
        other += other >= label
        small = _mask(SHAPES[other], x, y, *rng.uniform(0.15, 0.85, 2), rng.uniform(0.08, 0.14), rng.uniform(-TILT, TILT))
        small_colour = rng.uniform(0, 255, 3)
        if distractor:
            img[small] = small_colour
        main = _mask(SHAPES[label], x, y, *rng.uniform(0.3, 0.7, 2), rng.uniform(0.25, 0.38), rng.uniform(-TILT, TILT))
        # the class shape contrasts with its background: each channel half the range away, +-40
        img[main] = (img.mean(axis=(0, 1)) + 128 + rng.uniform(-40, 40, 3)) % 256
        img += rng.normal(0, 8, img.shape)
        images[i] = np.clip(img, 0, 255).astype("uint8")
    return images, labels.astype("int64"), list(SHAPES[:n_classes])


def target_faces(n: int = 1350, size: int = 32, seed: int = 0,
                 difficulty: float = 1.0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The small binary target: ``n`` cartoon faces of two persons (labels 0 and 1, balanced).

    Person A has a rounder face, wider-set eyes and a smile; person B a longer face, closer eyes
    and a flat mouth. ``difficulty`` scales how much the two persons' feature distributions
    overlap and how strong pose, lighting, colour and clutter jitter are (1 = default).
    """
    if size < 16:
        raise ValueError(f"size must be at least 16 pixels; received {size}")
    rng = np.random.default_rng(seed + 10_000)
    x, y = _grid(size)
    labels = np.arange(n) % 2
    rng.shuffle(labels)
    images = np.empty((n, size, size, 3), dtype="uint8")
    j = difficulty
    for i, label in enumerate(labels):
        img = background(rng, x, y)
        for _ in range(rng.integers(0, 3)):  # clutter
            shape = SHAPES[rng.integers(len(SHAPES))]
            m = _mask(shape, x, y, *rng.uniform(0, 1, 2), rng.uniform(0.05, 0.15), rng.uniform(0, np.pi))
            img[m] = rng.uniform(0, 255, 3)
        cx, cy = 0.5 + rng.normal(0, 0.06 * j, 2)
        scale = rng.uniform(0.8, 1.1)
        tilt = rng.normal(0, 0.15 * j)
        aspect = (1.05 if label == 0 else 1.3) + rng.normal(0, 0.12 * j)
        eye_gap = (0.20 if label == 0 else 0.14) + rng.normal(0, 0.03 * j)
        smile = (0.08 if label == 0 else 0.0) + rng.normal(0, 0.04 * j)
        c, s = np.cos(tilt), np.sin(tilt)
        u = ((x - cx) * c + (y - cy) * s) / scale
        v = (-(x - cx) * s + (y - cy) * c) / scale
        skin = np.array([224, 172, 140]) * rng.uniform(0.6, 1.15) + rng.normal(0, 12, 3)
        head = (u / 0.27) ** 2 + (v / (0.27 * aspect)) ** 2 < 1
        img[head] = skin
        hair = head & (v < -0.27 * aspect * 0.55)
        img[hair] = rng.uniform(0, 120, 3)
        eye_y = -0.05 * aspect
        for side in (-1, 1):
            eye = (u - side * eye_gap / 2) ** 2 + (v - eye_y) ** 2 < 0.035**2
            img[eye] = rng.uniform(0, 60, 3)
        mouth_v = 0.14 * aspect + smile * (1 - (u / 0.1) ** 2)
        mouth = (abs(u) < 0.1) & (abs(v - mouth_v) < 0.018)
        img[mouth] = np.array([150, 40, 50]) * rng.uniform(0.6, 1.1)
        img = img * rng.uniform(1 - 0.3 * j, 1 + 0.2 * j) + rng.normal(0, 6 + 6 * j, img.shape)
        images[i] = np.clip(img, 0, 255).astype("uint8")
    return images, labels.astype("int64"), ["person_a", "person_b"]


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def check_image_folder(folder: str | Path) -> dict[str, list[Path]]:
    """Check a user's folder (one subfolder per class) before training: every file decodes.

    Returns ``{class_name: [image paths]}``. Raises ``ValueError`` naming every unreadable or
    corrupt file, and when there are fewer than two classes or a class has no images.
    """
    from PIL import Image

    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root}")
    classes = sorted(p for p in root.iterdir() if p.is_dir())
    if len(classes) < 2:
        raise ValueError(f"{root}: need one subfolder per class and at least 2 classes; found {[p.name for p in classes]}")
    found, bad = {}, []
    for cls in classes:
        files = sorted(p for p in cls.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ValueError(f"{root}: class folder {cls.name!r} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        for f in files:
            try:
                with Image.open(f) as im:
                    im.verify()
            except Exception as exc:  # PIL raises many kinds for a corrupt file
                bad.append(f"{f} ({type(exc).__name__})")
        found[cls.name] = files
    if bad:
        raise ValueError(f"{root}: {len(bad)} unreadable or corrupt image(s):\n  " + "\n  ".join(bad))
    return found


def load_image_folder(folder: str | Path, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A user's folder of images, one subfolder per class, checked first (see
    :func:`check_image_folder`), loaded with ``keras.utils.image_dataset_from_directory`` and
    resized to ``size`` x ``size``. Returns uint8-range arrays, labels and class names."""
    import keras

    check_image_folder(folder)
    ds = keras.utils.image_dataset_from_directory(folder, image_size=(size, size), batch_size=256,
                                                  shuffle=False, seed=seed)
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    return np.concatenate(xs).astype("uint8"), np.concatenate(ys).astype("int64"), list(ds.class_names)


def target_task(image_dir: str, image_size: int, *, n_images: int, difficulty: float, seed: int,
                extra_test: int = 0):
    """The image studies' target: a user's folder (one subfolder per class, checked first) or the
    built-in faces, split 64/16/20 by ``seed``. Returns ``(task, images, labels, class names)``.

    ``extra_test``: built-in data only, that many more faces drawn from the same generator (another
    stream, so none repeats a training face) join the test split, which then resolves the margin
    of the study's equivalence claims (:func:`lib.claims.planned_test_size`); the training and
    validation splits are unchanged. A user's folder is split as it is."""
    from lib import data

    if image_dir:
        x, y, names = load_image_folder(image_dir, image_size, seed=seed)
        return data.split_task(image_dir, x, y, names, seed=seed), x, y, names
    x, y, names = target_faces(n_images, image_size, seed=seed, difficulty=difficulty)
    task = data.split_task("faces", x, y, names, seed=seed)
    if extra_test > 0:
        xe, ye, _ = target_faces(extra_test, image_size, seed=seed + 7_919, difficulty=difficulty)
        task = data.Task(task.name, task.x_train, task.y_train, task.x_val, task.y_val,
                         np.concatenate([task.x_test, xe]), np.concatenate([task.y_test, ye]), task.class_names)
    return task, x, y, names
