"""``python -m tests.worlds [seed..]``: the recall and precision table over generated worlds."""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

from .harness import measure
from .test_generated_worlds import SEEDS


def main() -> None:
    seeds = [int(arg) for arg in sys.argv[1:]] or list(SEEDS)
    workdir = Path(tempfile.mkdtemp(dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    try:
        _, text = asyncio.run(measure(seeds, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(text)


main()
