"""Each policy gives the expected trainable-parameter count; frozen BN stays in inference mode;
the cached-feature path matches the end-to-end path."""

import keras
import numpy as np
import pytest

from lib import models, transfer
from lib.data import Task


def _count(weights):
    return int(sum(np.prod(w.shape) for w in weights))


def _build(policy, **kw):
    return transfer.build_image_classifier("simple_cnn", 32, 2, policy=policy, **kw)


def test_policy_trainable_counts():
    model, parts = _build("finetune")
    total_base = _count(parts.base.weights)
    head = _count(parts.head.weights)
    assert models.parameter_counts(model)["trainable"] == total_base + head
    model, parts = _build("frozen")
    assert models.parameter_counts(model)["trainable"] == head and parts.frozen
    # simple_cnn block k: conv(3x3, c_in->c) + conv(3x3, c->c); then flatten (4x4x128) -> dense 64
    block = lambda cin, c: (9 * cin * c + c) + (9 * c * c + c)
    fc1 = 4 * 4 * 128 * 64 + 64
    model, parts = _build("freeze_first", freeze_blocks=2)
    assert models.parameter_counts(model)["trainable"] == block(64, 128) + fc1 + head and not parts.frozen
    model, parts = _build("cut", cut_at="block2_pool")
    assert parts.head.input_shape == (None, 8, 8, 64) and parts.frozen
    assert models.parameter_counts(model)["trainable"] == 64 * 2 + 2
    model, parts = _build("cut_unfreeze", cut_at="block2_pool", unfreeze_from="block1_pool")
    assert models.parameter_counts(model)["trainable"] == block(32, 64) + 64 * 2 + 2


def test_policy_input_errors():
    with pytest.raises(ValueError, match="did you mean 'frozen'"):
        _build("frozn")
    with pytest.raises(ValueError, match="unknown layer 'block_2_pool'.*did you mean 'block2_pool'"):
        _build("cut", cut_at="block_2_pool")
    with pytest.raises(ValueError, match="freeze_blocks must lie in 0..3"):
        _build("freeze_first", freeze_blocks=4)


def test_frozen_batchnorm_keeps_its_statistics():
    from lib import train
    model, parts = transfer.build_image_classifier("resnet50", 32, 2, policy="frozen")
    bn = parts.base.get_layer("conv1_bn")
    before = [w.copy() for w in bn.get_weights()]
    x = np.random.default_rng(0).uniform(0, 255, (16, 32, 32, 3)).astype("float32")
    y = np.arange(16) % 2
    task = Task("t", x, y, x[:4], y[:4], x[:4], y[:4], ["a", "b"])
    train.fit(model, task, epochs=1, batch_size=8)
    for a, b in zip(before, bn.get_weights()):  # gamma, beta, moving mean, moving variance
        np.testing.assert_array_equal(a, b)


