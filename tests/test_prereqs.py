"""Prerequisites follow the parameters: each report waits for exactly the source pre-training its
parameters name, and invalid parameters are refused before anything is built."""

import os
import shutil
import subprocess
import time
from pathlib import Path

from lib import prereqs
from lib.params import REPO_ROOT


def test_the_shipped_experiments_need_what_their_weights_name():
    rules = prereqs.rules("out")
    assert "out/small_data/resnet50.ipynb: out/source_pretrain/default.ipynb" in rules
    assert "out/signs/country_shift.ipynb: out/source_pretrain/simple_cnn.ipynb" in rules
    assert "out/small_data/inception_cut.ipynb: out/source_pretrain/inception.ipynb" in rules
    # trains from scratch / on the published HED weights / on no source weights at all: no pre-training
    for free in ("small_data/simple_cnn", "small_data/vgg16_plateau", "small_data/data_size", "d1_d2/synthetic",
                 "sign_detector/country_shift"):
        assert f"out/{free}.ipynb:" not in rules
    # the plate report trains its pretrained arms on the glyph-trained plate_cnn; the paper profile keeps the
    # seed's budget as a premise its set-up meets, on ImageNet weights (no pre-training here)
    assert "out/plates/h1_h4.ipynb: out/source_pretrain/glyphs.ipynb" in rules
    assert "out/smoke/plates/h1_h4.ipynb: out/smoke/source_pretrain/glyphs.ipynb" in rules
    assert "out/paper/plates/h1_h4.ipynb:" not in rules
    assert "out/small_data/data_size.ipynb:" not in rules  # HED weights and scratch: no pre-training
    arch_rule = next(line for line in rules.splitlines() if line.startswith("out/small_data/architecture.ipynb:"))
    for src in ("vgg16", "default", "inception"):  # the architecture report: each backbone's own shapes weights
        assert f"out/source_pretrain/{src}.ipynb" in arch_rule.split()
    assert ".invalid" not in rules


def test_needs_reads_arms_and_weights():
    p = {"weights": "source", "image_size": 32, "arms": ["simple_cnn:scratch", "vgg16:frozen", "resnet50:finetune@1e-4"]}
    assert prereqs.needs("small_data", p) == {("vgg16", 32, "shapes"), ("resnet50", 32, "shapes")}
    assert prereqs.needs("small_data", {**p, "weights": "hed"}) == set()
    own = {"weights": "hed", "image_size": 32, "arms": ["onet:frozen~mtcnn", "onet:frozen~source", "onet:frozen~none",
                                                         "vgg16:frozen", "simple_cnn:scratch~source"]}
    assert prereqs.needs("small_data", own) == {("onet", 32, "shapes")}  # each arm's own weights, scratch loads none
    assert prereqs.needs("small_data", {**own, "arms": ["onet:frozen~mtcnn"], "control_arm": "vgg16:frozen~source"}) == {
        ("vgg16", 32, "shapes")}  # the controls' arm too
    assert prereqs.needs("signs", {"arch": "vgg16", "image_size": 48, "source_inits": ["scratch"]}) == set()
    resized = {"weights": "hed", "image_size": 32, "arms": ["inceptionv3:frozen+resize:75~source", "resnet50:frozen~source"]}
    assert prereqs.needs("small_data", resized) == {("inceptionv3", 75, "shapes"), ("resnet50", 32, "shapes")}
    assert prereqs.provides({"archs": ["ResNet50"], "image_size": 32, "source_task": "shapes"}) == {("resnet50", 32, "shapes")}


def _tree(tmp_path: Path) -> Path:
    for d in ("params", "notebooks", "lib"):
        shutil.copytree(REPO_ROOT / d, tmp_path / d, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_invalid_parameters_get_a_failing_rule_and_no_prerequisite(tmp_path):
    root = _tree(tmp_path)
    (root / "params" / "cut_search" / "typo.yaml").write_text("max_trails: 3\nimage_size: 75\n")
    (root / "params" / "sign_detector" / "bad.yaml").write_text("target_arms: [frozn]\n")
    rules = prereqs.rules("out", root=root)
    assert "out/cut_search/typo.ipynb: out/.invalid/cut_search/typo" in rules
    assert "out/cut_search/typo.ipynb: out/source_pretrain" not in rules
    assert "max_trails" in rules and "frozn" in rules and "did you mean" in rules
    assert "out/cut_search/default.ipynb: out/source_pretrain/inception.ipynb" in rules  # the others unharmed


def test_make_refuses_a_mistyped_experiment_before_building_its_prerequisites(tmp_path):
    bad = REPO_ROOT / "params" / "cut_search" / f"zz_typo_{os.getpid()}.yaml"
    bad.write_text("max_trails: 3\n")
    try:
        t = time.perf_counter()
        res = subprocess.run(["make", "--no-print-directory", f"OUTPUTS={tmp_path}", f"{tmp_path}/cut_search/{bad.stem}.ipynb"],
                             cwd=REPO_ROOT, capture_output=True, text=True)
        took = time.perf_counter() - t
    finally:
        bad.unlink()
    assert res.returncode == 2, res.stderr
    assert "max_trails" in res.stderr and bad.name in res.stderr
    assert not (tmp_path / "source_pretrain").exists()  # InceptionV3's pre-training was not started
    assert took < 30
