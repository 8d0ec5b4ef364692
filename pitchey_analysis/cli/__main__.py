"""``python -m pitchey_analysis.cli``: the same command line as ``pitchey-analysis``."""

from . import main

if __name__ == "__main__":
    raise SystemExit(main())
