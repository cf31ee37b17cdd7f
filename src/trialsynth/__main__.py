"""``python -m trialsynth`` runs the command line."""

from trialsynth.cli import main

main()
