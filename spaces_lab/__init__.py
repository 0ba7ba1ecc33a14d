"""Spaces Lab: simulation and load-testing harness for live audio rooms."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("spaces-lab")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
