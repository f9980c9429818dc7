"""The demo source systems: a seeded retailer world served by four real HTTP apps.

`build_world` makes the data (with its planted disagreements, the exceptions its WMS reports,
the wholesale branch: ship dates, compliance holds, ASNs, and the WMS's inventory movements,
which `replay_movements` turns back into its stock), `create_<kind>_app` serves one system's
share of it over the source contract and carries out its commands, and `DemoSystems` runs all
four on loopback.
"""

from omnigraph.demo.erp import create_erp_app
from omnigraph.demo.payments import create_payments_app
from omnigraph.demo.runner import APP_FACTORIES, DEFAULT_PORTS, KINDS, DemoSystems, run_forever
from omnigraph.demo.storefront import create_storefront_app
from omnigraph.demo.wms import create_wms_app
from omnigraph.demo.world import (
    DISPOSITIONS,
    EXCEPTION_KINDS,
    MOVEMENTS,
    PLANTED_KINDS,
    STAGES,
    STOCK_BUCKETS,
    DemoWorld,
    PlantedDisagreement,
    build_world,
    replay_movements,
)

__all__ = [
    "APP_FACTORIES",
    "DEFAULT_PORTS",
    "DISPOSITIONS",
    "EXCEPTION_KINDS",
    "KINDS",
    "MOVEMENTS",
    "PLANTED_KINDS",
    "STAGES",
    "STOCK_BUCKETS",
    "DemoSystems",
    "DemoWorld",
    "PlantedDisagreement",
    "build_world",
    "create_erp_app",
    "create_payments_app",
    "create_storefront_app",
    "create_wms_app",
    "replay_movements",
    "run_forever",
]
