"""Bad input is refused before any kernel starts: arms, architectures, image sizes, layer names,
weights and image folders, every problem named at once with the file, in well under 2 seconds."""

import subprocess
import sys
from pathlib import Path

import pytest

from lib import checks, params
from lib.studies import plates, signs, transferability
from lib.params import REPO_ROOT


def merged(notebook, **over):
    return params.validate(over, params.read_parameters(notebook).specs)


def test_the_registry_agrees_with_the_light_table():
    from lib import backbones

    assert {k: b.min_size for k, b in backbones.REGISTRY.items()} == checks.ARCHS
    assert set(checks.POLICY_ARGS) == set(__import__("lib.transfer").transfer.POLICIES)
    for arch, blocks in checks.BLOCKS.items():
        size = max(checks.ARCHS[arch], 32)
        assert backbones.get(arch).blocks(backbones.build_backbone(arch, size, "none")[1]) == blocks, arch


def test_sign_study_rules_are_checked_before_any_kernel():
    signs.check(merged("signs", arch="simple_cnn"))
    with pytest.raises(ValueError) as err:
        signs.check(merged("signs", arch="simple_cnn", arms=["scratch", "freeze_first:4", "surgical:block9", "finetune"],
                            comparator_arm="scratch", transfer_from="imagenet", target_sizes=[0, 4], head_epochs=20,
                            target_country="Q", shift_arms=["zero_shot"]))
    text = str(err.value)
    for bit in ("simple_cnn has 3 blocks", "no block 'block9'", "must be an arm that trains from the source model",
                "transfer_from 'imagenet' must be one of source_inits", "target_sizes must be positive",
                "unknown country 'Q'"):
        assert bit in text, bit
    with pytest.raises(ValueError, match="weights 'hed' are VGG16's"):
        signs.check(merged("signs", arch="simple_cnn", source_inits=["scratch", "hed"], transfer_from="hed"))
    signs.check(merged("signs", arch="vgg16", source_inits=["scratch", "hed"], transfer_from="hed"))


def test_small_data_arms_sizes_layers_and_weights():
    checks.small_data(merged("small_data", arms=["simple_cnn:scratch", "vgg16:frozen"], weights="hed"))
    with pytest.raises(ValueError) as err:
        checks.small_data(merged("small_data", image_size=48, weights="sorce",
                                 arms=["vgg19:frozen", "inceptionv3:cut:mixed_5", "resnet50:frozn", "vgg16:scratch@-1",
                                       "vgg16:freeze_first"], reference_arm="vgg16:frozen"))
    text = str(err.value)
    for piece in ("unknown architecture 'vgg19'", "did you mean 'vgg16'", "unknown layer 'mixed_5'", "'mixed5'",
                  "image_size 48 is too small for inceptionv3", "unknown policy 'frozn'", "did you mean 'frozen'",
                  "learning rate after '@'", "takes 1 argument", "reference_arm 'vgg16:frozen'",
                  "did you mean 'source'"):
        assert piece in text, piece
    with pytest.raises(ValueError, match="weights 'hed' are VGG16's"):
        checks.small_data(merged("small_data", arms=["resnet50:frozen"], weights="hed"))
    with pytest.raises(ValueError, match="does not exist"):
        checks.small_data(merged("small_data", weights="/nowhere/w.weights.h5"))
    with pytest.raises(ValueError, match="blog_claims: 'vgg16:frozen': 'plateaus' must name one of the arms"):
        checks.small_data(merged("small_data", blog_claims={"vgg16:frozen": "plateaus"}))


