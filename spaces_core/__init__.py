"""The bottom layer of Spaces Lab: run folders, errors and settings helpers.

It imports nothing of the project, so every other package may import it.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("spaces-lab")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
