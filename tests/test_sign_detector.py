"""The detector study's checks before any kernel, a user's annotated scenes, and its claims."""

import json
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from lib import claims as C
from lib import params
from lib.studies import sign_detector as S
from lib.params import REPO_ROOT

NB = REPO_ROOT / "notebooks" / "sign_detector.ipynb"


def merged(**over):
    return params.validate(over, params.read_parameters(NB).specs)


def test_defaults_pass_and_every_problem_is_named_at_once():
    S.check(merged())
    bad = merged(source_arms=["scratch", "hdd"], target_arms=["finetune", "freeze_frist:2", "freeze_first:7"],
                 cut="block3conv3", image_size=64)
    with pytest.raises(ValueError) as err:
        S.check(bad)
    text = str(err.value)
    assert "'hdd'" in text and "did you mean 'hed'" in text
    assert "'freeze_frist:2'" in text and "did you mean 'freeze_first:K'" in text
    assert "'freeze_first:7'" in text and "blocks 1..5" in text
    assert "'block3conv3'" in text and "block3_conv3" in text


def test_anchor_levels_and_image_size_are_checked_against_the_cut():
    with pytest.raises(ValueError, match="one list per feature map: 3 maps"):
        S.check(merged(extra_levels=2))
    with pytest.raises(ValueError, match="too small"):
        S.check(merged(image_size=32, cut="block5_pool", anchor_sizes=[[10], [20]]))
    with pytest.raises(ValueError, match="must include 'scratch'"):
        S.check(merged(source_arms=["hed"]))
    assert S.feature_map_sizes(300, "block4_conv3", 3) == [37, 19, 10, 5]
    assert S.freeze_until("freeze_first:2", "block3_conv3") == "block2_pool"
    assert S.freeze_until("freeze_first:3", "block3_conv3") == "all"
    assert S.freeze_until("frozen", "block3_conv3") == "all" and S.freeze_until("finetune", "block3_conv3") is None


def _image(path, size=(40, 30)):
    from PIL import Image

    Image.fromarray(np.full((size[1], size[0], 3), 128, "uint8")).save(path)


def _coco(folder, n=5, names=("stop", "yield")):
    folder.mkdir(parents=True)
    images, anns = [], []
    for i in range(n):
        _image(folder / f"s{i}.png")
        images.append({"id": i, "file_name": f"s{i}.png"})
        anns.append({"id": i, "image_id": i, "category_id": i % 2 + 1, "bbox": [4, 3, 20, 15]})
    cats = [{"id": k + 1, "name": nm} for k, nm in enumerate(names)]
    (folder / "annotations.json").write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))


def _voc(folder, n=5, name="stop"):
    folder.mkdir(parents=True)
    for i in range(n):
        _image(folder / f"v{i}.jpg")
        (folder / f"v{i}.xml").write_text(
            f"<annotation><filename>v{i}.jpg</filename><object><name>{name}</name><bndbox><xmin>2</xmin>"
            "<ymin>4</ymin><xmax>12</xmax><ymax>14</ymax></bndbox></object></annotation>")


def test_coco_and_voc_folders_load_with_scaled_boxes(tmp_path):
    _coco(tmp_path / "BE", n=10)
    _voc(tmp_path / "DE", n=10)
    x, boxes, names = S.load_folder(tmp_path / "BE", 80)
    assert x.shape == (10, 80, 80, 3) and names == ["stop", "yield"]
    np.testing.assert_allclose(boxes[0], [[8, 8, 48, 48, 0]])  # (4, 3, 24, 18) of a 40x30 image, x2 and x8/3
    xb, bb, _ = S.load_folder(tmp_path / "DE", 80, classes=names)
    np.testing.assert_allclose(bb[1], [[4, 32 / 3, 24, 112 / 3, 0]], rtol=1e-5)
    a, b, cls = S.folder_splits(str(tmp_path), "BE", "DE", 64, 3, 0)
    assert [len(a[k][0]) for k in ("train", "val", "test")] == [6, 2, 2] and cls == names
    assert [len(b[k][0]) for k in ("train", "val", "test")] == [3, 2, 2]
    with pytest.raises(ValueError, match="too few scenes"):
        _coco(tmp_path / "tiny" / "BE", n=4)
        _coco(tmp_path / "tiny" / "DE", n=4)
        S.folder_splits(str(tmp_path / "tiny"), "BE", "DE", 64, 3, 0)
    S.check(merged(data="folder", folder=str(tmp_path), source_country="BE", target_country="DE"))


