"""The ``trialsynth`` command line: thin commands over the layers below."""

from trialsynth.cli.main import main

__all__ = ["main"]
