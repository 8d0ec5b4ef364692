"""``python -m pitchey_analysis``: the same command line as ``pitchey-analysis``."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
