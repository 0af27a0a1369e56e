import numpy as np
import pytest

from lib import images


def test_source_shapes_deterministic_balanced_raw_pixels():
    x, y, names = images.source_shapes(60, size=24, n_classes=6, seed=1)
    x2, y2, _ = images.source_shapes(60, size=24, n_classes=6, seed=1)
    assert x.shape == (60, 24, 24, 3) and x.dtype == np.uint8 and len(names) == 6
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    assert np.bincount(y).tolist() == [10] * 6
    assert x.max() > 200 and x.min() < 50  # raw 0-255, not scaled
    with pytest.raises(ValueError, match="n_classes"):
        images.source_shapes(10, n_classes=25)


def test_target_faces_binary_balanced_and_seeded():
    x, y, names = images.target_faces(40, size=32, seed=0)
    assert names == ["person_a", "person_b"] and np.bincount(y).tolist() == [20, 20]
    x_other, _, _ = images.target_faces(40, size=32, seed=1)
    assert not np.array_equal(x, x_other)
    with pytest.raises(ValueError, match="at least 16"):
        images.target_faces(10, size=8)


def test_target_faces_classes_are_separable_but_not_trivially():
    # a linear probe on raw pixels should beat chance yet stay far from perfect
    from sklearn.linear_model import LogisticRegression
    x, y, _ = images.target_faces(600, size=32, seed=0)
    flat = x.reshape(len(x), -1) / 255.0
    clf = LogisticRegression(max_iter=300).fit(flat[:400], y[:400])
    acc = clf.score(flat[400:], y[400:])
    assert 0.5 < acc < 0.95


def _save(path, array):
    from PIL import Image
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_image_folder_loads_and_names_corrupt_files(tmp_path):
    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        for i in range(3):
            _save(tmp_path / cls / f"{i}.png", rng.integers(0, 255, (20, 20, 3), dtype=np.uint8))
    x, y, names = images.load_image_folder(tmp_path, 16)
    assert x.shape == (6, 16, 16, 3) and names == ["cat", "dog"] and sorted(y.tolist()) == [0, 0, 0, 1, 1, 1]
    (tmp_path / "dog" / "broken.png").write_bytes(b"not an image at all")
    with pytest.raises(ValueError, match=r"(?s)1 unreadable or corrupt image.*broken\.png"):
        images.check_image_folder(tmp_path)


def test_image_folder_structure_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        images.check_image_folder(tmp_path / "missing")
    (tmp_path / "only").mkdir()
    with pytest.raises(ValueError, match="at least 2 classes"):
        images.check_image_folder(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no images"):
        images.check_image_folder(tmp_path)


def test_extra_test_faces_join_only_the_test_split():
    from lib import images

    base, *_ = images.target_task("", 16, n_images=40, difficulty=1.0, seed=0)
    more, *_ = images.target_task("", 16, n_images=40, difficulty=1.0, seed=0, extra_test=30)
    assert len(more.y_test) == len(base.y_test) + 30
    np.testing.assert_array_equal(more.x_train, base.x_train)
    np.testing.assert_array_equal(more.y_val, base.y_val)
    # the extra faces are new draws, not copies of training faces
    flat = more.x_train.reshape(len(more.x_train), -1)
    assert not any((flat == e.reshape(1, -1)).all(1).any() for e in more.x_test[-30:])
