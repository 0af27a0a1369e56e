"""The Dask path (lib/dask_run.py): the same plan as make, as futures; a failure fails only the
reports that need it; the summary runs last; and one real smoke report through a LocalCluster."""

import json
import subprocess
import sys

import pytest

from lib import dask_run as D
from lib import prereqs
from lib.params import REPO_ROOT


def test_the_plan_is_makes():
    graph = prereqs.graph("smoke")
    assert set(graph) == {f"{p.parent.name}/{p.stem}" for p in (REPO_ROOT / "params").glob("*/*.yaml")
                          if (p.parent / "profiles" / "smoke.yaml").is_file()}
    assert graph["small_data/domain"]["deps"] == ["source_pretrain/onet"]
    made = {}  # make's rules: target -> its prerequisites (one line may name several)
    for line in prereqs.rules("OUT").splitlines():
        target, colon, deps = line.partition(": ")
        if colon and target.startswith("OUT/smoke/") and not line.startswith("#"):
            made.setdefault(target, set()).update(deps.split())
    for stem, node in graph.items():  # every dependency is one of make's rules, and the other way round
        want = {f"OUT/smoke/{d}.ipynb" for d in node["deps"]}
        assert want <= made.get(f"OUT/smoke/{stem}.ipynb", set()), stem
    assert graph["small_data/architecture"]["deps"] and len(made["OUT/smoke/small_data/architecture.ipynb"]) == 3
    argv = D.argv_of("small_data/domain", graph["small_data/domain"]["files"], "OUT", "smoke")
    assert argv == ["notebooks/small_data.ipynb", "OUT/smoke/small_data/domain.ipynb", "params/small_data/domain.yaml",
                    "params/small_data/profiles/smoke.yaml"]
    assert set(D.select(graph, ["small_data/domain"])) == {"small_data/domain", "source_pretrain/onet"}
    with pytest.raises(SystemExit, match="unknown report"):
        D.select(graph, ["small_data/nope"])


def test_make_alls_plan_leaves_the_extended_studies_out():
    graph = prereqs.graph(None)
    core = D.core(graph)
    assert "transferability/default" in graph and not any(k.startswith("transferability/") for k in core)
    literature = {k for k in graph if k.startswith("transferability/")} | {"small_data/methods", "signs/methods"}
    assert set(graph) - set(core) == literature
    assert D.core(graph, extended=True) == graph


def test_a_failure_fails_only_its_dependants_and_the_summary_runs_last(monkeypatch, tmp_path):
    from dask.distributed import Client, LocalCluster

    ran = []

    def fake(argv, *needed):
        ran.append(argv[1].split("/smoke/")[1])
        if "source_pretrain/onet" in argv[1]:
            raise RuntimeError("boom on purpose")
        return argv[1]

    graph = {k: v for k, v in prereqs.graph("smoke").items()
             if k in ("source_pretrain/onet", "small_data/domain", "small_data/simple_cnn", "summary/default")}
    graph["d1_d2/synthetic"] = {"files": [], "deps": [], "error": "d1_csv: no such file"}
    monkeypatch.setattr(D, "run_one", fake)
    with Client(LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None)) as client:
        futures = D.submit_all(client, graph, str(tmp_path), "smoke", force=True)
        status = {k: repr(f.exception()) if f.exception() else f.result() for k, f in futures.items()}
    assert "summary/default" not in futures  # the caller runs it last, over whatever finished
    assert "boom on purpose" in status["source_pretrain/onet"] and "boom on purpose" in status["small_data/domain"]
    assert "d1_csv: no such file" in status["d1_d2/synthetic"]
    assert status["small_data/simple_cnn"].endswith("small_data/simple_cnn.ipynb")
    assert "small_data/domain" not in ran  # its prerequisite failed: never started


def test_an_up_to_date_report_is_not_run_again(tmp_path):
    params = tmp_path / "p.yaml"
    params.write_text("x: 1\n")
    out = tmp_path / "small_data" / "exp.ipynb"
    assert not D.up_to_date(out, [params])
    out.parent.mkdir()
    out.write_text("{}")
    assert D.up_to_date(out, [params])
    params.write_text("x: 2\n")  # a newer input: rerun
    import os
    os.utime(params, (out.stat().st_mtime + 10, out.stat().st_mtime + 10))
    assert not D.up_to_date(out, [params])


@pytest.mark.notebook
def test_one_smoke_report_and_the_summary_through_a_local_cluster(tmp_path):
    res = subprocess.run([sys.executable, "-m", "lib.dask_run", "--profile", "smoke", "--outputs", str(tmp_path),
                          "--only", "source_pretrain/simple_cnn", "summary/default"], cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    assert "ok     source_pretrain/simple_cnn" in res.stdout and "1 of 1 report(s) ok" in res.stdout
    out = tmp_path / "smoke" / "source_pretrain" / "simple_cnn.ipynb"
    (rec,) = [json.loads(p.read_text()) for p in out.parent.glob("simple_cnn.*.json")]
    assert rec["status"] == "ok" and out.is_file()
    assert (tmp_path / "smoke" / "summary" / "default.ipynb").is_file()  # the summary ran last
    before = out.stat().st_mtime
    again = subprocess.run([sys.executable, "-m", "lib.dask_run", "--profile", "smoke", "--outputs", str(tmp_path),
                            "--only", "source_pretrain/simple_cnn"], cwd=REPO_ROOT, capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0 and out.stat().st_mtime == before  # up to date: not run again
