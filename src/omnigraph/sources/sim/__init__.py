"""The demo source systems: a seeded retailer world served by four real HTTP apps.

`build_world` makes the data (with its planted disagreements, the exceptions its WMS reports
and the wholesale branch: ship dates, compliance holds, ASNs), `create_<kind>_app` serves one
system's share of it over the source contract and carries out its commands, and `DemoSystems`
runs all four on loopback.
"""

from omnigraph.sources.sim.erp import create_erp_app
from omnigraph.sources.sim.payments import create_payments_app
from omnigraph.sources.sim.runner import DEFAULT_PORTS, KINDS, DemoSystems, run_forever
from omnigraph.sources.sim.storefront import create_storefront_app
from omnigraph.sources.sim.wms import create_wms_app
from omnigraph.sources.sim.world import (
    EXCEPTION_KINDS,
    PLANTED_KINDS,
    STAGES,
    DemoWorld,
    PlantedDisagreement,
    build_world,
)

__all__ = [
    "DEFAULT_PORTS",
    "EXCEPTION_KINDS",
    "KINDS",
    "PLANTED_KINDS",
    "STAGES",
    "DemoSystems",
    "DemoWorld",
    "PlantedDisagreement",
    "build_world",
    "create_erp_app",
    "create_payments_app",
    "create_storefront_app",
    "create_wms_app",
    "run_forever",
]
