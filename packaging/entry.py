"""Entry point of the frozen bundle: the same `sketchlab` command as the pip install."""

import multiprocessing
import sys

if __name__ == "__main__":
    # Frozen apps must call this before anything that could spawn a worker process.
    multiprocessing.freeze_support()
    from sketchlab.__main__ import main

    sys.exit(main())