def test_signs_cut_search_transferability_plates():
    with pytest.raises(ValueError, match="(?s)unknown sign-study arm 'fine_tune'.*comparator_arm"):
        signs.check(merged("signs", arms=["scratch", "fine_tune"], comparator_arm="finetune"))
    with pytest.raises(ValueError, match="cut 'mixed12' is not an InceptionV3 block"):
        checks.cut_search(merged("cut_search", cuts=["mixed4", "mixed12"]))
    with pytest.raises(ValueError, match="(?s)reference_cut 'mixed5' is not among the candidate cuts.*lr_min must be below"):
        checks.cut_search(merged("cut_search", cuts=["mixed4", "mixed6"], lr_min=1e-3, lr_max=1e-4))
    with pytest.raises(ValueError, match="unknown architecture 'resnet'"):
        transferability.check(merged("transferability", arch="resnet"))
    with pytest.raises(ValueError, match="'none' has nothing to transfer"):
        transferability.check(merged("transferability", weights="none"))
    with pytest.raises(ValueError, match="(?s)unknown architecture 'resnet5'.*n_images: 100 is too few for 35 glyphs"):
        checks.source_pretrain(merged("source_pretrain", archs=["resnet5"], source_task="glyphs", n_images=100))
    with pytest.raises(ValueError, match="unknown plate arm 'pretrianed'"):
        plates.check(merged("plates", arms=["pretrianed"]))
    with pytest.raises(ValueError, match="(?s)two_stage needs head_epochs < epochs.*plate_csv: needs plate_dir"):
        plates.check(merged("plates", arms=["two_stage"], epochs=3, head_epochs=3, plate_csv="labels.csv"))


def test_a_corrupt_image_folder_is_named(tmp_path):
    from PIL import Image

    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        Image.new("RGB", (8, 8)).save(tmp_path / cls / "ok.png")
    (tmp_path / "b" / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    with pytest.raises(ValueError, match="broken.jpg"):
        checks.small_data(merged("small_data", image_dir=str(tmp_path)))


@pytest.mark.parametrize("notebook,yaml,needle", [
    ("small_data", "arms: ['vgg19:frozen']\n", "did you mean 'vgg16'"),
    ("small_data", "arms: ['inceptionv3:frozen']\nimage_size: 32\n", "too small for inceptionv3"),
    ("small_data", "weights: /nowhere/w.weights.h5\narms: ['vgg16:frozen']\n", "does not exist"),
    ("small_data", "weights: {tmp}/w.weights.h5\narms: ['vgg16:frozen']\n", "is not an HDF5 file"),
    ("small_data", "image_size: 100000\n", "'image_size': received 100000; must be <= 2048"),
    ("plates", "image_size: 100000\n", "'image_size': received 100000; must be <= 2048"),
    ("small_data", "image_dir: {tmp}/faces\n", "cannot split 2 examples 64/16/20"),
    ("d1_d2", "data: csv\nd1_csv: {tmp}/empty.csv\nd2_csv: {tmp}/good.csv\n", "empty.csv: not a readable CSV"),
    ("d1_d2", "data: csv\nd1_csv: {tmp}/good.csv\nd2_csv: {tmp}/other.csv\n", "only in D1: ['b'], only in D2: ['c']"),
    ("d1_d2", "data: csv\nd1_csv: {tmp}/gap.csv\nd2_csv: {tmp}/good.csv\n", "gap.csv: missing values in columns ['b']"),
    ("d1_d2", "data: csv\nd1_csv: {tmp}/text.csv\nd2_csv: {tmp}/good.csv\n", "text.csv: feature columns must be numeric"),
    ("d1_d2", "data: csv\nd1_csv: {tmp}/one.csv\nd2_csv: {tmp}/good.csv\n", "one.csv: need at least 2 classes"),
    ("d1_d2", "data: csv\nd1_csv: {tmp}/good.csv\nd2_csv: {tmp}/good.csv\nlabel_column: y\n", "no label column 'y'"),
    ("d1_d2", "data: csv\nd1_csv: {tmp}/few.csv\nd2_csv: {tmp}/good.csv\n", "few.csv: cannot split"),
])
def test_the_runner_refuses_before_any_kernel(tmp_path, notebook, yaml, needle):
    from PIL import Image

    (tmp_path / "w.weights.h5").write_text("not HDF5")
    for cls in ("a", "b"):  # one image per class: no stratified split can keep both in every part
        (tmp_path / "faces" / cls).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(tmp_path / "faces" / cls / "1.png")
    rows = "".join(f"{i % 7},{i % 3},{i % 2}\n" for i in range(20))
    for name, text in {"good": "a,b,label\n" + rows, "empty": "", "other": "a,c,label\n" + rows,
                       "gap": "a,b,label\n1,,0\n" + rows, "text": "a,b,label\nx,1,0\n" + rows,
                       "one": "a,b,label\n1,2,0\n3,4,0\n", "few": "a,b,label\n" + rows + "5,5,2\n"}.items():
        (tmp_path / f"{name}.csv").write_text(text)
    yaml = yaml.replace("{tmp}", str(tmp_path))
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml)
    res = subprocess.run([sys.executable, "-m", "lib.runner", notebook, str(tmp_path / "out.ipynb"), str(bad)],
                         cwd=REPO_ROOT, capture_output=True, text=True)
    assert res.returncode == 2 and needle in res.stderr and str(bad) in res.stderr, res.stderr
    assert not list(tmp_path.glob("out*"))  # no kernel: papermill writes its output notebook before the first cell


