"""The study registry (lib/registry.py) is the one place a study is declared: every notebook and every
parameter file has its entry, every check and prerequisite function it names exists, and the
modules that used to keep their own tables read it."""

import subprocess
import sys

import pytest

from lib import params, plan, prereqs, registry, report, summary
from lib.params import REPO_ROOT


def test_every_notebook_and_parameter_file_is_declared_and_nothing_else():
    notebooks = {p.stem for p in (REPO_ROOT / "notebooks").glob("*.ipynb")}
    assert set(registry.STUDIES) == notebooks
    files = {f"{p.parent.name}/{p.stem}" for p in (REPO_ROOT / "params").glob("*/*.yaml")}
    assert set(registry.experiments()) == files
    assert set(registry.measured_minutes()) == files  # each has a measured time for make all's plan
    studies = {n for n in registry.STUDIES if n != "summary"}
    assert {n for n in studies if registry.STUDIES[n].claims} == studies  # and says which claims it judges


@pytest.mark.parametrize("name", sorted(registry.STUDIES))
def test_each_named_function_exists_and_imports_without_tensorflow(name):
    study = registry.STUDIES[name]
    for target in (study.check, study.needs, study.claims):
        if target:
            assert callable(registry.resolve(target)), target
    code = ("import sys; from lib import registry; "
            f"s = registry.STUDIES[{name!r}]; [registry.resolve(t) for t in (s.check, s.needs, s.claims)]; "
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"  # make reads these before anything is built


def test_the_consumers_read_the_registry(monkeypatch):
    """A study added to the registry alone reaches the parameter checks, the prerequisites, the
    summary's expected verdicts, the front page's grouping and make all's plan."""
    called = []
    new = registry.Study("seed 999: a made-up study", check="lib.checks:source_pretrain", needs="lib.prereqs:arch_needs",
                         claims="lib.checks:cut_search_claims", minutes={"only": 2.5})
    monkeypatch.setitem(registry.STUDIES, "made_up", new)
    monkeypatch.setattr("lib.checks.source_pretrain", lambda p: called.append(p))
    params.check_study("made_up", {"x": 1})
    assert called == [{"x": 1}]
    assert prereqs.needs("made_up", {"arch": "VGG16", "image_size": 32, "weights": "source"}) == {("vgg16", 32, "shapes")}
    assert summary.owed_ids("made_up/only", "outputs", {"params": {"x": 1}}) == ["seed002.cut_search.agrees"]
    assert plan.measured()["made_up/only"] == 2.5
    assert registry.document("made_up") == "seed 999: a made-up study"
    assert not hasattr(summary, "EXPECTED") and not hasattr(plan, "MEASURED") and not hasattr(params, "STUDY_CHECKS")
    assert not hasattr(report, "STUDY_SOURCES")


def test_a_study_without_a_check_or_needs_gets_none():
    assert registry.check("summary") is None and registry.needs("d1_d2") is None
    assert registry.check("not_a_study") is None and registry.document("not_a_study") == "not_a_study"
    assert prereqs.needs("d1_d2", {}) == set()


def test_make_all_leaves_out_exactly_the_extended_studies(tmp_path):
    """The Makefile's EXTENDED_NOTEBOOKS is the registry's ``extended`` studies; ``make -n studies``
    (what ``make all`` runs before the summary) names none of their reports and ``make -n extended``
    names all of them (with the source pre-training they need), then the summary."""
    marked = {n for n, s in registry.STUDIES.items() if s.extended is True}
    assert marked == {"transferability"}  # a literature study: no seed claim
    some = {f"{n}/{e}" for n, s in registry.STUDIES.items() if isinstance(s.extended, tuple) for e in s.extended}
    assert some == {"small_data/methods", "signs/methods"}  # the fine-tuning methods on the faces and the signs
    lines = {x.split(":=")[0].strip(): set(x.split(":=")[1].split())
             for x in (REPO_ROOT / "Makefile").read_text().splitlines() if x.startswith("EXTENDED_")}
    assert lines["EXTENDED_NOTEBOOKS"] == marked and lines["EXTENDED_EXPERIMENTS"] == some

    def dry(target):
        out = subprocess.run(["make", "-n", "-k", f"OUTPUTS={tmp_path}", target], cwd=REPO_ROOT,
                             capture_output=True, text=True)
        return {ln.split()[4].split(f"{tmp_path}/")[1].removesuffix(".ipynb")
                for ln in out.stdout.splitlines() if "-m lib.runner" in ln}

    studies, extended = dry("studies"), dry("extended")
    want = {k for k in registry.experiments() if registry.extended(k)}
    assert want == {k for k in registry.experiments() if k.split("/")[0] in marked} | some
    assert studies and not studies & want and extended >= want | {"summary/default"}
    assert all(k.startswith("source_pretrain/") for k in extended - want - {"summary/default"})
    assert studies | want == set(registry.experiments()) - {"summary/default"}


def test_the_seed_targets_partition_make_alls_reports():
    from lib import registry

    seeds = {s: registry.seed_reports(s, "o") for s in ("000", "001", "002", "003")}
    every = [r for rs in seeds.values() for r in rs]
    assert len(every) == len(set(every))  # no report in two seed targets
    expected = {f"o/{k}.ipynb" for k in registry.experiments()
                if not registry.extended(k) and registry.document(k.split("/")[0]).startswith("seed ")}
    assert set(every) == expected and "o/plates/h1_h4.ipynb" in seeds["000"] and "o/d1_d2/digits.ipynb" in seeds["003"]
    makefile = (registry.__file__.rsplit("/lib/", 1)[0] + "/Makefile")
    text = open(makefile).read()
    assert all(f"\nseed-{s}: " in text and f"seed_run,{s})" in text for s in seeds)
