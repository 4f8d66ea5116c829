"""Window-by-window anatomy: the pectoral muscle blurred for a crop alone is the whole image's."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from preprocessing.phantom import anatomy


@pytest.mark.parametrize(("shape", "chest_wall_left"),
                         [((4000, 2600), True), ((3771, 2693), False), ((211, 131), True)])
def test_pectoral_windows_are_the_whole_images_blur(shape: tuple[int, int],
                                                    chest_wall_left: bool) -> None:
    rng = np.random.default_rng(shape[0])
    geom = anatomy.draw_geometry(rng, shape, chest_wall_left, "MLO")
    pectoral = anatomy.draw_pectoral(rng, geom)
    triangle = np.zeros(shape, np.float32)
    cv2.fillConvexPoly(triangle, pectoral.corners, 1.0)
    whole = cv2.GaussianBlur(triangle, (0, 0), pectoral.sigma)
    edge_row = int(pectoral.corners[:, 1].max())  # the triangle's lowest corner
    tip_col = int(pectoral.corners[0:2, 0].mean())
    windows = [(0, 0, 40, 40), (edge_row - 60, 0, 120, 90), (edge_row // 2, tip_col // 2, 300, 250),
               (0, tip_col - 30, shape[0], 61), (edge_row + 5, 3, 50, 50)]
    windows += [(int(rng.integers(shape[0] - 1)), int(rng.integers(shape[1] - 1)), 400, 300)
                for _ in range(8)]
    for top, left, height, width in windows:
        rows = slice(max(top, 0), min(top + height, shape[0]))
        cols = slice(max(left, 0), min(left + width, shape[1]))
        assert np.array_equal(pectoral.window(rows, cols), whole[rows, cols]), (top, left)
    pectoral.blur_all()
    assert np.array_equal(pectoral.window(slice(0, shape[0]), slice(0, shape[1])), whole)


def test_overlays_paint_only_their_box_inside_the_window() -> None:
    values = np.arange(12, dtype=np.float32).reshape(3, 4)
    label = anatomy.Overlay(slice(2, 5), slice(6, 10), values)
    image = np.zeros((10, 10), np.float32)
    label.paint(image, slice(0, 10), slice(0, 10))
    window = np.zeros((4, 3), np.float32)
    label.paint(window, slice(3, 7), slice(7, 10))  # holds the box's lower right corner
    assert np.array_equal(image[2:5, 6:10], values) and image.sum() == values.sum()
    assert np.array_equal(window, image[3:7, 7:10])
    label.paint(window, slice(5, 9), slice(0, 3))  # misses the box: nothing painted
    assert np.array_equal(window, image[3:7, 7:10])