def test_bad_folders_are_refused_by_name(tmp_path):
    _coco(tmp_path / "BE")
    with pytest.raises(ValueError, match="DE: no such folder"):
        S.check(merged(data="folder", folder=str(tmp_path), source_country="BE", target_country="DE"))
    (tmp_path / "BE" / "s2.png").unlink()
    with pytest.raises(FileNotFoundError, match="1 annotated images are missing"):
        S.read_annotations(tmp_path / "BE")
    _voc(tmp_path / "FR", name="speed_30")
    (tmp_path / "FR" / "v0.jpg").write_bytes(b"not an image")
    _coco(tmp_path / "IT")
    with pytest.raises(ValueError, match="not among the source country"):
        S.load_folder(tmp_path / "FR", 32, classes=["stop", "yield"])
    with pytest.raises(ValueError, match="v0.jpg: cannot read the image"):
        S.load_folder(tmp_path / "FR", 32)
    (tmp_path / "IT" / "annotations.json").write_text("{\"images\": [}")
    with pytest.raises(ValueError, match=r"annotations.json:1:\d+: not valid JSON"):
        S.read_annotations(tmp_path / "IT")


def test_runner_refuses_bad_detector_parameters_before_any_kernel(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("target_arms: [finetune, frozn]\ncut: block4_conv9\n")
    t = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "lib.runner", "sign_detector", str(tmp_path / "out.ipynb"), str(bad)],
                         cwd=REPO_ROOT, capture_output=True, text=True)
    took = time.perf_counter() - t
    assert res.returncode == 2, res.stderr
    assert "frozn" in res.stderr and "did you mean 'frozen'" in res.stderr and "block4_conv9" in res.stderr
    assert str(bad) in res.stderr
    assert took < 5 and not (tmp_path / "out.ipynb").exists() and not list(tmp_path.glob("out.*.json"))
    assert "tensorflow" not in subprocess.run(
        [sys.executable, "-c", "import sys, lib.studies.sign_detector, lib.params; print(' '.join(sys.modules))"],
        cwd=REPO_ROOT, capture_output=True, text=True).stdout


def _rows(maps: dict[tuple[str, str], list[float]], speed=None):
    out = []
    for (stage, arm), vals in maps.items():
        for s, v in enumerate(vals):
            out.append({"stage": stage, "arm": arm, "seed": s, "map50_A": v, "map50_B": v,
                        "img_per_s": (speed or {}).get(arm, 50.0) + s})
    return pd.DataFrame(out)


def _hist(losses: dict[str, list[list[float]]]):
    return {k: {str(s): {"loss": v} for s, v in enumerate(vals)} for k, vals in losses.items()}


