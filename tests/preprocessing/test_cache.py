import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from preprocessing.cache import build_cache, open_cache, resolve_dataset
from preprocessing.index import build_index
from preprocessing.pipeline import PreprocessConfig

PATTERN = r"^(P\d+)_"
CONFIG = PreprocessConfig(size=32, filter="median")


def make_folder(root: Path, n: int, side: int = 48, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for i in range(n):
        label = ("benign", "malignant")[i % 2]
        (root / label).mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 65535, (side, side), dtype=np.uint16)
        cv2.imwrite(str(root / label / f"P{i // 2:04d}_{i}.png"), pixels)
    return root


def index_of(root: Path):
    return build_index(root, patient_pattern=PATTERN, progress=False)


def test_rerun_reuses_and_only_new_or_changed_files_are_processed(tmp_path: Path):
    data, cache = make_folder(tmp_path / "data", 10), tmp_path / "cache"
    first = build_cache(index_of(data), cache, CONFIG, workers=1, progress=False)
    assert (first.n_processed, first.n_reused, first.reused_dataset) == (10, 0, False)
    again = build_cache(index_of(data), cache, CONFIG, workers=1, progress=False)
    assert (again.n_processed, again.reused_dataset) == (0, True)
    assert again.dataset_dir == first.dataset_dir

    cv2.imwrite(str(data / "benign" / "P0100_new.png"), np.eye(40, dtype=np.uint16) * 999)
    cv2.imwrite(str(data / "benign" / "P0000_0.png"), np.eye(40, dtype=np.uint16) * 500)
    grown = build_cache(index_of(data), cache, CONFIG, workers=1, progress=False)
    assert (grown.n_processed, grown.n_reused, grown.n_rois) == (2, 9, 11)
    assert grown.dataset_dir != first.dataset_dir


def test_dataset_contents(tmp_path: Path):
    data, cache = make_folder(tmp_path / "data", 6), tmp_path / "cache"
    build_cache(index_of(data), cache, CONFIG, workers=2, progress=False)
    dataset = open_cache(cache)
    assert dataset.images.shape == (6, 32, 32) and dataset.images.dtype == np.uint16
    assert isinstance(dataset.images, np.memmap)
    assert dataset.config["filter"] == "median"
    expected = {"row", "patient_id", "label", "split", "crop_path", "source_sha1", "pixel_sha1"}
    assert expected <= set(dataset.table.columns)
    assert dataset.table["row"].tolist() == list(range(6))


def test_a_kill_midway_leaves_nothing_corrupt_and_resumes(tmp_path: Path):
    # enough files that the run outlasts a poll of its items folder by far (a second or more)
    files = 100
    data, cache = make_folder(tmp_path / "data", files, side=256), tmp_path / "cache"
    command = [sys.executable, "-m", "mcal.cli", "preprocess", "--data", str(data),
               "--cache", str(cache), "--size", "32", "--filter", "adaptive_median",
               "--workers", "1", "--patient-pattern", PATTERN]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    items = cache / f"{PreprocessConfig(size=32).folder_name()}" / "items"
    deadline = time.monotonic() + 120
    while len(list(items.glob("*.npy"))) < 5 and time.monotonic() < deadline:
        assert process.poll() is None, "the run finished before it could be killed"
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done = sorted(items.glob("*.npy"))
    assert 5 <= len(done) < files
    for item in done:
        assert np.load(item).shape == (32, 32)
    assert not list(cache.glob("*/datasets/*/rois.npy"))

    resumed = build_cache(index_of(data), cache, PreprocessConfig(size=32), workers=2,
                          progress=False)
    assert resumed.n_reused >= len(done) and resumed.n_processed <= files - len(done)
    assert not list(cache.rglob(".*.tmp")), "the killed run's temporaries are removed"
    fresh = build_cache(index_of(data), tmp_path / "fresh", PreprocessConfig(size=32),
                        workers=2, progress=False)
    np.testing.assert_array_equal(open_cache(cache).images, open_cache(fresh.dataset_dir).images)


def test_open_cache_explains_a_missing_cache(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="mcal preprocess"):
        open_cache(tmp_path)


