"""A view rendered window by window: every window holds exactly the full-field image's pixels."""

from __future__ import annotations

import numpy as np
import pytest

from preprocessing.phantom import anatomy
from preprocessing.phantom.noise import NOISE_TILE, NoiseField
from preprocessing.phantom.scene import AddedSignal, ViewScene


def _scene(view: str, chest_wall_left: bool, seed: int) -> ViewScene:
    """Drawn as render_view draws one, on a grid coarse enough for the tissue to be upsampled."""
    rng = np.random.default_rng(seed)
    geom = anatomy.draw_geometry(rng, (1100, 700), chest_wall_left, view)
    tissue = anatomy.draw_tissue(rng, geom, 3, view)
    spot = np.zeros((9, 9), np.float32)
    spot[3:6, 3:6] = 500.0
    calcs = (AddedSignal(spot, 300, 200), AddedSignal(spot, 305, 203), AddedSignal(spot, -4, -4))
    overlays = (anatomy.draw_label_block(rng, geom, f"L {view}"),
                anatomy.draw_scanner_edge(rng, geom))
    return ViewScene(tissue, calcs, overlays, NoiseField.draw(rng))


@pytest.mark.parametrize(("view", "chest_wall_left", "seed"),
                         [("MLO", True, 0), ("MLO", False, 1), ("CC", False, 2)])
def test_windows_are_the_full_images_pixels(view: str, chest_wall_left: bool, seed: int) -> None:
    scene = _scene(view, chest_wall_left, seed)
    assert scene.tissue.coarse.shape != scene.shape  # the upsampled path is the one checked
    full = scene.full_image()
    rows, cols = scene.shape
    assert full.dtype == np.uint16 and full.shape == (rows, cols)
    assert np.array_equal(full, scene.pixels(slice(0, rows), slice(0, cols)))  # strips or not
    rng = np.random.default_rng(seed)
    corners = [(0, 0), (295, 195), (NOISE_TILE - 5, 250), (rows - 30, cols - 30)]
    corners += [(int(rng.integers(rows - 1)), int(rng.integers(cols - 1))) for _ in range(10)]
    for top, left in corners:
        height, width = (int(v) for v in rng.integers(1, 300, 2))
        window = slice(top, min(top + height, rows)), slice(left, min(left + width, cols))
        assert np.array_equal(scene.pixels(*window), full[window])


def test_the_view_has_its_parts_where_drawn() -> None:
    """Muscle brighter than fat at the chest-wall corner, the label and the calcification."""
    scene = _scene("MLO", True, 0)
    clean = scene.clean(slice(0, scene.shape[0]), slice(0, scene.shape[1]))
    label = scene.overlays[0]
    assert np.array_equal(clean[label.rows, label.cols], label.values)
    assert clean[302:305, 202:205].mean() > clean[280:290, 180:190].mean() + 400.0
    muscle = scene.tissue.pectoral
    assert muscle is not None
    assert clean[20:30, 5:15].mean() > scene.tissue.background + 500.0
