"""The arm grammar's one parser and printer, and the policy table every image study reads."""

import sys
from dataclasses import replace

import pytest

from lib import arms
from lib.arms import POLICIES, Arm, Policy

SPECS = ["vgg16:frozen", "vgg16:freeze_first:2", "inceptionv3:cut_unfreeze:mixed5:mixed4",
         "efficientnetb0:frozen+noise:50", "efficientnetb0:frozen+noise", "efficientnetb0:frozen+div255",
         "inceptionv3:frozen+resize:75~source", "onet:frozen~mtcnn@0.01", "resnet50:finetune@0.0003",
         "vgg16:frozen+train:0.25+noise:10~hed@0.001", "simple_cnn:finetune+one_cycle~source", "resnet50:finetune+cosine"]


@pytest.mark.parametrize("spec", SPECS)
def test_the_printer_writes_back_what_the_parser_read(spec):
    arm = Arm.parse(spec)
    assert str(arm) == spec
    assert Arm.parse(str(arm)) == arm


def test_an_arm_is_its_fields():
    arm = Arm.parse("vgg16:frozen+train:0.25+noise:10~hed@1e-3")
    assert arm == Arm("vgg16", "frozen", (), (("train", 0.25), ("noise", 10.0)), "hed", 0.001)
    assert arm.core == "vgg16:frozen" and arm.transform() == {"train": 0.25, "noise": 10.0}
    assert str(arm.at(3e-4)) == "vgg16:frozen+train:0.25+noise:10~hed@0.0003"
    assert arm.at(None).lr is None
    # a study builds its arms as values, not strings
    assert str(Arm("resnet50", "freeze_first", ("2",), lr=1e-4)) == "resnet50:freeze_first:2@0.0001"
    assert Arm.parse(arm) is arm


@pytest.mark.parametrize("spec, message", [
    ("vgg16:frozen+nois", "unknown transform '\\+nois'; did you mean '\\+noise'"),
    ("vgg16:frozen+div255:3", "takes no value"),
    ("vgg16:frozen+noise:-1", "positive number"),
    ("vgg16:frozen+resize:7", "N >= 8"),
    ("vgg16:frozen+train:2", "0 < F <= 1"),
    ("vgg16:frozen@fast", "learning rate after '@'"),
    ("vgg16:finetune+one_cycle:3", "'\\+one_cycle' takes no value"),
    ("vgg16:finetune+cosine+one_cycle", "one learning-rate schedule per arm"),
    ("vgg16:finetune+one_cylce", "did you mean '\\+one_cycle'"),
])
def test_the_parser_refuses_bad_arms_naming_them(spec, message):
    with pytest.raises(ValueError, match=message):
        Arm.parse(spec)


def test_policy_arguments_become_the_builders_keywords():
    assert Arm.parse("vgg16:freeze_first:2").policy_kwargs() == {"policy": "freeze_first", "freeze_blocks": 2}
    assert Arm.parse("inceptionv3:cut_unfreeze:mixed5:mixed4@1e-4").policy_kwargs() == {
        "policy": "cut_unfreeze", "cut_at": "mixed5", "unfreeze_from": "mixed4"}
    with pytest.raises(ValueError, match="did you mean 'frozen'"):
        Arm.parse("vgg16:frozn").policy_kwargs()
    with pytest.raises(ValueError, match="takes 1 argument"):
        Arm.parse("vgg16:surgical").policy_kwargs()


def test_the_string_helpers_agree_with_the_parser():
    spec = "onet:frozen+noise:5~mtcnn@0.01"
    assert arms.split_arm(spec) == ("onet:frozen", {"noise": 5.0}, 0.01)
    assert arms.arm_weights(spec) == "mtcnn" and arms.arm_weights("onet:frozen", "source") == "source"
    assert arms.arm_policy(spec) == "frozen" and arms.arm_policy("simple_cnn") == ""