def _pixel_task(seed):
    """24 random 32 px images, labelled by their mean red value, split 16 / 4 / 4."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 255, (24, 32, 32, 3)).astype("float32")
    y = (x[..., 0].mean(axis=(1, 2)) > 127).astype("int64")
    return Task("t", x[:16], y[:16], x[16:20], y[16:20], x[20:], y[20:], ["a", "b"])


def test_cached_features_match_end_to_end():
    from lib import train
    task = _pixel_task(0)
    train.set_seed(0)
    model, parts = transfer.build_image_classifier("simple_cnn", 32, 2, policy="frozen", dropout=0.0)
    init = model.get_weights()
    h_end = train.fit(model, task, epochs=3, batch_size=8, seed=0)
    p_end = model.predict(task.x_test, verbose=0)
    model.set_weights(init)
    h_cached = transfer.fit_cached(parts, task, epochs=3, batch_size=8, seed=0)
    p_cached = model.predict(task.x_test, verbose=0)
    np.testing.assert_allclose(p_end, p_cached, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(h_end["loss"], h_cached["loss"], rtol=1e-4)


def test_split_prefix_training_matches_end_to_end():
    """cut_unfreeze trained on its frozen prefix's cached output = trained end to end: same losses,
    same predictions, the frozen blocks untouched and the unfrozen block moved."""
    from lib import train
    task = _pixel_task(1)
    x = np.concatenate([task.x_train, task.x_val, task.x_test])
    train.set_seed(0)
    model, parts = transfer.build_image_classifier("simple_cnn", 32, 2, policy="cut_unfreeze", cut_at="block3_pool",
                                                   unfreeze_from="block2_pool", dropout=0.0)
    prefix, suffix = transfer.split_frozen_prefix(parts)
    assert not prefix.trainable_weights and prefix.output_shape == (None, 8, 8, 64)
    np.testing.assert_allclose(suffix.predict(prefix.predict(x, verbose=0), verbose=0), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    init = model.get_weights()
    h_end = train.fit(model, task, epochs=3, batch_size=8, seed=0)
    p_end = model.predict(task.x_test, verbose=0)
    model.set_weights(init)
    h_split = transfer.fit_split(parts, task, epochs=3, batch_size=8, seed=0)
    p_split = model.predict(task.x_test, verbose=0)
    np.testing.assert_allclose(h_end["loss"], h_split["loss"], rtol=1e-4)
    np.testing.assert_allclose(p_end, p_split, rtol=1e-4, atol=1e-5)
    base = parts.base
    after = {layer.name: layer.get_weights()[0] for layer in base.layers if layer.weights}
    model.set_weights(init)
    before = {layer.name: layer.get_weights()[0] for layer in base.layers if layer.weights}
    for name in ("block1_conv1", "block2_conv2"):
        np.testing.assert_array_equal(before[name], after[name])
    assert not np.allclose(before["block3_conv1"], after["block3_conv1"])
    with pytest.raises(ValueError, match="no frozen prefix"):
        transfer.split_frozen_prefix(_build("frozen")[1])


def test_parse_arm():
    assert transfer.parse_arm("vgg16:freeze_first:2") == {"arch": "vgg16", "policy": "freeze_first", "freeze_blocks": 2}
    assert transfer.parse_arm("inceptionv3:cut_unfreeze:mixed5:mixed4") == {
        "arch": "inceptionv3", "policy": "cut_unfreeze", "cut_at": "mixed5", "unfreeze_from": "mixed4"}
    with pytest.raises(ValueError, match="takes 1 argument"):
        transfer.parse_arm("vgg16:cut")
    with pytest.raises(ValueError, match="did you mean 'vgg16'"):
        transfer.parse_arm("vgg19:frozen")
    with pytest.raises(ValueError, match="arch:policy"):
        transfer.parse_arm("vgg16")


def test_arm_learning_rate():
    assert transfer.arm_learning_rate("vgg16:scratch") is None
    assert transfer.arm_learning_rate("vgg16:scratch@1e-4") == pytest.approx(1e-4)
    assert transfer.parse_arm("vgg16:freeze_first:2@3e-5") == {"arch": "vgg16", "policy": "freeze_first",
                                                               "freeze_blocks": 2}
    for bad in ("vgg16:scratch@", "vgg16:scratch@fast", "vgg16:scratch@-1e-3", "vgg16:scratch@0"):
        with pytest.raises(ValueError, match="learning rate after '@'"):
            transfer.parse_arm(bad)


def test_surgical_trains_weights_in_every_block_of_every_architecture():
    from lib import transfer

    _, parts = transfer.build_image_classifier("inceptionv3", 75, 2, policy="surgical", block="mixed5")
    trained = {l.name for l in parts.base.layers if l.trainable and l.weights}
    assert trained and all(n.startswith(("conv2d", "batch_normalization")) for n in trained)  # mixed5's branches
    _, parts = transfer.build_image_classifier("simple_cnn", 32, 2, policy="surgical", block="block3")
    assert {"block3_conv1", "block3_conv2", "fc1"} <= {l.name for l in parts.base.layers if l.trainable and l.weights}
    _, parts = transfer.build_image_classifier("simple_cnn", 32, 2, policy="surgical", block="block1")
    assert "fc1" not in {l.name for l in parts.base.layers if l.trainable and l.weights}


def test_a_pretrained_base_runs_in_inference_mode_while_it_trains():
    import numpy as np

    from lib import backbones

    assert backbones.bn_mode("finetune", "source") == "inference" and backbones.bn_mode("frozen", "imagenet") == "inference"
    assert backbones.bn_mode("scratch", "source") == "train" and backbones.bn_mode("finetune", "none") == "train"
    x = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    fixed, base = backbones.build_backbone("efficientnetb0", 32, "none", training=False)
    base.trainable = True
    # BatchNormalization and stochastic depth off even when called in training mode, as fit does
    def out(model, training):
        return keras.ops.convert_to_numpy(model(x, training=training))

    np.testing.assert_allclose(out(fixed, True), out(fixed, False), rtol=1e-5, atol=1e-5)
    free, base = backbones.build_backbone("efficientnetb0", 32, "none")
    assert not np.allclose(out(free, True), out(free, False), atol=1e-5)


def test_the_two_cut_arms_share_their_schedule_and_differ_only_in_unfreezing(tmp_path):
    """cut and cut_unfreeze: the same head-only first phase (identical losses), then the fine-tune
    rate for both; only cut_unfreeze's unfrozen block moves in the second phase."""
    from lib import backbones

    task = _pixel_task(1)
    src = backbones.build_base("simple_cnn", 32, "none")
    path = tmp_path / "src.weights.h5"
    src.save_weights(path)
    common = dict(weights=str(path), epochs=4, head_epochs=2, batch_size=8, learning_rate=1e-3,
                  finetune_learning_rate=1e-4, seed=0)
    _, h_cut, _ = transfer.run_image_arm("simple_cnn:cut:block3_pool", task, 32, **common)
    _, h_unf, parts = transfer.run_image_arm("simple_cnn:cut_unfreeze:block3_pool:block2_pool", task, 32, **common)
    np.testing.assert_allclose(h_cut["loss"][:2], h_unf["loss"][:2], rtol=1e-5)
    assert h_cut["phase_epochs"] == h_unf["phase_epochs"] == [2.0, 2.0]
    assert not np.allclose(h_cut["loss"][2:], h_unf["loss"][2:])
    moved = parts.base.get_layer("block3_conv1").get_weights()[0]
    assert not np.allclose(moved, src.get_layer("block3_conv1").get_weights()[0])
    np.testing.assert_array_equal(parts.base.get_layer("block2_conv1").get_weights()[0],
                                  src.get_layer("block2_conv1").get_weights()[0])


