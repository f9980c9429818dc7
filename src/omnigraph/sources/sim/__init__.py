"""The demo source systems: a seeded retailer world served by four real HTTP apps."""

from omnigraph.sources.sim.world import (
    PLANTED_KINDS,
    STAGES,
    DemoWorld,
    PlantedDisagreement,
    build_world,
)

__all__ = [
    "PLANTED_KINDS",
    "STAGES",
    "DemoWorld",
    "PlantedDisagreement",
    "build_world",
]
