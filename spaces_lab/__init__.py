"""Spaces Lab's application layer: the CLI, the main job and the capacity plan."""

from spaces_core import __version__

__all__ = ["__version__"]