def test_the_arm_language_parses_transforms_and_learning_rates_in_one_place():
    from lib.checks import arm_policy, arm_problems, split_arm

    assert split_arm("vgg16:frozen") == ("vgg16:frozen", {}, None)
    assert split_arm("efficientnetb0:frozen+noise:50@1e-4") == ("efficientnetb0:frozen", {"noise": 50.0}, 1e-4)
    assert split_arm("efficientnetb0:frozen+noise+div255") == ("efficientnetb0:frozen", {"noise": None, "div255": None}, None)
    assert arm_policy("vgg16:freeze_first:2+noise@1e-4") == "freeze_first"
    with pytest.raises(ValueError, match="unknown transform '\\+nois'.*did you mean '\\+noise'"):
        split_arm("vgg16:frozen+nois")
    with pytest.raises(ValueError, match="positive number"):
        split_arm("vgg16:frozen+noise:-1")
    with pytest.raises(ValueError, match="takes no value"):
        split_arm("vgg16:frozen+div255:2")
    assert split_arm("vgg16:scratch+train:0.25@1e-4") == ("vgg16:scratch", {"train": 0.25}, 1e-4)
    for bad in ("vgg16:scratch+train", "vgg16:scratch+train:2"):
        with pytest.raises(ValueError, match="fraction 0 < F <= 1"):
            split_arm(bad)
    # +resize:N: the arm's model sees N px, so its size rules and source weights are N px ones
    from lib.checks import arm_size

    assert split_arm("inceptionv3:frozen+resize:75~source") == ("inceptionv3:frozen", {"resize": 75.0}, None)
    assert arm_size("inceptionv3:frozen+resize:75~source", 32) == 75 and arm_size("vgg16:frozen", 32) == 32
    assert arm_problems("inceptionv3:frozen+resize:75~source", 32) == []
    assert "75" in arm_problems("inceptionv3:frozen~source", 32)[0]  # InceptionV3 at 32 px: refused, its minimum named
    for bad in ("vgg16:frozen+resize", "vgg16:frozen+resize:7.5", "vgg16:frozen+resize:4"):
        with pytest.raises(ValueError, match="whole number of pixels"):
            split_arm(bad)
    with pytest.raises(ValueError, match="learning rate after '@' must be a positive number"):
        split_arm("vgg16:scratch@0")
    assert arm_problems("vgg16:frozen+noise:20", 32) == []
    (problem,) = arm_problems("vgg16:frozen+blur", 32)
    assert "unknown transform '+blur'" in problem


