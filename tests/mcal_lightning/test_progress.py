"""Progress off a terminal: whole lines, at most one per interval, never a redrawn frame."""

import io
from types import SimpleNamespace

from mcal_lightning.progress import LineProgress, progress_line


def test_a_progress_line_says_epoch_batch_and_the_bar_metrics():
    assert progress_line(2, 4, 10, 14, {"train/loss": 0.61234, "v_num": 3, "val/mcc": 0.3}) == (
        "epoch 2/4, batch 10/14: train/loss 0.612, val/mcc 0.3")
    assert progress_line(1, 1, 5, float("inf"), {}) == "epoch 1/1, batch 5/?"


def test_line_progress_writes_one_line_per_interval_and_nothing_when_disabled(monkeypatch):
    now = [0.0]
    out = io.StringIO()
    bar = LineProgress(interval=60.0, stream=out, clock=lambda: now[0])
    trainer = SimpleNamespace(current_epoch=0, max_epochs=3, num_training_batches=20)
    monkeypatch.setattr(LineProgress, "get_metrics", lambda self, *_: {"train/loss": 0.5})
    bar._trainer = trainer
    bar.on_train_start(trainer, None)
    for step, seconds in enumerate((10.0, 61.0, 90.0, 122.0)):
        now[0] = seconds
        bar.on_train_batch_end(trainer, None, None, None, step)
    bar.disable()
    now[0] = 500.0
    bar.on_train_batch_end(trainer, None, None, None, 4)
    assert out.getvalue().splitlines() == ["epoch 1/3, batch 2/20: train/loss 0.5",
                                           "epoch 1/3, batch 4/20: train/loss 0.5"]
