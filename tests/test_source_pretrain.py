"""The source pre-training's verdicts are keyed by the parameter's architecture names (what the
studies look up), not by the runner's arm spec."""

import numpy as np
import pandas as pd

from lib import claims as C
from lib.data import Task
from lib.studies import source_pretrain as study


def test_learned_metrics_and_claims_use_the_architecture_names():
    y = np.arange(200) % 20
    x = np.zeros((200, 2, 2, 3), "float32")
    task = Task("source shapes", x, y, x, y, x, y, [f"c{i}" for i in range(20)])
    rows = pd.DataFrame([{"arm": "simple_cnn:scratch", "test_acc": 0.9, "weights_file": "w1"},
                         {"arm": "vgg16:scratch", "test_acc": 0.05, "weights_file": "w2"}])
    p = {"archs": ["simple_cnn", "vgg16"], "source_task": "shapes", "image_size": 32}
    learned = study.learned(rows, task, p)
    assert list(learned) == ["simple_cnn", "vgg16"] and learned["simple_cnn"].held and not learned["vgg16"].held
    m = study.metrics(rows, task, learned)
    assert m["source_test_acc"] == {"simple_cnn": 0.9, "vgg16": 0.05} and m["weights_files"]["vgg16"] == "w2"
    claims = study.prerequisite_claims(learned, p)
    assert [c.id for c in claims] == ["prerequisite.shapes.simple_cnn.32", "prerequisite.shapes.vgg16.32"]
    assert [c.verdict for c in claims] == [C.REPRODUCED, C.NOT_REPRODUCED]
