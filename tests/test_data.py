import numpy as np
import pytest

from lib import data as D


def test_latent_tasks_are_deterministic_and_shaped():
    (x1, y1), (x2, y2) = D.make_latent_tasks(500, 200, n_features=12, seed=3)
    (a1, b1), (a2, b2) = D.make_latent_tasks(500, 200, n_features=12, seed=3)
    assert x1.shape == (500, 12) and x2.shape == (200, 12) and x1.dtype == np.float32
    np.testing.assert_array_equal(x1, a1)
    np.testing.assert_array_equal(y2, b2)
    (c1, _), _ = D.make_latent_tasks(500, 200, n_features=12, seed=4)
    assert not np.allclose(x1, c1)


def test_similarity_one_gives_same_classes_in_another_order():
    # same read-out up to a column permutation: the class frequencies are a permutation of D1's
    (_, y1), (_, y2) = D.make_latent_tasks(20000, 20000, n_classes_d1=5, n_classes_d2=5, similarity=1.0, seed=0)
    f1, f2 = np.bincount(y1) / len(y1), np.bincount(y2) / len(y2)
    np.testing.assert_allclose(np.sort(f1), np.sort(f2), atol=0.015)
    assert not np.allclose(f1, f2, atol=0.015)  # ... but in another order


def test_similarity_validation():
    with pytest.raises(ValueError, match="similarity"):
        D.make_latent_tasks(100, 100, similarity=1.5)
    with pytest.raises(ValueError, match="n_classes_d2 == n_classes_d1"):
        D.make_latent_tasks(100, 100, n_classes_d1=4, n_classes_d2=3, similarity=0.5)


def test_synthetic_split_is_64_16_20_and_stratified():
    d1, d2 = D.synthetic_tasks(1000, 500, seed=0)
    assert d1.sizes() == {"train": 640, "validation": 160, "test": 200}
    assert d2.sizes() == {"train": 320, "validation": 80, "test": 100}
    assert d1.n_features == d2.n_features == 32 and d1.n_classes == 10


def test_digits_halves():
    d1, d2 = D.digits_tasks()
    assert d1.n_features == d2.n_features == 64
    assert d1.class_names == ["0", "1", "2", "3", "4"] and d2.class_names == ["5", "6", "7", "8", "9"]
    assert set(np.unique(d2.y_train)) == set(range(5))


def _csv(path, header, rows):
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def test_csv_tasks_read_and_encode_labels(tmp_path):
    rows = [f"{i},{i % 3},{'cat' if i % 2 else 'dog'}" for i in range(40)]
    f1 = _csv(tmp_path / "d1.csv", "a,b,label", rows)
    f2 = _csv(tmp_path / "d2.csv", "a,b,label", rows)
    d1, d2 = D.csv_tasks(f1, f2)
    assert d1.class_names == ["cat", "dog"] and d1.n_features == 2
    assert sum(d1.sizes().values()) == 40


def test_csv_errors_name_the_problem(tmp_path):
    good = _csv(tmp_path / "g.csv", "a,b,label", [f"{i},{i},{i % 2}" for i in range(20)])
    other = _csv(tmp_path / "o.csv", "a,c,label", [f"{i},{i},{i % 2}" for i in range(20)])
    text = _csv(tmp_path / "t.csv", "a,b,label", [f"{i},x,{i % 2}" for i in range(20)])
    nolabel = _csv(tmp_path / "n.csv", "a,b,y", [f"{i},{i},{i % 2}" for i in range(20)])
    with pytest.raises(ValueError, match="same feature columns.*only in D1: \\['b'\\]"):
        D.csv_tasks(good, other)
    with pytest.raises(ValueError, match="non-numeric: \\['b'\\]"):
        D.read_csv_task(text)
    with pytest.raises(ValueError, match="no label column 'label'"):
        D.read_csv_task(nolabel)
    with pytest.raises(FileNotFoundError):
        D.read_csv_task(tmp_path / "missing.csv")
    with pytest.raises(ValueError, match="needs both d1_csv and d2_csv"):
        D.load_d1_d2("csv", d1_csv=str(good))


def test_control_tasks_are_drawn_from_what_the_source_never_trained_on():
    import numpy as np

    from lib import data as D

    d1, d2 = D.digits_tasks(seed=0)
    pos = D.positive_control_task(d1, 60, seed=0)
    assert len(pos.y_train) == 60 and len(pos.y_val) == 30
    assert len(pos.y_test) == len(d1.y_val) + len(d1.y_test) - 90  # every other held-out sample is test
    seen = {r.tobytes() for r in d1.x_train}
    assert not any(r.tobytes() in seen for r in np.concatenate([pos.x_train, pos.x_val, pos.x_test]))
    assert pos.class_names == d1.class_names
    neg = D.shuffled_labels_task(d2, seed=0)
    assert np.array_equal(neg.y_test, d2.y_test) and not np.array_equal(neg.y_train, d2.y_train)
    assert sorted(neg.y_train) == sorted(d2.y_train)


def test_train_fraction_cuts_only_the_training_split_per_class_and_nested():
    x, y = np.arange(200, dtype="float32")[:, None], np.repeat([0, 1], [150, 50])
    task = D.Task("t", x, y, x[:10], y[:10], x[10:30], y[10:30], ["a", "b"])
    quarter, half = D.train_fraction(task, 0.25), D.train_fraction(task, 0.5)
    assert np.bincount(quarter.y_train).tolist() == [38, 12] and np.bincount(half.y_train).tolist() == [75, 25]
    assert set(quarter.x_train[:, 0]) < set(half.x_train[:, 0])  # nested: a quarter is inside the half
    assert quarter.x_val is task.x_val and quarter.x_test is task.x_test  # validation and test untouched
    assert D.train_fraction(task, 1.0) is task
    with pytest.raises(ValueError, match="fraction"):
        D.train_fraction(task, 0)
