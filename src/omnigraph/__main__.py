"""``python -m omnigraph``: the same commands as the ``omnigraph`` script."""

from omnigraph.cli import main

main()