def test_resized_task_changes_the_side_only():
    import numpy as np

    from lib.data import Task
    from lib.transfer import resized

    x = np.random.default_rng(0).uniform(0, 255, (3, 32, 32, 3)).astype("float32")
    task = Task("t", x, np.array([0, 1, 0]), x[:1], np.array([1]), x[:2], np.array([0, 1]), ["a", "b"])
    big = resized(task, 75)
    assert big.x_train.shape == (3, 75, 75, 3) and big.x_val.shape == (1, 75, 75, 3) and big.x_test.shape == (2, 75, 75, 3)
    assert (big.y_train == task.y_train).all() and -1 < big.x_train.min() and big.x_train.max() < 256
    assert abs(float(big.x_train.mean()) - float(x.mean())) < 2  # the same picture, more pixels
    assert resized(task, 32).x_train is task.x_train


def test_an_arms_data_transforms_are_applied_in_one_place():
    """What the arm runner and the range test train on: +train, +resize and +div255 together."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (8, 32, 32, 3)).astype("float32")
    y = np.array([0, 1] * 4)
    task = Task("t", x, y, x[:2], y[:2], x[:4], y[:4], ["a", "b"])
    out, size = transfer.arm_task("simple_cnn:frozen+train:0.5+resize:40+div255", task, 32)
    assert size == 40 and out.x_train.shape == (4, 40, 40, 3) and out.x_test.shape == (4, 40, 40, 3)
    assert np.bincount(out.y_train).tolist() == [2, 2]  # a stratified half
    assert out.x_train.max() <= 1.0 + 1e-6 and out.x_val.max() <= 1.0 + 1e-6
    same, size = transfer.arm_task("simple_cnn:frozen+noise:5", task, 32)
    assert same is task and size == 32  # noise acts while training, not on the data


@pytest.mark.parametrize("spec", ["simple_cnn:frozen", "simple_cnn:cut:block3_pool", "simple_cnn:finetune"])
def test_a_runs_predictions_are_its_models_on_the_splits(tmp_path, spec):
    """The arm runner scores a head trained on cached features by the head on those features (no
    second forward pass of the base): the same probabilities as the whole trained model on the
    images, for the frozen and the cut arm, as for an arm that trains its base."""
    from lib import backbones, train

    task = _pixel_task(2)
    path = tmp_path / "src.weights.h5"
    backbones.build_base("simple_cnn", 32, "none").save_weights(path)
    row, _, parts = transfer.run_image_arm(spec, task, 32, weights=str(path), epochs=3, head_epochs=1, batch_size=8,
                                           learning_rate=1e-3, finetune_learning_rate=1e-4, seed=0)
    model = parts.model  # pixels -> probabilities: the base and the head as built
    np.testing.assert_allclose(parts.test_probs, model.predict(task.x_test, verbose=0), rtol=1e-4, atol=1e-5)
    assert row["val_correct"] == pytest.approx(list(train.correct_of(model.predict(task.x_val, verbose=0), task.y_val)))
    assert row["cached_features"] == (spec != "simple_cnn:finetune")
