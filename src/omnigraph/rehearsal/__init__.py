"""``omnigraph rehearse``: a peak-season rehearsal of the whole integration, from a scenario
file (phases of load, outages, delayed acknowledgements), measured against thresholds."""
