"""trialsynth: systematic reviews and meta-analyses of randomized controlled trials.

The numerics are pure functions over stacked arrays (``effects``, ``estimators``,
``pooling``); results are frozen objects (``results``); plotting and reporting live in
their own modules and are the only places that format numbers.
"""

from trialsynth._core.errors import InputError, TrialsynthWarning

__version__ = "0.1.0"

__all__ = ["InputError", "TrialsynthWarning", "__version__", "derive"]


def __getattr__(name: str):
    """``trialsynth.derive``: the conversions of :mod:`trialsynth.stats.derive`, imported on first use."""
    if name == "derive":
        from trialsynth.stats import derive

        return derive
    raise AttributeError(f"module 'trialsynth' has no attribute {name!r}")