def test_an_arm_may_name_its_own_weights():
    from lib.checks import arm_policy, arm_problems, arm_weights, small_data, split_arm

    assert split_arm("onet:frozen~mtcnn@1e-3") == ("onet:frozen", {}, 1e-3)
    assert split_arm("efficientnetb0:frozen+noise:5~source:glyphs") == ("efficientnetb0:frozen", {"noise": 5.0}, None)
    assert arm_weights("onet:frozen~mtcnn@1e-3") == "mtcnn" and arm_weights("onet:frozen~source:glyphs") == "source:glyphs"
    assert arm_weights("onet:frozen", "source") == "source" and arm_weights("onet:frozen~none", "source") == "none"
    assert arm_policy("onet:frozen~mtcnn@1e-3") == "frozen"
    assert arm_problems("onet:frozen~mtcnn", 32) == []
    (problem,) = arm_problems("vgg16:frozen~mtcnn", 32)
    assert "'mtcnn' are MTCNN O-Net (onet)'s" in problem
    (problem,) = arm_problems("onet:frozen~mtnn", 32)
    assert "did you mean 'mtcnn'" in problem
    (problem,) = arm_problems("onet:frozen~", 32)
    assert "'~' must name weights" in problem
    (problem,) = arm_problems("onet:frozen", 24)
    assert "at least 27x27" in problem
    # the study's weights are checked against the arms that load them, not those that bring their own
    p = {"arms": ["onet:frozen~mtcnn", "vgg16:frozen"], "weights": "hed", "blog_claims": {}, "reference_arm": "",
         "image_size": 32, "image_dir": ""}
    small_data(p)
    with pytest.raises(ValueError, match="'hed' are VGG16's"):
        small_data({**p, "arms": ["onet:frozen", "vgg16:frozen"]})
    small_data({**p, "control_arm": "onet:frozen~mtcnn@0.01"})
    with pytest.raises(ValueError, match="control_arm: arm 'onet:frozn~mtcnn'.*did you mean 'frozen'"):
        small_data({**p, "control_arm": "onet:frozn~mtcnn"})


def _import_graph() -> dict[str, set[str]]:
    """lib's modules and the lib modules each imports (at module level or inside a function)."""
    import ast

    mods = {".".join(p.relative_to(REPO_ROOT).with_suffix("").parts): p
            for p in [*REPO_ROOT.glob("lib/*.py"), *REPO_ROOT.glob("lib/*/*.py")]}
    graph = {}
    for name, path in mods.items():
        out = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                out |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in mods else node.module
                        for a in node.names} & set(mods)
            elif isinstance(node, ast.Import):
                out |= {a.name for a in node.names} & set(mods)
        graph[name] = out - {name}
    return graph


