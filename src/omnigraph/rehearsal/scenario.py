"""A rehearsal scenario: phases of load and trouble, and the thresholds the run must hold.

Scenarios are data: a TOML file each. The shipped ones (``peak``, ``outage``,
``returns-wave``) live beside this module; a user passes a file of their own the same way.

>>> scenario = load_scenario("peak")
>>> scenario.name, [phase.name for phase in scenario.phases][:1]
('peak', ['warm-up'])
>>> scenario.thresholds.oversells, scenario.thresholds.double_applications
(0, 0)
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from omnigraph.core.data_files import load_toml
from omnigraph.core.errors import ConfigurationError

__all__ = [
    "SCENARIOS",
    "SHIPPED",
    "Outage",
    "Phase",
    "Race",
    "Scenario",
    "ScenarioError",
    "Thresholds",
    "load_scenario",
]

SHIPPED = Path(__file__).with_name("scenarios")
SCENARIOS = ("peak", "outage", "returns-wave")
Channel = Literal["web", "marketplace", "store-pickup", "wholesale"]


class ScenarioError(ConfigurationError):
    """A scenario that cannot be run; its message starts with a stable code
    (``SCENARIO_NOT_FOUND``, ``SCENARIO_INVALID``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Race(_Strict):
    """Reservations racing for the same scarce SKUs: ``attempts`` at once, ``quantity`` each,
    over ``skus`` SKUs with only a few units left."""

    attempts: int = Field(default=20, ge=1, le=500)
    skus: int = Field(default=1, ge=1, le=20)
    quantity: int = Field(default=1, ge=1, le=100)


class Outage(_Strict):
    """``system`` answers 503 from ``start_seconds`` into the phase, for ``seconds``."""

    system: Literal["erp", "wms", "storefront", "payments"]
    start_seconds: float = Field(default=0, ge=0)
    seconds: float = Field(gt=0)


class Phase(_Strict):
    name: str = Field(min_length=1, max_length=60)
    seconds: float = Field(gt=0, le=3600)
    orders_per_second: dict[Channel, float] = Field(default_factory=dict)
    availability_reads_per_second: float = Field(default=0, ge=0, le=500)
    wms_movements_per_second: float = Field(default=0, ge=0, le=50)
    wms_ack_delay_seconds: float = Field(default=0, ge=0, le=30)
    returns_per_second: float = Field(default=0, ge=0, le=50)
    late_cancellations_per_second: float = Field(default=0, ge=0, le=50)
    # agents resolving open exceptions (each resolution sent twice at once, a double click):
    # the commands it sends to the owning systems must be applied once each
    resolutions_per_second: float = Field(default=0, ge=0, le=20)
    # shoppers shown a figure (availability with publish: true) who then order no more than it,
    # before the promise's cut-off: an order refused is a broken promise
    promises_per_second: float = Field(default=0, ge=0, le=50)
    # disagreements planted in the storefront (an order cancelled there after the WMS released
    # it), each timed until its exception is raised
    disagreements_per_second: float = Field(default=0, ge=0, le=5)
    race: Race | None = None
    outages: list[Outage] = Field(default_factory=list)

    @model_validator(mode="after")
    def _rates(self) -> Phase:
        if any(rate < 0 or rate > 200 for rate in self.orders_per_second.values()):
            raise ValueError("orders_per_second: each channel's rate must be 0 to 200")
        for outage in self.outages:
            if outage.start_seconds >= self.seconds:
                raise ValueError(f"an outage of {outage.system} starts after the phase ends")
        return self


class Thresholds(_Strict):
    """Each figure's limit: the run fails when a figure is above it (None: reported only)."""

    oversells: int = Field(default=0, ge=0)
    double_applications: int = Field(default=0, ge=0)
    graphql_p99_ms: float | None = Field(default=None, gt=0)
    graphql_error_rate: float | None = Field(default=None, ge=0, le=1)
    movement_to_availability_p99_ms: float | None = Field(default=None, gt=0)
    unreflected_movements: int | None = Field(default=None, ge=0)
    backlog_drain_seconds: float | None = Field(default=None, ge=0)
    stale_answer_age_max_seconds: float | None = Field(default=None, ge=0)
    broken_promises: int | None = Field(default=None, ge=0)
    disagreement_to_exception_p99_ms: float | None = Field(default=None, gt=0)
    undetected_disagreements: int | None = Field(default=None, ge=0)


class Scenario(_Strict):
    name: str = Field(min_length=1, max_length=60)
    description: str = ""
    # the SKUs the rehearsal draws on: sku_pattern formatted with 1..sku_count
    sku_pattern: str = "SKU-{:04d}"
    sku_count: int = Field(default=120, ge=10, le=500)
    location: str = "dc-north"
    # a promise's cut-off: how long after a figure is published an order for no more than it
    # must still be accepted (the shoppers order within the first half of it)
    promise_seconds: float = Field(default=30, gt=0, le=3600)
    phases: list[Phase] = Field(min_length=1, max_length=20)
    thresholds: Thresholds = Field(default_factory=Thresholds)

    @property
    def seconds(self) -> float:
        return sum(phase.seconds for phase in self.phases)

    def scaled_to(self, minutes: float) -> Scenario:
        """The same scenario, every phase (and its outages) stretched or shrunk so the whole
        run lasts ``minutes``."""
        factor = minutes * 60 / self.seconds
        phases = [
            phase.model_copy(
                update={
                    "seconds": phase.seconds * factor,
                    "outages": [
                        o.model_copy(
                            update={
                                "start_seconds": o.start_seconds * factor,
                                "seconds": o.seconds * factor,
                            }
                        )
                        for o in phase.outages
                    ],
                }
            )
            for phase in self.phases
        ]
        return self.model_copy(update={"phases": phases})

    def skus(self) -> list[str]:
        return [self.sku_pattern.format(n) for n in range(1, self.sku_count + 1)]


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A shipped scenario by name, or a scenario file; a ScenarioError says what is wrong."""
    text = str(name_or_path)
    path = SHIPPED / f"{text}.toml" if text in SCENARIOS else Path(text)
    if not path.is_file():
        raise ScenarioError(
            "SCENARIO_NOT_FOUND",
            f"{text!r} is neither a shipped scenario ({', '.join(SCENARIOS)}) nor a file",
        )
    try:
        scenario = load_toml(path, Scenario, what="scenario")
    except ScenarioError:
        raise
    except ConfigurationError as error:
        raise ScenarioError("SCENARIO_INVALID", str(error)) from None
    try:
        scenario.sku_pattern.format(1)
    except (ValueError, IndexError, KeyError):
        raise ScenarioError(
            "SCENARIO_INVALID", f"scenario {path}: sku_pattern must format one number"
        ) from None
    return scenario
