"""The local review web page (``trialsynth serve``)."""
