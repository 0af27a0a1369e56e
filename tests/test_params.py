from pathlib import Path

import pytest

from lib import params as P

CELL = '''# a comment line is fine
epochs: int = 20  # epochs per arm [min 1]
lr: float = 1e-3  # learning rate [> 0]
frac: float = 0.5  # a fraction [> 0, max 1]
data: str = "synthetic"  # source [one of: synthetic, digits, csv]
hidden: list[int] = [128, 64]  # layer sizes [min 1]
flag: bool = True  # a switch
csv: str = ""  # a file [path]
note: str = "x"  # brackets [like these] are just text
'''


@pytest.fixture
def specs():
    return P.parse_parameters_source(CELL)


def test_parse_reads_types_defaults_and_constraints(specs):
    assert list(specs) == ["epochs", "lr", "frac", "data", "hidden", "flag", "csv", "note"]
    assert specs["epochs"].default == 20 and specs["epochs"].bounds == ((">=", 1.0),)
    assert specs["frac"].bounds == ((">", 0.0), ("<=", 1.0))
    assert specs["data"].choices == ("synthetic", "digits", "csv")
    assert specs["csv"].is_path and not specs["note"].bounds and not specs["note"].choices
    assert specs["hidden"].type_name == "list[int]"


def test_defaults_pass(specs):
    assert P.validate({}, specs)["epochs"] == 20


def test_unknown_key_is_refused_with_suggestion(specs):
    with pytest.raises(P.ParameterError, match=r"unknown parameter 'epoch'.*did you mean 'epochs'"):
        P.validate({"epoch": 5}, specs)


@pytest.mark.parametrize("key,value,message", [
    ("epochs", 0, "must be >= 1"),
    ("epochs", 2.5, "expected int"),
    ("epochs", True, "expected int"),
    ("frac", 1.5, "must be <= 1"),
    ("lr", 0, "must be > 0"),
    ("data", "synthetc", "did you mean 'synthetic'"),
    ("hidden", [128, "a"], "expected list"),
    ("hidden", [128, 0], "must be >= 1"),
    ("flag", "yes", "expected bool"),
    ("csv", "no/such/file.csv", "no such file"),
])
def test_bad_values_name_key_value_and_allowed(specs, key, value, message):
    with pytest.raises(P.ParameterError) as exc:
        P.validate({key: value}, specs)
    text = str(exc.value)
    assert f"parameter {key!r}" in text and message in text and "allowed:" in text


def test_int_is_accepted_for_float_and_path_resolves(specs, tmp_path):
    f = tmp_path / "d.csv"
    f.write_text("a,label\n1,0\n")
    out = P.validate({"lr": 1, "csv": str(f)}, specs)
    assert out["lr"] == 1 and out["csv"] == str(f)


def test_all_problems_reported_at_once(specs):
    with pytest.raises(P.ParameterError) as exc:
        P.validate({"epochz": 1, "lr": -1}, specs)
    assert "epochz" in str(exc.value) and "'lr'" in str(exc.value)


