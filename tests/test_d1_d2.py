"""Seed 003's claims (lib/studies/d1_d2.py) on made-up runs whose answer is known."""

import numpy as np
import pandas as pd

from lib import claims as C
from lib.studies import d1_d2


def _hist(curve, spe=10, stopped_early=1.0):
    return {"val_epoch": list(range(1, len(curve) + 1)), "val_accuracy": curve, "loss": [1.0] * len(curve),
            "steps_per_epoch": [spe], "stopped_early": [stopped_early],
            "best_epoch": [float(np.argmax(curve) + 1)]}


def test_steps_to_target_censors_at_the_steps_trained():
    assert d1_d2.steps_to_target(_hist([0.5, 0.8, 0.9]), 0.8) == (20, False)
    assert d1_d2.steps_to_target(_hist([0.5, 0.6]), 0.8) == (20, True)  # never reached: censored at 2 epochs


def _rows_and_history(control_stopped_early=1.0):
    rng = np.random.default_rng(0)
    n = 1500
    truth = rng.random(n) < 0.85
    rows = []
    for arm, acc_shift in (("source", 0), ("frozen", 0), ("control", 0)):
        for s in range(5):
            corr = np.where(rng.random(n) < 0.05, rng.random(n) < 0.85, truth).astype(float)
            rows.append({"arm": arm, "seed": s, "test_acc": corr.mean(), "test_correct": corr})
    history = {"frozen": {str(s): _hist([0.6, 0.85, 0.9]) for s in range(5)},
               "control": {str(s): _hist([0.5, 0.6, 0.7, 0.75], stopped_early=control_stopped_early)
                           for s in range(5)}}  # never reaches 0.8
    return rows, history, n


def test_claims_pair_examples_and_treat_censored_speed_as_time_to_event():
    rows, history, n = _rows_and_history()
    got = {c.id: c for c in d1_d2.claims(pd.DataFrame(rows), history, n_test=n, chance=0.5, d1_n_test=n,
                                         d1_chance=0.5, target=0.8, margin=0.02)}
    no_help = got["d1_d2.author.no_help"]
    assert "paired" in no_help.interval["method"] and no_help.verdict == C.REPRODUCED
    assert no_help.quote.startswith("most of the learning") and no_help.said_by == "asker"
    assert no_help.data == "stand-in"
    faster = got["d1_d2.answer.faster"]
    assert faster.verdict == C.REPRODUCED and faster.said_by == "answer"
    assert "control reached it in 0 of 5 seeds" in faster.evidence


def test_accuracy_claim_needs_runs_that_ended_by_early_stopping():
    rows, history, n = _rows_and_history(control_stopped_early=0.0)  # the control ran into the step cap
    got = {c.id: c for c in d1_d2.claims(pd.DataFrame(rows), history, n_test=n, chance=0.5, d1_n_test=n,
                                         d1_chance=0.5, target=0.8, margin=0.02)}
    no_help = got["d1_d2.author.no_help"]
    assert no_help.verdict == C.NOT_TESTABLE
    assert "control converged: FAILED (5 of 5 runs still improving at the epoch cap)" in no_help.reason
    assert got["d1_d2.answer.faster"].verdict == C.REPRODUCED  # time to event handles the censored runs itself
