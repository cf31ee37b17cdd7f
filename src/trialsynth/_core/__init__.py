"""The vocabulary every layer shares: errors, distributions, exact sums and result objects.

Nothing here imports another part of trialsynth.
"""