def test_a_config_folder_resolves_to_its_one_dataset_and_names_several(tmp_path: Path):
    data, cache = make_folder(tmp_path / "data", 6), tmp_path / "cache"
    first = build_cache(index_of(data), cache, CONFIG, workers=1, progress=False)
    config_folder = first.dataset_dir.parents[1]
    assert resolve_dataset(config_folder) == first.dataset_dir

    cv2.imwrite(str(data / "benign" / "P0100_new.png"), np.eye(40, dtype=np.uint16) * 999)
    second = build_cache(index_of(data), cache, CONFIG, workers=1, progress=False)
    assert resolve_dataset(cache) == second.dataset_dir  # the root: the one built last
    with pytest.raises(FileNotFoundError, match="2 datasets") as raised:
        resolve_dataset(config_folder)
    assert str(first.dataset_dir) in str(raised.value)
    assert str(second.dataset_dir) in str(raised.value)


def test_fixed_spacing_is_in_config_json_and_gets_its_own_dataset(tmp_path: Path):
    import json

    data, cache = make_folder(tmp_path / "data", 4, side=64), tmp_path / "cache"
    paper = build_cache(index_of(data), cache, CONFIG, workers=1, progress=False)
    spaced_config = PreprocessConfig(size=32, filter="median", spacing_mm=0.1,
                                     spacing_fallback_mm=0.05)
    spaced = build_cache(index_of(data), cache, spaced_config, workers=1, progress=False)
    assert spaced.n_rois == 4 and spaced.dataset_dir != paper.dataset_dir
    assert spaced.dataset_dir.parents[1] != paper.dataset_dir.parents[1]
    recorded = json.loads((spaced.dataset_dir.parents[1] / "config.json").read_text())
    assert recorded["spacing_mm"] == 0.1 and recorded["spacing_fallback_mm"] == 0.05
    assert recorded["resize_mode"] == "spacing 0.1 mm/px"
    plain = json.loads((paper.dataset_dir.parents[1] / "config.json").read_text())
    assert plain["resize_mode"] == "stretch" and plain["spacing_mm"] is None
    images = open_cache(spaced.dataset_dir).images
    # 64 px at the assumed 0.05 mm = 32 px at 0.1 mm: fills the 32 px output exactly
    assert images.shape == (4, 32, 32) and (images[:, [0, -1]] > 0).any()


def test_files_without_spacing_are_quarantined_with_the_reason(tmp_path: Path):
    data, cache = make_folder(tmp_path / "data", 4), tmp_path / "cache"
    config = PreprocessConfig(size=32, filter="median", spacing_mm=0.1)
    result = build_cache(index_of(data), cache, config, workers=1, progress=False)
    assert result.n_rois == 0 and len(result.quarantine) == 4
    assert result.quarantine["reason"].str.contains("no PixelSpacing").all()


def test_the_dataset_records_the_spacing_size_and_encoding_of_its_sources(tmp_path: Path):
    """What the logged model warns against: PNGs say no spacing, their short side is 48 px."""
    import json

    from preprocessing.cache import SOURCE_STATS

    data, cache = make_folder(tmp_path / "data", 6), tmp_path / "cache"
    cv2.imwrite(str(data / "benign" / "P0009_9.jpg"), np.eye(64, dtype=np.uint8) * 200 + 20)
    result = build_cache(index_of(data), cache, CONFIG, workers=1, progress=False)
    stats = json.loads((result.dataset_dir / SOURCE_STATS).read_text())
    assert stats == {"n": 7, "pixel_spacing_mm": None, "short_side_px_p05": 48.0,
                     "encodings": {"16-bit lossless PNG": 6, "8-bit lossy JPEG": 1}}
    assert result.source_stats == stats
    again = build_cache(index_of(data), cache, CONFIG, workers=1, progress=False)
    assert again.reused_dataset and again.source_stats == stats


def test_a_rerun_removes_what_a_killed_run_left(tmp_path: Path):
    data, cache = make_folder(tmp_path / "data", 4), tmp_path / "cache"
    first = build_cache(index_of(data), cache, CONFIG, workers=1, progress=False)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # a writer that is gone
    items = first.dataset_dir.parents[1] / "items"
    left = [items / f".{'0' * 40}.npy.{child.pid}.tmp",
            first.dataset_dir.parent / f".{first.dataset_dir.name}.{child.pid}.tmp"]
    left[0].write_bytes(b"half an array")
    left[1].mkdir()
    again = build_cache(index_of(data), cache, CONFIG, workers=1, progress=False)
    assert again.stale_removed == 2 and not any(p.exists() for p in left)
    assert (again.n_reused, again.reused_dataset) == (4, True)
