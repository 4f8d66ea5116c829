"""The `mcal` command line: the one front door to preprocessing and training."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mcal")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0+unknown"
