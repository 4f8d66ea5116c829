"""The leakage audit for people: an HTML page and a PNG contact sheet of the leaking pairs.

The HTML file is self-contained (thumbnails embedded as base64 PNG), so it can be mailed or
logged as an artifact and still show the images.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless: figures go to files and MLflow, never to a window

import base64
import html
import io
from pathlib import Path

import cv2
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from mcal_lightning.integrity.audit import KINDS, AuditReport, Finding, describe_row

THUMBNAIL_PX = 128
HTML_PAIRS = 200  # pairs shown with thumbnails; findings.csv lists them all
SHEET_PAIRS = 12
STYLE = """
body { font-family: sans-serif; margin: 2em; }
table { border-collapse: collapse; }
td, th { border: 1px solid #ccc; padding: 4px 8px; vertical-align: middle; }
img { width: 128px; height: 128px; image-rendering: pixelated; display: block; }
.verdict { font-size: 1.2em; font-weight: bold; }
.leaky { color: #b00020; }
.clean { color: #1b5e20; }
"""


def to_8bit(roi: np.ndarray) -> np.ndarray:
    """The ROI stretched to 0-255 for display."""
    return cv2.normalize(np.asarray(roi, dtype=np.float32), None, 0, 255, cv2.NORM_MINMAX,
                         dtype=cv2.CV_8U)


def thumbnail_png(roi: np.ndarray, size: int = THUMBNAIL_PX) -> bytes:
    """PNG bytes of the ROI, shrunk to at most size px a side."""
    image = Image.fromarray(to_8bit(roi))
    image.thumbnail((size, size))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def img_tag(images: np.ndarray, row: int) -> str:
    data = base64.b64encode(thumbnail_png(images[row])).decode("ascii")
    return f'<img alt="row {row}" src="data:image/png;base64,{data}">'


def finding_row(finding: Finding, images: np.ndarray) -> str:
    """One table row: kind, the two ROIs with their thumbnails, distance and detail."""
    first = describe_row(finding.side_a, finding.row_a, finding.roi_a, finding.patient_a)
    second = describe_row(finding.side_b, finding.row_b, finding.roi_b, finding.patient_b)
    distance = "" if finding.distance is None else str(finding.distance)
    cells = [
        html.escape(finding.kind),
        img_tag(images, finding.row_a) + html.escape(first),
        img_tag(images, finding.row_b) + html.escape(second),
        distance,
        html.escape(finding.detail),
    ]
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def counts_table(report: AuditReport) -> str:
    counts = report.counts()
    head = "".join(f"<th>{kind}</th>" for kind in KINDS)
    cells = "".join(f"<td>{counts[kind]}</td>" for kind in KINDS)
    return f"<table><tr>{head}</tr><tr>{cells}</tr></table>"


def verdict(report: AuditReport) -> str:
    sides = ", ".join(f"{side} ({n} ROIs)" for side, n in report.sizes.items())
    if not report.leaky:
        return ("No leakage found: no exact or near-duplicate images, no shared patients and no "
                f"shared lesions between {sides}.")
    return f"Leakage found: {len(report.findings)} leaking pair(s) between {sides}."


def report_html(report: AuditReport, images: np.ndarray, max_pairs: int = HTML_PAIRS) -> str:
    """The whole page as a string."""
    state = "leaky" if report.leaky else "clean"
    parts = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8"><title>Leakage audit</title>',
        f"<style>{STYLE}</style></head><body>",
        "<h1>Leakage audit</h1>",
        f'<p class="verdict {state}">{html.escape(verdict(report))}</p>',
        counts_table(report),
        f"<p>Near-duplicates: perceptual hash within {report.threshold} of 64 bits under any "
        f"rotation or flip, and pixels correlating by r &ge; {report.min_correlation:g} "
        "once turned the same way.</p>",
    ]
    if report.leaky:
        header = "".join(f"<th>{name}</th>" for name in
                         ("kind", "first", "second", "distance (bits)", "detail"))
        rows = "".join(finding_row(f, images) for f in report.findings[:max_pairs])
        parts.append(f"<table><tr>{header}</tr>{rows}</table>")
        if len(report.findings) > max_pairs:
            more = len(report.findings) - max_pairs
            parts.append(f"<p>... and {more} more pairs (all of them in findings.csv).</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_html(report: AuditReport, images: np.ndarray, path: Path,
               max_pairs: int = HTML_PAIRS) -> Path:
    path = Path(path)
    path.write_text(report_html(report, images, max_pairs), encoding="utf-8")
    return path


def caption(finding: Finding, first: bool) -> str:
    side, roi, row = ((finding.side_a, finding.roi_a, finding.row_a) if first
                      else (finding.side_b, finding.roi_b, finding.row_b))
    return f"{side}: {roi or f'row {row}'}"


def pairs_figure(report: AuditReport, images: np.ndarray, n: int = SHEET_PAIRS) -> Figure:
    """The first n pairs, one per line, side by side; a plain note when there are none."""
    shown = report.findings[:n]
    if not shown:
        fig, ax = plt.subplots(figsize=(5, 1.5))
        ax.text(0.5, 0.5, "no leakage found", ha="center", va="center", fontsize=14)
        ax.axis("off")
        return fig
    fig, axes = plt.subplots(len(shown), 2, figsize=(6, 3 * len(shown)), squeeze=False)
    for (left, right), finding in zip(axes, shown, strict=True):
        for ax, row, first in ((left, finding.row_a, True), (right, finding.row_b, False)):
            ax.imshow(to_8bit(images[row]), cmap="gray", vmin=0, vmax=255)
            ax.set_title(caption(finding, first), fontsize=7)
            ax.axis("off")
        distance = "" if finding.distance is None else f", {finding.distance} bits"
        left.text(1.05, 1.18, f"{finding.kind}{distance}", transform=left.transAxes,
                  ha="center", fontsize=9, fontweight="bold")
    fig.tight_layout()
    return fig


def write_pairs_png(report: AuditReport, images: np.ndarray, path: Path,
                    n: int = SHEET_PAIRS) -> Path:
    fig = pairs_figure(report, images, n)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def write_report(report: AuditReport, images: np.ndarray, out_dir: Path) -> dict[str, Path]:
    """report.html, pairs.png and findings.csv (every finding) into out_dir."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / "findings.csv"
    report.to_frame().to_csv(csv_path, index=False)
    return {
        "html": write_html(report, images, out_dir / "report.html"),
        "png": write_pairs_png(report, images, out_dir / "pairs.png"),
        "csv": csv_path,
    }