def test_claims_follow_the_evidence_and_the_controls():
    rows = _rows({("source", "scratch"): [0.90, 0.92, 0.91], ("source", "hed"): [0.80, 0.82, 0.79],
                  ("target", "scratch"): [0.40, 0.45, 0.42], ("target", "finetune"): [0.80, 0.78, 0.82],
                  ("target", "frozen"): [0.6, 0.6, 0.6],
                  ("positive", "scratch"): [0.40, 0.42, 0.41], ("positive", "finetune"): [0.85, 0.86, 0.84],
                  ("negative", "scratch"): [0.0, 0.004, 0.001]},
                 speed={"frozen": 110.0, "finetune": 50.0})
    hist = _hist({"source/scratch": [[9, 4, 2.5], [9, 2.9], [8, 2]], "source/hed": [[40, 9, 5, 4, 3]] * 3})
    conv = {k: 1.0 for k in ("source/scratch", "source/hed", "target/finetune", "target/scratch")}
    clf = {"test_acc": 0.9, "chance": 1 / 43, "n_test": 400}
    out = {c.id.rsplit(".", 1)[-1]: c for c in S.claims(rows, hist, n_test_boxes=400, margin=0.05, loss_level=3.0,
                                                         floor=0.05, classifier=clf, n_seeds=3, converged=conv)}
    assert out["positive"].verdict == C.REPRODUCED and out["negative"].verdict == C.REPRODUCED
    assert out["model_zoo_no_gain"].verdict == C.REPRODUCED  # hed is worse than scratch: no gain
    assert out["scratch_fastest"].verdict == C.REPRODUCED  # 3, 2, 2 epochs against 5 (censored at 6) each
    assert out["transfer_no_advantage"].verdict == C.NOT_REPRODUCED  # fine-tuning is far better
    assert out["freezing_no_speedup"].verdict == C.NOT_REPRODUCED  # 2.2x faster
    assert {c.data for c in out.values() if c.kind == "claim"} == {"stand-in"}  # the built-in scenes, said so
    judged = [c.id for c in S.claims(rows, hist, n_test_boxes=400, margin=0.05, loss_level=3.0, floor=0.05,
                                     classifier=clf, n_seeds=3, converged=conv) if c.kind == "claim"]
    assert sorted(S.claim_ids({"source_arms": ["scratch", "hed"], "target_arms": ["scratch", "finetune", "frozen"]})) \
        == sorted(judged)  # the registry's claim ids are exactly those judged
    user = S.claims(rows, hist, n_test_boxes=400, margin=0.05, loss_level=3.0, floor=0.05, classifier=clf, n_seeds=3,
                    converged=conv, data="user")
    assert {c.data for c in user if c.kind == "claim"} == {"user"}
    # a detector that "detects" on mismatched annotations has a leak: the negative control fails and gates
    leak = rows.copy()
    leak.loc[leak.stage == "negative", "map50_A"] = 0.3
    leaked = {c.id.rsplit(".", 1)[-1]: c for c in S.claims(leak, hist, n_test_boxes=400, margin=0.05, loss_level=3.0,
                                                           floor=0.05, classifier=clf, n_seeds=3, converged=conv)}
    assert leaked["negative"].verdict == C.NOT_REPRODUCED and leaked["model_zoo_no_gain"].verdict == C.NOT_TESTABLE
    # a failed positive control makes every claim not testable, naming it
    bad = rows.copy()
    bad.loc[(bad.stage == "positive") & (bad.arm == "finetune"), "map50_B"] = 0.41
    gated = {c.id.rsplit(".", 1)[-1]: c for c in S.claims(bad, hist, n_test_boxes=400, margin=0.05, loss_level=3.0,
                                                           floor=0.05, classifier=clf, n_seeds=3, converged=conv)}
    assert gated["positive"].verdict != C.REPRODUCED
    assert gated["model_zoo_no_gain"].verdict == C.NOT_TESTABLE and "controls passed" in gated["model_zoo_no_gain"].reason
    # runs stopped by the epoch cap, not by early stopping: the mAP claims are not testable
    capped = {c.id.rsplit(".", 1)[-1]: c for c in S.claims(rows, hist, n_test_boxes=400, margin=0.05, loss_level=3.0,
                                                           floor=0.05, classifier=clf, n_seeds=3,
                                                           converged={**conv, "source/hed": 0.0})}
    assert capped["model_zoo_no_gain"].verdict == C.NOT_TESTABLE and "convergence" in capped["model_zoo_no_gain"].reason


def test_the_table_against_the_seed_says_what_did_not_run():
    import pandas as pd

    rows = pd.DataFrame([{"stage": "source", "arm": "scratch", "map50_A": 0.5, "map50_B": 0.2, "final_loss": 3.0},
                         {"stage": "target", "arm": "finetune", "map50_A": 0.4, "map50_B": 0.45, "final_loss": 2.0}])
    table = S.against_seed(rows)
    assert "| source country, from scratch | loss 3 after 40 epochs, the fastest | 0.500 / 3.000 |" in table
    assert "| source country, model-zoo weights | loss never below 9 | not run / not run |" in table
    assert S.metrics(rows)["target_finetune_map50_B"] == 0.45
    history = {"source/scratch": {"0": {"stopped_early": [1]}, "1": {"stopped_early": [0]}}}
    assert S.converged(rows, history, [0, 1]) == {"source/scratch": 0.5}


