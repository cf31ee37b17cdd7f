"""trialsynth: systematic reviews and meta-analyses of randomized controlled trials.

The numerics are pure functions over stacked arrays (``effects``, ``estimators``,
``pooling``); results are frozen objects (``results``); plotting and reporting live in
their own modules and are the only places that format numbers.
"""

from trialsynth._core.errors import InputError, TrialsynthWarning

__version__ = "0.1.0"

__all__ = ["InputError", "TrialsynthWarning", "__version__"]
