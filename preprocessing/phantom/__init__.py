"""Phantom CBIS-DDSM: synthetic calcification cases in the TCIA layout with the official CSVs."""

from preprocessing.phantom.generator import PhantomResult, generate_phantom

__all__ = ["PhantomResult", "generate_phantom"]
