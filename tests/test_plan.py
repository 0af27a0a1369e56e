"""make all's progress lines: the plan from make's dry run, expected times, n of N and time left."""

import json

from lib import plan

DRY = """.venv/bin/python -m lib.runner notebooks/d1_d2.ipynb OUT/d1_d2/synthetic.ipynb params/d1_d2/synthetic.yaml
echo something else
.venv/bin/python -m lib.runner notebooks/signs.ipynb OUT/signs/country_shift.ipynb params/signs/country_shift.yaml
"""


def test_plan_takes_expected_times_from_the_last_good_record(tmp_path, monkeypatch):
    out = tmp_path / "OUT"
    (out / "d1_d2").mkdir(parents=True)
    for name, wall, start, status in (("synthetic.aaa.json", 600, 1, "ok"), ("synthetic.bbb.json", 300, 2, "ok"),
                                      ("synthetic.ccc.failed.json", 5, 3, "failed")):
        (out / "d1_d2" / name).write_text(json.dumps({"status": status, "wall_s": wall, "started_unix": start}))
    monkeypatch.setattr(plan, "measured", lambda: {"signs/country_shift": 9.0})
    monkeypatch.chdir(tmp_path)
    path = plan.write_plan("OUT", DRY)
    steps = json.loads(path.read_text())["steps"]
    assert [(s["experiment"], s["minutes"], s["from"]) for s in steps] == [
        ("d1_d2/synthetic", 5.0, "its last record"), ("signs/country_shift", 9.0, "measured")]


def test_status_lines_count_reports_and_time_left(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(plan, "measured", dict)
    path = plan.write_plan("OUT", DRY)
    monkeypatch.setenv(plan.PLAN_ENV, str(path))
    p = json.loads(path.read_text())
    events = plan._event(p, "start", "OUT/d1_d2/synthetic.ipynb")
    line = plan.status_line(p, events, "OUT/d1_d2/synthetic.ipynb", "start")
    assert line.startswith("[1/2] OUT/d1_d2/synthetic.ipynb starts (about 5.0 min, a guess)")
    assert "about 10 min left" in line
    events = plan._event(p, "end", "OUT/d1_d2/synthetic.ipynb")
    events = plan._event(p, "start", "OUT/signs/country_shift.ipynb")
    line = plan.status_line(p, events, "OUT/signs/country_shift.ipynb", "start")
    assert line.startswith("[2/2]") and "about 5 min left" in line
    monkeypatch.delenv(plan.PLAN_ENV)
    plan.started("anything")  # without a plan: silent, no error