def _loops(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import loop, as one of its modules' reach back to itself (each loop once, sorted)."""
    found = set()
    for start in graph:
        seen, todo = set(), list(graph[start])
        while todo:
            m = todo.pop()
            if m == start:
                back = {x for x in graph if start in _reach(graph, x) and x in _reach(graph, start)} | {start}
                found.add(tuple(sorted(back)))
                break
            if m not in seen:
                seen.add(m)
                todo += graph[m]
    return [list(x) for x in sorted(found)]


def _reach(graph, start):
    seen, todo = set(), list(graph[start])
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo += graph[m]
    return seen


def test_lib_has_no_import_loop():
    # the rule can fail: a made-up loop is found
    assert _loops({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _loops(_import_graph()) == []


# The layering (docs/layout.md): facts at the bottom (no TensorFlow, no judging), the engine above them
# (models, weights, training), judging and records above that, the studies on top. An import may only
# run down (or within its layer).
# (lib.prereqs reads parameter files, no TensorFlow: a fact, so that a missing-weights message in the engine
# can name the experiment that writes them)
# (lib.distribution: its pre-kernel check of `distribution`, read by lib.params, imports nothing; Keras only inside apply)
FACTS = {"lib.params", "lib.names", "lib.arms", "lib.distribution", "lib.prereqs",
         "lib.checks", "lib.quotes", "lib.drawing", "lib.data", "lib.images", "lib.datasets.plates",
         "lib.datasets.signs", "lib.detection_map", "lib.intervals", "lib.power", "lib.registry"}
ENGINE = {"lib.models", "lib.backbones", "lib.train", "lib.transfer", "lib.cache", "lib.detector"}


def _upward(graph: dict[str, set[str]]) -> list[str]:
    studies = {m for m in graph if m.startswith("lib.studies.")}
    judging = set(graph) - FACTS - ENGINE - studies
    allowed = {**{m: FACTS for m in FACTS}, **{m: FACTS | ENGINE for m in ENGINE},
               **{m: FACTS | ENGINE | judging for m in judging}}
    return sorted(f"{m} -> {d}" for m, deps in graph.items() if m in allowed for d in deps - allowed[m]
                  if d in graph and not d.endswith("__init__"))


def test_imports_run_down_the_layers():
    graph = {k: v for k, v in _import_graph().items() if not k.endswith("__init__")}
    assert FACTS | ENGINE <= set(graph)  # every named module exists
    assert _upward(graph) == []
    # the rule can fail: the engine reading run records, or a fact importing a study
    assert _upward({**graph, "lib.backbones": graph["lib.backbones"] | {"lib.records"}}) == ["lib.backbones -> lib.records"]
    assert _upward({**graph, "lib.checks": {"lib.studies.signs"}}) == ["lib.checks -> lib.studies.signs"]


def test_a_range_test_without_a_grid_is_refused():
    with pytest.raises(ValueError, match="lr_find: the range test is read against the rate the grid chooses"):
        checks.small_data(merged("small_data", lr_find=True, lr_grid=[]))
    checks.small_data(merged("small_data", lr_find=True, lr_grid=[1e-3]))


def _imported_names(node) -> list[str] | None:
    """The dotted names an import statement brings in (``from a import b`` gives ``a`` and ``a.b``), or ``None``."""
    import ast

    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom) and node.module:
        return [node.module, *[f"{node.module}.{a.name}" for a in node.names]]
    return None


def _tensorflow_side(mods: dict) -> set[str]:
    """lib's modules that import Keras or TensorFlow at module level, directly or through another lib module."""
    import ast

    direct, top = set(), {}
    for name, path in mods.items():
        deps = set()
        for node in ast.parse(path.read_text()).body:  # module level only
            names = _imported_names(node)
            if names is None:
                continue
            if any(n.split(".")[0] in ("keras", "tensorflow", "keras_tuner") for n in names):
                direct.add(name)
            deps |= set(names) & set(mods)
        top[name] = deps
    side = set(direct)
    while True:
        more = {m for m, deps in top.items() if deps & side} - side
        if not more:
            return side
        side |= more


def _local_tensorflow_imports(mods: dict, side: set[str]) -> list[str]:
    import ast

    found = []
    for name, path in mods.items():
        for fn in [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]:
            for node in ast.walk(fn):
                names = _imported_names(node)
                if names is None:
                    continue
                bad = [n for n in names if n.split(".")[0] in ("keras", "tensorflow", "keras_tuner") or n in side]
                if bad:
                    found.append(f"{name}.{fn.name}: {bad[0]}")
    return sorted(set(found))


def test_no_study_module_imports_tensorflow_inside_a_function():
    """A study module either holds no TensorFlow (its arms, claims and checks: what make imports before
    any kernel) or imports it at the top; the TensorFlow line runs between files, not inside functions."""
    mods = {".".join(p.relative_to(REPO_ROOT).with_suffix("").parts): p for p in REPO_ROOT.glob("lib/*.py")}
    mods |= {".".join(p.relative_to(REPO_ROOT).with_suffix("").parts): p for p in REPO_ROOT.glob("lib/*/*.py")}
    side = _tensorflow_side(mods)
    assert {"lib.transfer", "lib.train", "lib.studies.plates"} <= side and "lib.studies.plate_claims" not in side
    studies = {m: p for m, p in mods.items() if m.startswith("lib.studies.")}
    assert _local_tensorflow_imports(studies, side) == []
    # the rule can fail: a function-local Keras import is found
    fake = REPO_ROOT / "lib" / "studies" / "plate_claims.py"
    assert _local_tensorflow_imports({"x": fake}, side) == []
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        bad = Path(d) / "bad.py"
        bad.write_text("def f():\n    from lib import transfer\n    return transfer\n")
        assert _local_tensorflow_imports({"bad": bad}, side) == ["bad.f: lib.transfer"]