def test_map_claims_pair_their_test_term_over_resampled_images():
    """With each run's match table kept, the mAP claims' test-set term is the paired image bootstrap
    (lib/detection_map.py), not two independent binomials on the boxes."""
    from lib.detection_map import match_table

    truth = [np.array([[4, 4, 20, 20, i % 2]], float) for i in range(40)]

    def table(hits):  # a detector that finds the first `hits` signs exactly, and one false alarm per image
        found = [{"boxes": np.array([[4, 4, 20, 20], [40, 40, 50, 50]], float)[(0 if i < hits else 1):],
                  "scores": np.array([0.9, 0.3])[(0 if i < hits else 1):],
                  "classes": np.array([i % 2, 0])[(0 if i < hits else 1):]} for i in range(40)]
        return match_table(truth, found, 2)

    rows = _rows({("target", "scratch"): [0.40, 0.45, 0.42], ("target", "finetune"): [0.44, 0.43, 0.45],
                  ("source", "scratch"): [0.9, 0.9, 0.9]})
    rows["matches_B"] = [table(16), table(18), table(17), table(18), table(17), table(18), None, None, None]
    rows["matches_A"] = rows["matches_B"]
    hist = _hist({})
    conv = {k: 1.0 for k in ("target/finetune", "target/scratch")}
    (claim,) = [c for c in S.claims(rows, hist, n_test_boxes=40, margin=0.05, loss_level=3.0, floor=0.05, classifier=None,
                                    n_seeds=3, converged=conv) if c.id.endswith("transfer_no_advantage")]
    assert "paired bootstrap" in claim.interval["method"]
    plain = rows.drop(columns=["matches_A", "matches_B"])
    (old,) = [c for c in S.claims(plain, hist, n_test_boxes=40, margin=0.05, loss_level=3.0, floor=0.05, classifier=None,
                                  n_seeds=3, converged=conv) if c.id.endswith("transfer_no_advantage")]
    assert "unpaired" in old.interval["method"] and old.interval["se"] > claim.interval["se"]


def test_mismatched_scenes_keep_the_pixels_and_give_every_image_another_images_boxes():
    x = np.arange(6)[:, None, None, None] * np.ones((6, 2, 2, 3))
    boxes = [np.array([[i, i, i + 5, i + 5, i % 2]], float) for i in range(6)]
    mx, mb = S.mismatched((x, boxes), seed=3)
    np.testing.assert_array_equal(mx, x)
    assert all(not np.array_equal(b, m) for b, m in zip(boxes, mb))  # nobody keeps their own boxes
    assert sorted(float(b[0, 0]) for b in mb) == [float(i) for i in range(6)]  # every annotation used once
    mx2, mb2 = S.mismatched((x, boxes), seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(mb, mb2))  # seeded
    with pytest.raises(ValueError, match="at least two scenes"):
        S.mismatched((x[:1], boxes[:1]), seed=0)


def test_a_detector_that_finds_nothing_passes_the_negative_control():
    """mAP 0 in every seed and every resampling of the test images: the control's interval still has a
    width (one image's worth), and it lies below the detection floor: reproduced, not 'no spread'."""
    from lib.detection_map import match_table

    truth = [np.array([[4, 4, 20, 20, 0]], float)] * 80
    empty = match_table(truth, [{"boxes": np.zeros((0, 4)), "scores": np.zeros(0), "classes": np.zeros(0, int)}] * 80, 1)
    rows = _rows({("negative", "scratch"): [0.0, 0.0, 0.0]})
    rows["matches_A"] = [empty] * 3
    (neg,) = S.claims(rows, _hist({}), n_test_boxes=80, margin=0.05, loss_level=3.0, floor=0.05, classifier=None,
                      n_seeds=3, converged={})
    assert neg.id == "sign_detector.control.negative" and neg.verdict == C.REPRODUCED
    assert neg.interval["high"] < 0.05 and "paired bootstrap" in neg.interval["method"]
