"""An arm as a typed value, and the training policies as one table (no TensorFlow).

An arm is what a study trains and compares. Parameter files write it in one grammar::

    arch:policy[:arg[:arg]][+transform[:value]]...[~weights][@LR]

e.g. ``vgg16:freeze_first:2``, ``efficientnetb0:frozen+noise:50``, ``onet:frozen~mtcnn``,
``resnet50:finetune@3e-4``. :meth:`Arm.parse` is its one parser and ``str(arm)`` its one printer
(``Arm.parse(str(a)) == a``); a study that makes an arm builds an :class:`Arm` instead of
formatting a string.

A training policy is one :class:`Policy` entry of :data:`POLICIES`: what its ``:`` arguments are,
which layers of the base it trains (a function of the built base, called by
``lib.transfer.build_image_classifier``), and how ``lib.transfer.run_image_arm`` schedules it. A new
policy is one entry here and its test (``docs/adding-a-study.md`` walks through one); the checks
before any kernel (``lib.checks.arm_problems``), the arm runner and every image study read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

from lib.names import hint

# ---------------------------------------------------------------------------------------------- policies


def set_trainable(base, trainable_from: int | None) -> None:
    """Freeze ``base``'s layers before index ``trainable_from`` and train the rest
    (``None``: freeze all). Frozen BatchNormalization layers run in inference mode (Keras 3).
    ``lib.train.fit`` sees the change and compiles anew (a compiled graph keeps the old flags)."""
    base.trainable = True
    for i, layer in enumerate(base.layers):
        layer.trainable = trainable_from is not None and i >= trainable_from


def _train_all(base, backbone, resolve, **_) -> None:
    set_trainable(base, 0)


def _train_none(base, backbone, resolve, **_) -> None:
    set_trainable(base, None)


def _freeze_first(base, backbone, resolve, *, freeze_blocks: int, **_) -> None:
    blocks = backbone.blocks(base)
    if not 0 <= freeze_blocks <= len(blocks):
        raise ValueError(f"freeze_blocks must lie in 0..{len(blocks)} for {backbone.name} (blocks: {blocks}); "
                         f"received {freeze_blocks}")
    names = [layer.name for layer in base.layers]
    last = max((i for i, n in enumerate(names) if backbone.block_of(n) in blocks[:freeze_blocks]), default=-1)
    set_trainable(base, last + 1)


def _surgical(base, backbone, resolve, *, block: str, **_) -> None:
    blocks = backbone.blocks(base)
    if block not in blocks:
        raise ValueError(f"policy 'surgical' needs one block of {backbone.name}; received {block!r}{hint(block, blocks)} "
                         f"(blocks: {blocks})")
    owner = backbone.layer_blocks(base)
    set_trainable(base, None)
    base.trainable = True
    for layer in base.layers:
        layer.trainable = owner.get(layer.name) == block
    if not any(layer.weights for layer in base.layers if layer.trainable):
        raise ValueError(f"surgical block {block!r} of {backbone.name} has no layer with weights to train")


def _cut_unfreeze(base, backbone, resolve, *, unfreeze_from: str, **_) -> None:
    if not unfreeze_from:
        raise ValueError("policy 'cut_unfreeze' needs unfreeze_from (layers after it, up to the cut, train)")
    names = [layer.name for layer in base.layers]
    set_trainable(base, names.index(resolve(base, unfreeze_from)) + 1)


def _lora(base, backbone, resolve, *, lora_rank: int = 0, **_) -> None:
    """Hu et al. 2021 (LoRA) through Keras' own ``enable_lora`` (keras-team/keras #19516): every
    convolution and dense layer of the base keeps its kernel and bias frozen and trains a rank
    ``lora_rank`` update ``A @ B`` (``B`` starts at zero, so training starts from the pre-trained
    function); BatchNorm stays frozen. ``layer.kernel`` is then the merged kernel."""
    if lora_rank < 1:
        raise ValueError(f"policy 'lora' needs a rank of at least 1 (lora:RANK); received {lora_rank}")
    set_trainable(base, None)
    base.trainable = True
    for layer in base.layers:
        if hasattr(layer, "enable_lora") and getattr(layer, "kernel", None) is not None:
            layer.trainable = True
            layer.enable_lora(lora_rank)
            if getattr(layer, "bias", None) is not None:
                layer.bias.trainable = False


class ToStartingPoint:
    """L2-SP's penalty on one pre-trained variable (Li et al. 2018, "Explicit inductive bias for
    transfer learning"; TLlib's ``SPRegularization``): ``alpha / 2 * ||w - w0||^2``, ``w0`` the
    value it was loaded with. Zero at the pre-trained weights, its gradient ``alpha * (w - w0)``
    pulls back to them. Set as a Keras variable's ``regularizer`` (any callable), so Keras adds it
    to the training loss like a weight decay."""

    def __init__(self, start, alpha: float):
        import numpy as np

        self.start = np.array(start, copy=True)
        self.alpha = float(alpha)

    def __call__(self, w):
        import keras  # the backend is loaded by then: a model is being trained

        start = keras.ops.convert_to_tensor(self.start, dtype=w.dtype)
        return 0.5 * self.alpha * keras.ops.sum(keras.ops.square(w - start))


def _l2sp(base, backbone, resolve, *, l2sp_alpha: float = 0.0, **_) -> None:
    """Every layer trained, as ``finetune``, with every pre-trained variable of the base pulled
    toward its loaded value by :class:`ToStartingPoint` (the new head has no penalty: against
    ``finetune`` the penalty is the only difference)."""
    if not l2sp_alpha > 0:
        raise ValueError(f"policy 'l2sp' needs a penalty weight alpha > 0 (l2sp:ALPHA); received {l2sp_alpha}")
    set_trainable(base, 0)
    for v in base.trainable_weights:
        v.regularizer = ToStartingPoint(v.numpy(), l2sp_alpha)


class SpectralShrinkage:
    """BSS's penalty (Chen et al. 2019, "Catastrophic forgetting meets negative transfer: batch
    spectral shrinkage for safe transfer learning"; TLlib's ``BatchSpectralShrinkage``, k = 1 and
    eta = 0.001 its defaults): ``eta * sum of the k smallest squared singular values`` of the batch's
    feature matrix (a feature map averaged over space first, as the head's pooling does). Set as the
    base's output layer's activity regularizer; Keras divides an activity penalty by the batch size,
    so this returns it times the batch size: the training loss gets exactly BSS's term."""

    def __init__(self, eta: float, k: int = 1):
        self.eta, self.k = float(eta), int(k)

    def penalty(self, x):
        """BSS's term for one batch of features ``x`` ``(batch, ...)``."""
        import keras

        f = x if len(x.shape) == 2 else keras.ops.mean(x, axis=tuple(range(1, len(x.shape) - 1)))
        s = keras.ops.svd(f, full_matrices=False, compute_uv=False)
        return self.eta * keras.ops.sum(keras.ops.square(keras.ops.sort(s)[: self.k]))

    def __call__(self, x):
        import keras

        pen = self.penalty(x)
        return pen * keras.ops.cast(keras.ops.shape(x)[0], pen.dtype)


def _bss(base, backbone, resolve, *, bss_eta: float = 0.0, **_) -> None:
    """Every layer trained, as ``finetune``, with BSS on the base's output features
    (:class:`SpectralShrinkage`): the smallest singular value of each batch's features is shrunk,
    the directions that fine-tuning on little data bends most (against ``finetune`` the penalty is
    the only difference)."""
    if not bss_eta > 0:
        raise ValueError(f"policy 'bss' needs a penalty weight eta > 0 (bss:ETA); received {bss_eta}")
    set_trainable(base, 0)
    base.layers[-1].activity_regularizer = SpectralShrinkage(bss_eta)


def block_multipliers(blocks: list[str], lr_ratio: float) -> dict[str, float]:
    """Discriminative learning rates (Howard & Ruder 2018, ULMFiT; fastai's ``fine_tune``, whose
    ``lr_mult`` defaults to 100): the base's blocks and the head as groups, the first block at
    ``1 / lr_ratio`` of the rate and the head at the rate, geometric in between (fastai's
    ``even_mults``). Returns ``{block: multiplier}`` (the head's, 1, is implied)."""
    groups = len(blocks) + 1
    return {b: float(lr_ratio) ** (-(groups - 1 - g) / (groups - 1)) for g, b in enumerate(blocks)}


def _discriminative(base, backbone, resolve, *, lr_ratio: float = 0.0, **_) -> None:
    """Every layer trained, each block's variables at its :func:`block_multipliers` share of the
    rate (``lr_multiplier`` on the variable, read by ``lib.train.PerVariableAdam``); layers before
    the first block (preprocessing) at the first block's."""
    if not lr_ratio >= 1:
        raise ValueError(f"policy 'discriminative' needs a ratio of at least 1 (discriminative:RATIO); received {lr_ratio}")
    set_trainable(base, 0)
    blocks = backbone.blocks(base)
    mult = block_multipliers(blocks, lr_ratio)
    owner = backbone.layer_blocks(base)
    for layer in base.layers:
        for v in layer.trainable_weights:
            v.lr_multiplier = mult.get(owner.get(layer.name), mult[blocks[0]])


@dataclass(frozen=True)
class Policy:
    """One training policy. ``freeze(base, backbone, resolve, **arguments)`` sets which layers of
    the built base train (``backbone``: ``lib.backbones.get(arch)``, which knows the blocks;
    ``resolve(base, name)``: a layer name checked, with a "did you mean"). ``args``: the keyword
    names of ``lib.transfer.build_image_classifier`` its ``:`` arguments fill, in order; ``int_args``
    those that are whole numbers, ``float_args`` those that are positive numbers, ``minimum`` an
    argument's smallest value (the checks before any kernel read all three). ``schedule``:
    ``single`` (one phase; cached features when the whole base is frozen), ``two_stage`` (the head
    alone for ``head_epochs`` at the head rate, then every layer at the fine-tune rate) or ``cut``
    (the base cut at ``cut_at``; the head alone first, then the fine-tune rate). ``pretrained_rate``:
    trained end to end from learned weights, its pre-trained layers train at the fine-tune rate
    (``False``: the head rate)."""

    doc: str
    freeze: Callable
    args: tuple[str, ...] = ()
    int_args: tuple[str, ...] = ()
    float_args: tuple[str, ...] = ()
    minimum: dict[str, float] = field(default_factory=dict)  # argument -> its smallest allowed value
    schedule: str = "single"
    pretrained_rate: bool = True

    @property
    def cuts(self) -> bool:
        return self.schedule == "cut"


POLICIES: dict[str, Policy] = {
    "scratch": Policy("random weights, every layer trained", _train_all, pretrained_rate=False),
    "frozen": Policy("base frozen (feature extraction), new head trained", _train_none, pretrained_rate=False),
    "finetune": Policy("every layer trained from the given weights", _train_all),
    "freeze_first": Policy("the first `freeze_blocks` blocks frozen, the rest and the head trained", _freeze_first,
                           args=("freeze_blocks",), int_args=("freeze_blocks",)),
    "cut": Policy("base cut at layer `cut_at`, frozen, new head on the cut (head_epochs at the head rate, then the "
                  "fine-tune rate)", _train_none, args=("cut_at",), schedule="cut"),
    "cut_unfreeze": Policy("base cut at `cut_at`: the head alone first, as `cut`, then layers after `unfreeze_from` up "
                           "to the cut trained with it at the fine-tune rate", _cut_unfreeze,
                           args=("cut_at", "unfreeze_from"), schedule="cut"),
    "two_stage": Policy("head trained on the frozen base, then all layers at a lower learning rate", _train_none,
                        schedule="two_stage"),
    "surgical": Policy("only block `block` of the base (and the head) trained, the rest frozen (Lee et al. 2023)",
                       _surgical, args=("block",)),
    "lora": Policy("every convolution and dense kernel of the base frozen with a trained rank-`lora_rank` update "
                   "(Hu et al. 2021, Keras' enable_lora), the head trained", _lora, args=("lora_rank",),
                   int_args=("lora_rank",), minimum={"lora_rank": 1}),
    "l2sp": Policy("every layer trained, the pre-trained ones pulled toward their loaded values by alpha/2 ||w - w0||^2 "
                   "(L2-SP, Li et al. 2018)", _l2sp, args=("l2sp_alpha",), float_args=("l2sp_alpha",)),
    "bss": Policy("every layer trained, the smallest singular value of each batch's base features shrunk by "
                  "eta * sigma_min^2 (BSS, Chen et al. 2019)", _bss, args=("bss_eta",), float_args=("bss_eta",)),
    "discriminative": Policy("every layer trained, block k of the base at a smaller share of the rate, geometric from "
                             "1/`lr_ratio` (first block) to 1 (the head): discriminative rates (Howard & Ruder "
                             "2018; fastai's lr_mult, 100)", _discriminative, args=("lr_ratio",),
                             float_args=("lr_ratio",), minimum={"lr_ratio": 1}),
}
# policy -> how many arguments follow it in an arm
POLICY_ARGS = {name: len(p.args) for name, p in POLICIES.items()}

# ---------------------------------------------------------------------------------------------- the arm grammar

TRANSFORMS = {
    "noise": "Gaussian noise added to the training inputs; ':STD' in 0-255 pixel units, else the study's noise_std",
    "div255": "pixels divided by 255 before a model that expects 0-255 (seed 000's preprocessing bug)",
    "resize": "the arm's images resized to ':N' px square before its model (every split: an architecture whose "
              "source weights or smallest input need another size than the study's, InceptionV3's 75 px)",
    "train": "train on this fraction of the training split, ':F' with 0 < F <= 1 (the same validation and test "
             "split: seed 002's 'is the data set too small?')",
    "cosine": "the learning rate annealed per epoch from the arm's rate towards 0 at its last epoch (lib.train.SCHEDULES)",
    "one_cycle": "fastai's one-cycle schedule per epoch, peaking at the arm's rate (lib.train.one_cycle)",
}
# transforms that name the arm's learning-rate schedule (at most one per arm; none: constant)
SCHEDULE_TRANSFORMS = ("cosine", "one_cycle")


def positive_number(value: str) -> float | None:
    """``value`` as a positive number, or ``None`` (not a number, or not above zero)."""
    try:
        v = float(value)
    except ValueError:
        return None
    return v if v > 0 else None


def _pieces(spec) -> tuple[str, list[str], str | None, str | None]:
    """``(core, ["transform[:value]", ...], weights or None, lr text or None)``, unchecked: the
    one place the grammar's separators are read."""
    body, at, lr = str(spec).partition("@")
    body, tilde, weights = body.partition("~")
    core, *mods = body.split("+")
    return core, mods, (weights if tilde else None), (lr if at else None)


def _number(v: float) -> str:
    return f"{v:g}"


@dataclass(frozen=True)
class Arm:
    """One arm: ``arch:policy[:args][+transform[:value]]...[~weights][@LR]`` as fields.
    ``transforms``: ``(name, value or None)`` pairs in the order written; ``weights``: the arm's own
    weights (else the study's); ``lr``: its own learning rate (else the study's rates)."""

    arch: str
    policy: str = ""
    args: tuple[str, ...] = ()
    transforms: tuple[tuple[str, float | None], ...] = ()
    weights: str | None = None
    lr: float | None = None

    @classmethod
    def parse(cls, spec: "str | Arm") -> "Arm":
        """The arm of ``spec``. Raises ``ValueError`` on an unknown transform, or a transform
        value or learning rate that is not a positive number (policy names and their arguments are
        checked by ``lib.checks.arm_problems`` and ``lib.transfer.parse_arm``, which know the
        architectures)."""
        if isinstance(spec, Arm):
            return spec
        core, mods, weights, lr = _pieces(spec)
        transforms = []
        for m in mods:
            name, colon, value = m.partition(":")
            if name not in TRANSFORMS:
                raise ValueError(f"arm {spec!r}: unknown transform {'+' + name!r}{hint(name, TRANSFORMS, prefix='+')} "
                                 f"(known: {', '.join('+' + t for t in TRANSFORMS)})")
            if name in ("div255", *SCHEDULE_TRANSFORMS) and colon:
                raise ValueError(f"arm {spec!r}: '+{name}' takes no value")
            if colon and positive_number(value) is None:
                raise ValueError(f"arm {spec!r}: the value after '+{name}:' must be a positive number; received {value!r}")
            if name == "resize" and not (colon and float(positive_number(value)).is_integer() and positive_number(value) >= 8):
                raise ValueError(f"arm {spec!r}: '+resize:N' needs a whole number of pixels N >= 8; "
                                 f"received {value or 'none'!r}")
            if name == "train" and not (colon and positive_number(value) <= 1):
                raise ValueError(f"arm {spec!r}: '+train:F' needs a fraction 0 < F <= 1 of the training split; "
                                 f"received {value or 'none'!r}")
            transforms.append((name, positive_number(value) if colon else None))
        schedules = [n for n, _ in transforms if n in SCHEDULE_TRANSFORMS]
        if len(schedules) > 1:
            named = " and ".join("+" + n for n in schedules)
            raise ValueError(f"arm {spec!r}: one learning-rate schedule per arm; received {named}")
        if lr is not None and positive_number(lr) is None:
            raise ValueError(f"arm {spec!r}: the learning rate after '@' must be a positive number; received {lr!r}")
        arch, *rest = core.split(":")
        return cls(arch, rest[0] if rest else "", tuple(rest[1:]), tuple(transforms), weights or None,
                   positive_number(lr) if lr is not None else None)

    @property
    def core(self) -> str:
        """``arch:policy[:args]``: what decides the model's graph."""
        return ":".join([self.arch, *([self.policy] if self.policy or self.args else []), *self.args])

    def __str__(self) -> str:
        mods = "".join(f"+{n}" + (f":{_number(v)}" if v is not None else "") for n, v in self.transforms)
        return (self.core + mods + (f"~{self.weights}" if self.weights else "")
                + (f"@{_number(self.lr)}" if self.lr is not None else ""))

    def at(self, lr: float | None) -> "Arm":
        """The same arm at its own learning rate ``lr`` (``None``: the study's rates)."""
        return replace(self, lr=None if lr is None else float(lr))

    def transform(self) -> dict[str, float | None]:
        return dict(self.transforms)

    def policy_kwargs(self) -> dict:
        """``{"policy": ..., <argument name>: value, ...}`` for ``lib.transfer.build_image_classifier``
        (the architecture is the caller's to resolve). Raises ``ValueError`` on an unknown policy or
        a wrong number of arguments."""
        if self.policy not in POLICIES:
            raise ValueError(f"arm {str(self)!r}: unknown policy {self.policy!r}{hint(self.policy, POLICIES)} "
                             f"(known: {', '.join(POLICIES)})")
        p = POLICIES[self.policy]
        if len(self.args) != len(p.args):
            raise ValueError(f"arm {str(self)!r}: policy {self.policy!r} takes {len(p.args)} argument(s) after it; "
                             f"received {list(self.args)}")
        return {"policy": self.policy, **{k: int(v) if k in p.int_args else float(v) if k in p.float_args else v
                                          for k, v in zip(p.args, self.args)}}


# ---------------------------------------------------------------------------------------------- string helpers
# (the studies' parameter files hold arms as text: these read one field without building an Arm)

def split_arm(spec: str) -> tuple[str, dict[str, float | None], float | None]:
    """``'arch:policy[:args][+transform[:value]]...[~weights][@LR]'`` -> ``(core, transforms, lr)``:
    ``vgg16:frozen+noise:50@1e-4`` -> ``('vgg16:frozen', {'noise': 50.0}, 0.0001)``; a transform
    without a value maps to ``None``, an arm without ``@LR`` has ``lr`` ``None``. Raises
    ``ValueError`` as :meth:`Arm.parse` does."""
    arm = Arm.parse(spec)
    return _pieces(spec)[0], arm.transform(), arm.lr


def arm_weights(spec: str, default: str | None = None) -> str | None:
    """The weights an arm names itself after ``~`` (``onet:frozen~mtcnn`` -> ``mtcnn``), else
    ``default`` (the study's ``weights``): one report can then compare the same architecture
    started from different sources. Not validated (``lib.checks.arm_problems`` does that)."""
    return _pieces(spec)[2] or default


def arm_policy(spec: str) -> str:
    """``vgg16:freeze_first:2+noise@1e-4`` -> ``freeze_first`` (empty when there is none)."""
    core = _pieces(spec)[0]
    return core.split(":")[1] if ":" in core else ""
