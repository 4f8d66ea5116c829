"""The 1-NN memoriser: perfect where copies sit on both sides, chance where they don't."""

import numpy as np

from mcal_lightning.integrity.memoriser import all_turns, memoriser_scores, thumbnails


def noise_rois(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 65535, (n, 48, 48), dtype=np.uint16), rng.integers(0, 2, n)


def test_thumbnails_rotate_before_shrinking():
    images, _ = noise_rois(2)
    turned = thumbnails(images, np.array([0, 0]), np.array([0, 1]))
    reference = thumbnails(np.rot90(images[:1], 1, axes=(1, 2)).copy(), np.array([0]),
                           np.array([0]))
    np.testing.assert_allclose(turned[1], reference[0], atol=1e-4)
    assert turned.shape == (2, 32 * 32)
    np.testing.assert_allclose(turned.mean(axis=1), 0, atol=1e-4)


def test_rotated_twins_across_the_split_are_all_recalled():
    images, labels = noise_rois(40)
    rows, turns = all_turns(np.arange(40))
    order = np.random.default_rng(1).permutation(len(rows))
    held, kept = order[:32], order[32:]
    scores = memoriser_scores(images, (rows[kept], turns[kept], labels[rows[kept]]),
                              (rows[held], turns[held], labels[rows[held]]))
    assert scores["accuracy"] == 1.0 and scores["mcc"] == 1.0 and scores["auroc"] == 1.0


def test_without_twins_it_is_no_better_than_chance():
    images, labels = noise_rois(200, seed=2)
    train_rows, train_turns = all_turns(np.arange(100))
    test_rows = np.arange(100, 200)
    scores = memoriser_scores(images, (train_rows, train_turns, labels[train_rows]),
                              (test_rows, np.zeros(100, np.int64), labels[test_rows]))
    assert 0.3 < scores["accuracy"] < 0.7 and abs(scores["mcc"]) < 0.3