def test_the_arm_grammar_imports_without_tensorflow():
    import subprocess
    code = ("import sys; sys.modules['tensorflow'] = None; sys.modules['keras'] = None\n"
            "import lib.arms, lib.checks; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


def test_a_new_policy_is_one_entry(monkeypatch):
    """docs/adding-a-study.md's worked example: a policy that trains only the last block, added as one
    entry, is known to the checks, the parser and the model builder at once."""
    from lib import checks, models, transfer

    def last_block_only(base, backbone, resolve, **_):
        last = backbone.blocks(base)[-1]
        arms.set_trainable(base, None)
        base.trainable = True
        for layer in base.layers:
            layer.trainable = backbone.block_of(layer.name) == last

    monkeypatch.setitem(POLICIES, "last_block", Policy("only the last block and the head train", last_block_only))
    assert checks.arm_problems("simple_cnn:last_block", 32) == []
    kw = transfer.parse_arm("simple_cnn:last_block@1e-3")
    model, parts = transfer.build_image_classifier(image_size=32, n_classes=2, **kw)
    trainable = {w.path.split("/")[-2] for w in parts.base.trainable_weights}
    assert trainable == {"block3_conv1", "block3_conv2"} and not parts.frozen
    assert models.parameter_counts(model)["trainable"] < models.parameter_counts(model)["total"]


def test_every_policy_entry_is_whole():
    for name, p in POLICIES.items():
        assert callable(p.freeze) and p.schedule in ("single", "two_stage", "cut") and p.doc, name
        assert set(p.int_args) <= set(p.args), name
    assert replace(POLICIES["cut"], schedule="cut").cuts and not POLICIES["finetune"].cuts


def test_lora_trains_only_its_low_rank_factors_and_merges_to_the_same_outputs(tmp_path):
    """``arch:lora:RANK``: the base's kernels and biases stay as loaded, only the rank-r factors (and
    the head) train; the merged kernels (``layer.kernel``) in a plain copy of the model give the
    trained model's outputs; a rank below 1 or not a number is refused before any model."""
    import numpy as np

    from lib import backbones, checks, transfer
    from lib.data import Task

    src = backbones.build_base("simple_cnn", 32, "none")
    path = tmp_path / "src.weights.h5"
    src.save_weights(path)
    kw = transfer.parse_arm("simple_cnn:lora:2")
    model, parts = transfer.build_image_classifier(image_size=32, n_classes=2, weights=str(path), **kw)
    trainable = {w.path.split("/")[-1] for w in parts.base.trainable_weights}
    assert trainable == {"lora_kernel_a", "lora_kernel_b"}
    conv = parts.base.get_layer("block1_conv1")
    assert conv.lora_enabled and conv.lora_kernel_a.shape[-1] == 2
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (48, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 2, 48)
    task = Task("t", x[:32], y[:32], x[32:40], y[32:40], x[40:], y[40:], ["a", "b"])
    _, _, parts = transfer.run_image_arm("simple_cnn:lora:2", task, 32, weights=str(path), epochs=2, head_epochs=0,
                                         batch_size=8, learning_rate=1e-2, finetune_learning_rate=1e-2, seed=0)
    conv = parts.base.get_layer("block1_conv1")
    import keras

    merged, frozen = keras.ops.convert_to_numpy(conv.kernel), keras.ops.convert_to_numpy(conv._kernel)
    np.testing.assert_array_equal(frozen, src.get_layer("block1_conv1").get_weights()[0])
    assert not np.allclose(merged, frozen)  # the update moved: merged != frozen
    plain, plain_parts = transfer.build_image_classifier("simple_cnn", 32, 2, policy="frozen", weights=str(path))
    for layer in parts.base.layers:
        if getattr(layer, "lora_enabled", False):
            plain_parts.base.get_layer(layer.name).set_weights([keras.ops.convert_to_numpy(layer.kernel),
                                                                keras.ops.convert_to_numpy(layer.bias)])
    plain_parts.head.set_weights(parts.head.get_weights())
    np.testing.assert_allclose(plain.predict(x, verbose=0), parts.model.predict(x, verbose=0), rtol=1e-4, atol=1e-5)
    assert checks.arm_problems("simple_cnn:lora:0", 32) and checks.arm_problems("simple_cnn:lora:x", 32)
    assert checks.arm_problems("simple_cnn:lora:4", 32) == []


def _value_and_grad(fn, value):
    """``fn(value)`` (a scalar) and its gradient at ``value``, as NumPy, under the running backend."""
    import keras
    import numpy as np

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        out, grad = jax.value_and_grad(fn)(value)
    elif backend == "torch":
        value = value.detach().clone().requires_grad_(True)
        out = fn(value)
        out.backward()
        out, grad = out.detach(), value.grad
    else:
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(value)
            out = fn(value)
        grad = tape.gradient(out, value)
    return float(keras.ops.convert_to_numpy(out)), np.asarray(keras.ops.convert_to_numpy(grad))


def test_l2sp_is_zero_at_the_pretrained_weights_and_pulls_back_to_them(tmp_path):
    """``arch:l2sp:ALPHA``: every base variable carries alpha/2 ||w - w0||^2, zero as loaded, with
    gradient alpha (w - w0); in training the penalty reaches the loss: a strong one keeps the base
    near its loaded weights where plain fine-tuning moves it; a non-positive alpha is refused."""
    import numpy as np

    from lib import backbones, checks, transfer
    from lib.data import Task

    src = backbones.build_base("simple_cnn", 32, "none")
    path = tmp_path / "src.weights.h5"
    src.save_weights(path)
    model, parts = transfer.build_image_classifier(image_size=32, n_classes=2, weights=str(path),
                                                   **transfer.parse_arm("simple_cnn:l2sp:0.5"))
    kernel = parts.base.get_layer("block2_conv1").kernel
    assert float(kernel.regularizer(kernel)) == 0.0
    assert all(v.regularizer is not None for v in parts.base.trainable_weights)
    assert all(v.regularizer is None for v in parts.head.trainable_weights)  # the new head: no penalty
    w0 = kernel.numpy()
    step = np.random.default_rng(0).normal(size=w0.shape).astype("float32")
    kernel.assign(w0 + step)
    penalty, grad = _value_and_grad(kernel.regularizer, kernel.value)
    np.testing.assert_allclose(penalty, 0.25 * np.sum(step ** 2), rtol=1e-4)
    np.testing.assert_allclose(grad, 0.5 * step, rtol=1e-4, atol=1e-6)
    kernel.assign(w0)

    rng = np.random.default_rng(1)
    x = rng.uniform(0, 255, (64, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 2, 64)
    task = Task("t", x[:48], y[:48], x[48:56], y[48:56], x[56:], y[56:], ["a", "b"])

    def moved(spec):
        _, _, p = transfer.run_image_arm(spec, task, 32, weights=str(path), epochs=3, head_epochs=0, batch_size=8,
                                         learning_rate=1e-3, finetune_learning_rate=1e-3, seed=0)
        return float(np.linalg.norm(p.base.get_layer("block3_conv2").kernel.numpy()
                                    - src.get_layer("block3_conv2").get_weights()[0]))

    assert moved("simple_cnn:l2sp:1000") < 0.5 * moved("simple_cnn:finetune")
    from lib.transfer import POOL  # its starting point is baked into the traced graph: never a pooled model
    assert POOL.take(("l2sp-test",), model) is model and POOL.take(("l2sp-test",), model) is model
    assert ("l2sp-test",) not in POOL._models
    assert checks.arm_problems("simple_cnn:l2sp:0", 32) and checks.arm_problems("simple_cnn:l2sp:x", 32)
    assert checks.arm_problems("simple_cnn:l2sp:0.01", 32) == []


def test_discriminative_rates_reach_the_optimizer_per_layer(tmp_path):
    """``arch:discriminative:RATIO``: geometric multipliers from 1/RATIO (first block) to 1 (the head),
    set on the base's variables, and the optimizer's first step (Adam's is the rate times about
    sign(gradient)) is that share of the rate in each block; a variable without one steps at the rate."""
    import numpy as np

    from lib import backbones, checks, transfer, train
    from lib.arms import block_multipliers

    m = block_multipliers(["b1", "b2", "b3"], 100.0)
    assert m["b1"] == pytest.approx(0.01) and m["b2"] == pytest.approx(0.1 ** (4 / 3))
    assert m["b3"] == pytest.approx(0.1 ** (2 / 3))
    src = backbones.build_base("simple_cnn", 32, "none")
    path = tmp_path / "src.weights.h5"
    src.save_weights(path)
    model, parts = transfer.build_image_classifier(image_size=32, n_classes=2, weights=str(path), dropout=0.0,
                                                   **transfer.parse_arm("simple_cnn:discriminative:100"))
    want = block_multipliers(["block1", "block2", "block3"], 100.0)
    layers = {"block1_conv1": want["block1"], "block2_conv2": want["block2"], "block3_conv1": want["block3"]}
    before = {n: parts.base.get_layer(n).kernel.numpy() for n in layers}
    head_before = parts.head.trainable_weights[0].numpy()
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (16, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 2, 16)
    train.compile_or_reset(model, 1e-3)
    model.train_on_batch(x, y)
    for name, mult in layers.items():
        step = np.abs(parts.base.get_layer(name).kernel.numpy() - before[name])
        assert np.quantile(step[step > 0], 0.9) == pytest.approx(1e-3 * mult, rel=0.05), name
    head_step = np.abs(parts.head.trainable_weights[0].numpy() - head_before)
    assert np.quantile(head_step[head_step > 0], 0.9) == pytest.approx(1e-3, rel=0.05)
    assert checks.arm_problems("simple_cnn:discriminative:0.5", 32)
    assert checks.arm_problems("simple_cnn:discriminative:100", 32) == []


def test_bss_shrinks_the_smallest_singular_value_of_the_batch_features():
    """``arch:bss:ETA``: eta times the smallest squared singular value of the batch's (pooled) base
    features, by hand on a matrix whose singular values are known; exactly that term reaches the
    model's losses (Keras' division of an activity penalty by the batch undone) and the training loss."""
    import keras
    import numpy as np

    from lib import checks, transfer
    from lib.arms import SpectralShrinkage
    from lib.data import Task

    f = np.array([[3.0, 0.0], [0.0, 1.0], [0.0, 0.0]], "float32")  # singular values 3 and 1
    assert float(SpectralShrinkage(0.5).penalty(f)) == pytest.approx(0.5)
    assert float(SpectralShrinkage(0.5).penalty(f[:, None, None, :])) == pytest.approx(0.5)  # a 1x1 map: pooled
    assert float(SpectralShrinkage(0.5, k=2).penalty(f)) == pytest.approx(5.0)

    model, parts = transfer.build_image_classifier(image_size=32, n_classes=2, weights="none",
                                                   **transfer.parse_arm("simple_cnn:bss:0.5"))
    assert isinstance(parts.base.layers[-1].activity_regularizer, SpectralShrinkage)
    x = np.random.default_rng(0).uniform(0, 255, (6, 32, 32, 3)).astype("float32")
    model(x, training=False)
    want = float(SpectralShrinkage(0.5).penalty(parts.backbone(x, training=False)))
    assert want > 0 and float(sum(keras.ops.convert_to_numpy(v) for v in model.losses)) == pytest.approx(want, rel=1e-4)

    rng = np.random.default_rng(1)
    xs = rng.uniform(0, 255, (48, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 2, 48)
    task = Task("t", xs[:32], y[:32], xs[32:40], y[32:40], xs[40:], y[40:], ["a", "b"])
    kw = dict(weights="none", epochs=1, head_epochs=0, batch_size=8, learning_rate=1e-3, finetune_learning_rate=1e-3, seed=0)
    _, plain, _ = transfer.run_image_arm("simple_cnn:finetune", task, 32, **kw)
    _, shrunk, _ = transfer.run_image_arm("simple_cnn:bss:10000", task, 32, **kw)
    assert shrunk["loss"][0] > plain["loss"][0] + 0.01  # the penalty is part of the training loss
    assert checks.arm_problems("simple_cnn:bss:0", 32) and checks.arm_problems("simple_cnn:bss:x", 32)
    assert checks.arm_problems("simple_cnn:bss:0.001", 32) == []