def test_overlays_later_files_win(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("epochs: 5\nlr: 0.1\n")
    b.write_text("epochs: 2\n")
    assert P.load_overlays([a, b]) == {"epochs": 2, "lr": 0.1}
    with pytest.raises(FileNotFoundError):
        P.load_overlays([tmp_path / "missing.yaml"])


def test_parameters_cell_must_be_literals():
    with pytest.raises(P.ParameterError, match="literal"):
        P.parse_parameters_source("x: int = len('ab')  # computed\n")


def test_every_parameter_file_validates_against_its_notebook():
    files = sorted(Path(P.REPO_ROOT, "params").glob("*/*.yaml"))
    assert files, "no parameter files found"
    for f in files:
        nb = f.parent.name
        specs = P.read_parameters(nb).specs
        profiles = sorted((f.parent / "profiles").glob("*.yaml"))
        assert any(p.stem == "smoke" for p in profiles), f"{nb} has no smoke profile"
        for overlay in [[f], *[[f, p] for p in profiles]]:
            P.validate(P.load_overlays(overlay), specs, source=str(overlay))


def test_every_notebook_has_commented_annotated_parameters():
    for nb in sorted(Path(P.REPO_ROOT, "notebooks").glob("*.ipynb")):
        for spec in P.read_parameters(nb).specs.values():
            assert spec.help, f"{nb.name}: parameter {spec.name} has no comment"
            assert "=" not in spec.help, f"{nb.name}: '=' in the comment of {spec.name} breaks papermill"


def test_a_yaml_syntax_error_names_the_file_line_and_column(tmp_path):
    from lib import params as P

    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: 3\narms: [scratch, frozen\nseed: 1\n")
    with pytest.raises(P.ParameterError) as err:
        P.load_overlays([bad])
    assert str(err.value).startswith(f"{bad}:3:") and "not valid YAML" in str(err.value)
    assert "<unicode string>" not in str(err.value)


def test_old_seed_document_names_are_accepted_once_with_a_note(capsys):
    from lib import params as P

    specs = P.read_parameters("small_data").specs
    merged = P.validate({"seed_claims": {"simple_cnn:scratch": "learns"}}, specs, source="x.yaml")
    assert merged["blog_claims"] == {"simple_cnn:scratch": "learns"} and "seed_claims" not in merged
    assert "'seed_claims' is now 'blog_claims'" in capsys.readouterr().err
    with pytest.raises(P.ParameterError, match="give only 'blog_reported'"):
        P.validate({"seed_reported": {}, "blog_reported": {}}, specs)
    assert not any(name.startswith("seed_") for name in specs)  # `seed` means a random seed only


def test_one_controls_switch_in_every_notebook_the_old_name_accepted_with_a_note(capsys):
    from lib import params as P

    names = sorted(p.stem for p in P.NOTEBOOK_DIR.glob("*.ipynb"))
    with_controls = [nb for nb in names if "controls" in P.read_parameters(nb).specs]
    assert len(with_controls) >= 7 and not [nb for nb in names if "negative_control" in P.read_parameters(nb).specs]
    merged = P.validate({"negative_control": False}, P.read_parameters("plates").specs, source="old.yaml")
    assert merged["controls"] is False and "'negative_control' is now 'controls'" in capsys.readouterr().err


@pytest.mark.parametrize("notebook, new", [("signs", "target_epochs"), ("sign_detector", "source_epochs"),
                                           ("cut_search", "finetune_epochs")])
def test_epochs_means_every_compared_arms_epochs_and_a_staged_study_names_its_stage(notebook, new, capsys):
    from lib import params as P

    specs = P.read_parameters(notebook).specs
    assert "epochs" not in specs and new in specs
    assert P.validate({"epochs": 7}, specs, notebook=notebook)[new] == 7
    assert f"'epochs' is now '{new}'" in capsys.readouterr().err
    with pytest.raises(P.ParameterError, match="unknown parameter 'epochs'"):  # only where it was renamed
        P.validate({"epochs": 7}, specs, notebook="plates")
    for other in ("small_data", "plates", "transferability", "source_pretrain"):
        assert "epochs" in P.read_parameters(other).specs


def test_a_rate_for_the_head_alone_is_head_learning_rate():
    from lib import params as P

    for notebook in ("signs", "cut_search"):
        assert "head_learning_rate" in P.read_parameters(notebook).specs
    specs = P.read_parameters("signs").specs
    assert "learning_rate" not in specs
    assert P.validate({"learning_rate": 0.01}, specs, notebook="signs")["head_learning_rate"] == 0.01


def test_collect_in_a_notebook_runs_the_study_rules_as_the_runner_does():
    from lib import params as P

    ns = {n: s.default for n, s in P.read_parameters("signs").specs.items()}
    assert P.collect(ns, "signs")["arch"] == ns["arch"]
    with pytest.raises(P.ParameterError, match="transfer_from 'x' must be one of source_inits"):
        P.collect({**ns, "transfer_from": "x"}, "signs")
