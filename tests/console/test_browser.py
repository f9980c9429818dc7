"""The console in a real browser (headless Chromium through Selenium and the system's
chromium-driver) against the demo world, as ``omnigraph serve`` serves it after its first
background rounds, on a loopback socket.

Each figure the browser shows is compared with the GraphQL answer for the same question (the
independent reference). The browser's waits are bounded polls for what the page does after a
request, not timed assertions. Screenshots go to ``OMNIGRAPH_TEST_CONSOLE_SCREENSHOTS`` when it
is set (docs/console.md's images are made so).
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import os
import re
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import select, update
from starlette.applications import Starlette

from omnigraph.app import catch_up
from omnigraph.db.models import (
    ExceptionEventRow,
    ExceptionRow,
    PaymentPayoutRow,
    PayoutReconciliationRow,
)
from omnigraph.exceptions.catalogue import ExceptionCatalogue
from omnigraph.exceptions.intake import take_in
from omnigraph.exceptions.live import ExceptionEventBus
from omnigraph.runtime.services import Services
from omnigraph.security.principal import Role
from tests.conftest import issue_key, services_of
from tests.helpers import feed_events_about, on_loopback, served_demo, short_pick
from tests.helpers import until as until_async

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="needs Debian's chromium and chromium-driver (.ci/run installs them)",
)
SCREENSHOTS = os.environ.get("OMNIGRAPH_TEST_CONSOLE_SCREENSHOTS")
T = TypeVar("T")

if CHROMIUM and CHROMEDRIVER:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.ui import WebDriverWait


@dataclass
class Console:
    app: Starlette
    url: str
    client: httpx.AsyncClient

    @property
    def services(self) -> Services:
        return services_of(self.app)

    async def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        response = await self.client.post("/graphql", json={"query": query, "variables": variables})
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    async def key(self, *roles: Role) -> str:
        issued = await issue_key(self.app, *roles, name=f"console-{'-'.join(roles)}")
        return issued.secret


@pytest.fixture(scope="module")
async def console(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Console]:
    async with (
        served_demo(tmp_path_factory.mktemp("console")) as (app, client),
        on_loopback(app) as port,  # started above: its lifespan stays off here
    ):
        yield Console(app, f"http://127.0.0.1:{port}", client)


@pytest.fixture(scope="module")
def driver() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or ""
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1400,1000")
    browser = webdriver.Chrome(service=DriverService(CHROMEDRIVER), options=options)
    try:
        yield browser
    finally:
        browser.quit()


async def run(step: Callable[..., T], *args: Any) -> T:
    """A blocking browser step, off the event loop (which serves the app and the demo)."""
    return await asyncio.to_thread(step, *args)


def until(driver: WebDriver, condition: Callable[[WebDriver], Any]) -> Any:
    return WebDriverWait(driver, 20, poll_frequency=0.1).until(condition)


def text_of(driver: WebDriver, element_id: str) -> str:
    text: str = driver.find_element(By.ID, element_id).text
    return text


def shot(driver: WebDriver, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(SCREENSHOTS) / f"{name}.png"))


def sign_in(driver: WebDriver, url: str, key: str) -> None:
    driver.get(url)
    driver.execute_script("sessionStorage.clear()")
    driver.get(url)
    until(driver, lambda d: d.find_element(By.ID, "sign-in").is_displayed())
    field = driver.find_element(By.ID, "api-key")
    field.send_keys(key)
    field.send_keys(Keys.ENTER)  # the keyboard alone signs in


def queue_rows(driver: WebDriver) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = driver.execute_script(
        """return Array.from(document.querySelectorAll('#queue tbody tr'), r => ({
             id: r.dataset.id, kind: r.querySelector('.kind').textContent,
             owner: r.querySelector('.owner').textContent,
             status: r.querySelector('.status').textContent}))"""
    )
    return rows


OPEN_SHORT_PICKS = """query($filter: ExceptionFilter) {
  exceptions(first: 100, filter: $filter) { edges { node { id kind ownerKind status
    allowedResolutions } } } }"""


async def test_a_storefront_key_sees_no_console(console: Console, driver: WebDriver) -> None:
    key = await console.key(Role.STOREFRONT)
    await run(sign_in, driver, f"{console.url}/console", key)

    def refused(d: WebDriver) -> str:
        until(d, lambda d: d.find_element(By.ID, "message").is_displayed())
        assert not d.find_element(By.ID, "main").is_displayed()
        shot(d, "storefront-key")
        return text_of(d, "message")

    assert "no access to the console" in await run(refused, driver)


async def test_filter_the_queue_and_resolve_an_exception_to_the_owner(
    console: Console, driver: WebDriver
) -> None:
    key = await console.key(Role.SUPPORT)
    await run(sign_in, driver, f"{console.url}/console", key)
    await run(until, driver, lambda d: d.find_element(By.ID, "queue-count").text)
    await run(shot, driver, "queue")

    # the filters: WMS-owned, not resolved; the same question asked of /graphql
    not_resolved = ["OPEN", "ACKNOWLEDGED", "RESOLUTION_PENDING", "RESOLUTION_FAILED"]
    expected = await console.graphql(
        OPEN_SHORT_PICKS, filter={"ownerKind": "WMS", "statuses": not_resolved}
    )
    wms = [e["node"] for e in expected["exceptions"]["edges"]]
    assert wms, "the demo world has open WMS exceptions"

    def filter_by_owner(d: WebDriver) -> list[dict[str, str]]:
        Select(d.find_element(By.ID, "f-owner")).select_by_value("WMS")
        d.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").click()
        until(d, lambda d: all("(WMS)" in r["owner"] for r in queue_rows(d)))
        return queue_rows(d)

    shown = await run(filter_by_owner, driver)
    assert sorted(r["id"] for r in shown) == sorted(e["id"] for e in wms)

    target = next(e for e in wms if e["allowedResolutions"] and e["status"] == "OPEN")
    bus = console.services.get(ExceptionEventBus)

    def resolve(d: WebDriver) -> str:
        # the page's requests from here on, and a mark a reload would lose
        d.execute_script(RECORD_REQUESTS)
        until(d, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-live") == "open")
        d.find_element(By.CSS_SELECTOR, f'#queue tr[data-id="{target["id"]}"] button').click()
        until(d, lambda d: d.find_element(By.ID, "resolve-panel").is_displayed())
        Select(d.find_element(By.ID, "resolution")).select_by_value(target["allowedResolutions"][0])
        submit = d.find_element(By.ID, "resolve-submit")
        submit.click()
        d.execute_script("arguments[0].click()", submit)  # a double click sends one attempt
        until(
            d,
            lambda d: (
                d.find_element(By.ID, "progress").get_attribute("data-status")
                not in {"OPEN", "ACKNOWLEDGED"}
            ),
        )
        return str(d.find_element(By.ID, "progress").get_attribute("data-status"))

    assert await run(resolve, driver) == "RESOLUTION_PENDING"
    assert "PENDING" in await run(text_of, driver, "progress")
    await until_async(lambda: bus.subscribers >= 1)  # the page's subscription listens
    await catch_up(console.services)  # the dispatcher delivers the command to the WMS

    def reached_owner(d: WebDriver) -> tuple[str, tuple[str, bool], list[str], bool]:
        until(
            d,
            lambda d: d.find_element(By.ID, "progress").get_attribute("data-status") == "RESOLVED",
        )
        row = d.find_element(By.CSS_SELECTOR, f'#queue tr[data-id="{target["id"]}"]')
        row_status = (
            row.find_element(By.CSS_SELECTOR, ".status").text,
            bool(row.find_elements(By.TAG_NAME, "button")),
        )
        shot(d, "resolved")
        sent: list[str] = d.execute_script("return window.sentOperations")
        kept: bool = d.execute_script("return window.notReloaded === true")
        return text_of(d, "progress"), row_status, sent, kept

    progress, row_status, sent, kept = await run(reached_owner, driver)
    assert "DELIVERED" in progress
    assert row_status == ("RESOLVED", False)  # the queue's row too, live: nothing to resolve
    assert kept  # without a reload
    assert sent == ["ConsoleResolve"]  # nothing polled: the change came by the subscription
    answer = await console.graphql(
        "query($id: ID!) { exception(id: $id) { status commands { status } } }", id=target["id"]
    )
    assert answer["exception"]["status"] == "RESOLVED"
    assert [c["status"] for c in answer["exception"]["commands"]] == ["DELIVERED"]


# what the page asks /graphql from here on (operation names), and a mark a reload would lose
RECORD_REQUESTS = r"""
window.notReloaded = true;
window.sentOperations = [];
const originalFetch = window.fetch;
window.fetch = (url, options) => {
  const body = options && options.body ? JSON.parse(options.body) : {};
  const name = /(?:query|mutation)\s+(\w+)/.exec(body.query || '');
  window.sentOperations.push(name ? name[1] : '?');
  return originalFetch(url, options);
};
"""


async def test_acknowledge_many_by_keyboard(console: Console, driver: WebDriver) -> None:
    opened = await console.graphql(OPEN_SHORT_PICKS, filter={"statuses": ["OPEN"]})
    kinds = [e["node"]["kind"] for e in opened["exceptions"]["edges"]]
    kind = max(set(kinds), key=kinds.count)  # the kind with the most open exceptions
    expected = await console.graphql(
        OPEN_SHORT_PICKS, filter={"statuses": ["OPEN"], "kinds": [kind]}
    )
    ids = sorted(e["node"]["id"] for e in expected["exceptions"]["edges"])
    assert len(ids) >= 2
    key = await console.key(Role.SUPPORT)
    await run(sign_in, driver, f"{console.url}/console", key)

    def acknowledge(d: WebDriver) -> list[dict[str, str]]:
        until(d, lambda d: d.find_element(By.ID, "queue-count").text)
        Select(d.find_element(By.ID, "f-kind")).select_by_value(kind)
        Select(d.find_element(By.ID, "f-status")).select_by_value("OPEN")
        d.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").send_keys(Keys.ENTER)
        until(d, lambda d: sorted(r["id"] for r in queue_rows(d)) == ids)
        shot(d, "queue-filtered")
        d.find_element(By.ID, "select-all").send_keys(Keys.SPACE)
        d.find_element(By.ID, "ack-selected").send_keys(Keys.ENTER)
        until(d, lambda d: not queue_rows(d))  # none is OPEN any more
        Select(d.find_element(By.ID, "f-status")).select_by_value("ACKNOWLEDGED")
        d.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").send_keys(Keys.ENTER)
        until(d, lambda d: queue_rows(d))
        return queue_rows(d)

    shown = await run(acknowledge, driver)
    assert sorted(r["id"] for r in shown) == ids
    answer = await console.graphql(OPEN_SHORT_PICKS, filter={"kinds": [kind]})
    statuses = {e["node"]["id"]: e["node"]["status"] for e in answer["exceptions"]["edges"]}
    assert {statuses[i] for i in ids} == {"ACKNOWLEDGED"}


# the page's resolve requests, recorded; the first is lost on the way (as on a dropped network)
LOSE_THE_FIRST_RESOLVE = """
window.sentKeys = [];
const original = window.fetch;
window.fetch = (url, options) => {
  const body = options && options.body ? JSON.parse(options.body) : {};
  if ((body.query || '').includes('ConsoleResolve')) {
    window.sentKeys.push(body.variables.input.idempotencyKey);
    if (window.sentKeys.length === 1) return Promise.reject(new TypeError('network down'));
  }
  return original(url, options);
};
"""


async def test_a_double_click_sends_one_attempt_and_a_retry_resends_its_key(
    console: Console, driver: WebDriver
) -> None:
    opened = await console.graphql(OPEN_SHORT_PICKS, filter={"statuses": ["OPEN"]})
    target = next(
        e["node"] for e in opened["exceptions"]["edges"] if e["node"]["allowedResolutions"]
    )
    key = await console.key(Role.SUPPORT)
    await run(sign_in, driver, f"{console.url}/console", key)
    row = f'#queue tr[data-id="{target["id"]}"]'

    def retry_shown(d: WebDriver) -> Any:
        button = d.find_element(By.ID, "resolve-retry")
        return button if button.is_displayed() else None

    def resolve_twice_then_retry(d: WebDriver) -> list[str]:
        until(d, lambda d: d.find_elements(By.CSS_SELECTOR, row))
        d.execute_script(LOSE_THE_FIRST_RESOLVE)
        d.find_element(By.CSS_SELECTOR, f"{row} button").click()
        submit = d.find_element(By.ID, "resolve-submit")
        submit.click()
        d.execute_script("arguments[0].click()", submit)  # the second click of a double click
        until(d, retry_shown).send_keys(Keys.ENTER)
        until(
            d,
            lambda d: (
                d.find_element(By.ID, "progress").get_attribute("data-status")
                == "RESOLUTION_PENDING"
            ),
        )
        keys: list[str] = d.execute_script("return window.sentKeys")
        return keys

    keys = await run(resolve_twice_then_retry, driver)
    assert len(keys) == 2  # the lost attempt and its retry: the double click added nothing
    assert keys[0] == keys[1]
    answer = await console.graphql(
        "query($id: ID!) { exception(id: $id) { status commands { idempotencyKey } } }",
        id=target["id"],
    )
    assert answer["exception"]["status"] == "RESOLUTION_PENDING"
    assert len(answer["exception"]["commands"]) == 1


DISAGREEING = """{ orders(first: 1, filter: {hasDisagreement: true}) { edges { node {
  placedAt externalRefs { source sourceKind ref } disagreements { field others { source value } }
  exceptions { history { at status } }
  changes { source eventType recordId occurredAt } } } } }"""


async def test_open_an_order_by_its_wms_ref_and_find_a_disagreement(
    console: Console, driver: WebDriver
) -> None:
    expected = (await console.graphql(DISAGREEING))["orders"]["edges"][0]["node"]
    wms = next(r for r in expected["externalRefs"] if r["sourceKind"] == "WMS")
    disagreement = expected["disagreements"][0]
    key = await console.key(Role.SUPPORT)
    await run(sign_in, driver, f"{console.url}/console/order", key)

    def open_order(d: WebDriver) -> tuple[str, str]:
        until(d, lambda d: d.find_element(By.ID, "main").is_displayed())
        Select(d.find_element(By.ID, "o-source")).select_by_value(wms["source"])
        ref = d.find_element(By.ID, "o-ref")
        ref.send_keys(wms["ref"])
        ref.send_keys(Keys.ENTER)
        row = until(
            d,
            lambda d: d.find_element(
                By.CSS_SELECTOR, f'#fields tr.disagrees[data-field="{disagreement["field"]}"]'
            ),
        )
        shot(d, "order")
        d.execute_script("document.getElementById('timeline-title').scrollIntoView()")
        shot(d, "order-timeline")
        timeline: list[str] = d.execute_script(
            """return Array.from(document.querySelectorAll('#timeline tbody tr'),
                 r => r.cells[0].textContent + ' ' + r.cells[2].textContent)"""
        )
        return row.text, str(row.find_element(By.CSS_SELECTOR, "td.conflict").text), timeline

    row, claims, timeline = await run(open_order, driver)
    assert timeline[0] == f"{expected['placedAt']} order placed"
    # what each system's feed recorded: the systems' own feeds, GraphQL, and the page agree
    storefront = next(r for r in expected["externalRefs"] if r["sourceKind"] == "STOREFRONT")
    recorded = {(c["source"], c["eventType"], c["occurredAt"]) for c in expected["changes"]}
    fed = await feed_events_about(console.services.registry, storefront["ref"])
    assert {(s, t, datetime.fromisoformat(at)) for s, t, at in recorded} == {
        (system, e["type"], datetime.fromisoformat(e["occurredAt"]))
        for system, e in fed
        if e["recordType"] in {"order", "sales_order", "fulfilment_order"}
    }
    assert {source for source, _, _ in recorded} >= {storefront["source"], wms["source"]}
    for c in expected["changes"]:
        assert any(
            line.startswith(c["occurredAt"]) and c["eventType"] in line for line in timeline
        ), c
    steps = [(h["at"], h["status"]) for x in expected["exceptions"] for h in x["history"]]
    assert steps  # a disagreement raised an exception about this order
    for at, status in steps:
        assert any(line.startswith(at) and status in line for line in timeline), (at, status)
    for other in disagreement["others"]:
        assert f"{other['source']} says {other['value']}" in claims, row


async def test_a_dashboard_figure_is_the_graphql_answer(
    console: Console, driver: WebDriver
) -> None:
    key = await console.key(Role.REPORTING)
    await run(sign_in, driver, f"{console.url}/console/dashboard", key)

    def figures(d: WebDriver) -> dict[str, str]:
        until(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#c-kind .bar-row"))
        until(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#c-payouts .bar-row"))
        shot(d, "dashboard")
        shown: dict[str, str] = d.execute_script(
            """const f = {};
               for (const r of document.querySelectorAll('#c-kind .bar-row'))
                 f['kind:' + r.dataset.key] = r.querySelector('.bar-value').textContent;
               for (const r of document.querySelectorAll('#c-payouts .bar-row'))
                 f['payouts:' + r.dataset.key] = r.querySelector('.bar-value').textContent;
               f.query = document.getElementById('q-exceptions').textContent;
               return f"""
        )
        return shown

    shown = await run(figures, driver)
    # the query under the chart is the one to send; its answer is what the chart shows
    answer = await console.graphql(shown.pop("query"))
    ops = answer["exceptionOperations"]
    summary = await console.graphql(
        """query($from: DateTime!, $to: DateTime!) { reconciliationSummary(from: $from, to: $to)
           { payouts { status count } } }""",
        to=ops["asOf"],
        **{"from": (datetime.fromisoformat(ops["asOf"]) - timedelta(days=30)).isoformat()},
    )
    expected = {f"kind:{c['key']}": str(c["count"]) for c in ops["openByKind"]} | {
        f"payouts:{p['status']}": str(p["count"])
        for p in summary["reconciliationSummary"]["payouts"]
    }
    assert shown == expected
    assert any(k.startswith("payouts:") for k in expected)


SYSTEM_ACTORS = re.compile(r"omnigraph:.*|reconciler")


def nearest_rank(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


async def resolved_by_the_systems_alone(console: Console) -> None:
    """An exception the WMS reported and then cleared itself: every step a system's (omnigraph
    has no such path yet; the history is written as one would be)."""
    services = console.services
    now = services.now()
    report = dataclasses.replace(
        short_pick("SF-100001", dedupe_key=f"console-alone:{now.isoformat()}", reported_by="wms"),
        detected_at=now - timedelta(hours=3),
    )
    row, _ = await take_in(services.sessions, services.get(ExceptionCatalogue), report)
    async with services.sessions() as session, session.begin():
        await session.execute(
            update(ExceptionRow)
            .where(ExceptionRow.id == row.id)
            .values(status="RESOLVED", resolved_at=now - timedelta(hours=1), updated_at=now)
        )
        session.add(
            ExceptionEventRow(
                exception_id=row.id, at=now - timedelta(hours=1), status="RESOLVED", actor="wms"
            )
        )


async def test_the_dashboards_resolution_and_payout_figures_are_the_historys(
    console: Console, driver: WebDriver
) -> None:
    # two resolutions by a person (through the API), one by the systems alone
    opened = await console.graphql(OPEN_SHORT_PICKS, filter={"statuses": ["OPEN"]})
    for edge in [e for e in opened["exceptions"]["edges"] if e["node"]["allowedResolutions"]][:2]:
        node = edge["node"]
        await console.graphql(
            """mutation($input: ResolveExceptionInput!) { resolveException(input: $input) {
               userErrors { code } } }""",
            input={
                "id": node["id"],
                "resolution": node["allowedResolutions"][0],
                "idempotencyKey": f"dashboard-{node['id']}",
            },
        )
    await catch_up(console.services)
    await resolved_by_the_systems_alone(console)
    key = await console.key(Role.REPORTING)
    await run(sign_in, driver, f"{console.url}/console/dashboard", key)

    def table(d: WebDriver, element_id: str) -> list[list[str]]:
        rows: list[list[str]] = d.execute_script(
            """return Array.from(document.querySelectorAll('#' + arguments[0] + ' tbody tr'),
                 r => Array.from(r.cells, c => c.textContent))""",
            element_id,
        )
        return rows

    def numbers(d: WebDriver) -> tuple[str, list[list[str]], list[list[str]], list[list[str]]]:
        until(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#c-manual .bar-row"))
        until(d, lambda d: table(d, "n-arrival"))
        for summary in d.find_elements(By.CSS_SELECTOR, "#n-days, #n-manual"):
            summary.find_element(By.XPATH, "..").find_element(By.TAG_NAME, "summary").click()
        shot(d, "dashboard")
        return (
            text_of(d, "d-asof"),
            table(d, "n-days"),
            table(d, "n-manual"),
            table(d, "n-arrival"),
        )

    as_of, days, manual, arrival = await run(numbers, driver)
    now = datetime.fromisoformat(as_of)

    # the independent reference: the exception history and the payouts, read from the database
    systems = set(console.services.registry.clients)
    async with console.services.sessions() as session:
        resolved = [
            (x.id, x.kind, x.detected_at, x.resolved_at)
            for x in await session.scalars(
                select(ExceptionRow).where(
                    ExceptionRow.status == "RESOLVED",
                    ExceptionRow.resolved_at >= now - timedelta(days=7),
                )
            )
        ]
        actors: dict[str, set[str]] = {}
        for exception_id, actor in await session.execute(
            select(ExceptionEventRow.exception_id, ExceptionEventRow.actor)
        ):
            actors.setdefault(exception_id, set()).add(actor)
        waits = [
            max(0.0, (reconciled - arrival_at).total_seconds())
            for arrival_at, reconciled in await session.execute(
                select(PaymentPayoutRow.arrival_at, PayoutReconciliationRow.reconciled_at)
                .join(
                    PayoutReconciliationRow,
                    (PayoutReconciliationRow.source == PaymentPayoutRow.source)
                    & (PayoutReconciliationRow.payout_id == PaymentPayoutRow.payout_id),
                )
                .where(
                    PayoutReconciliationRow.status == "RECONCILED",
                    PayoutReconciliationRow.payout_created_at >= now - timedelta(days=30),
                    PayoutReconciliationRow.payout_created_at < now,
                    PaymentPayoutRow.arrival_at.is_not(None),
                )
            )
        ]
    times: dict[tuple[str, str], list[float]] = {}
    per_day: dict[str, list[int]] = {}
    for exception_id, kind, detected_at, resolved_at in resolved:
        day = resolved_at.date().isoformat()
        times.setdefault((day, kind), []).append((resolved_at - detected_at).total_seconds())
        person = any(
            a not in systems and not SYSTEM_ACTORS.fullmatch(a) for a in actors[exception_id]
        )
        per_day.setdefault(day, [0, 0])[0 if person else 1] += 1
    assert any(v[0] for v in per_day.values())  # some needed a person
    assert any(v[1] for v in per_day.values())  # one the systems made alone

    assert [(r[0], r[1], int(r[2]), float(r[3]), float(r[4])) for r in days] == [
        (d, k, len(v), nearest_rank(v, 0.5), nearest_rank(v, 0.9))
        for (d, k), v in sorted(times.items())
    ]
    assert [(r[0], int(r[1]), int(r[2])) for r in manual] == [
        (d, v[0], v[1]) for d, v in sorted(per_day.items())
    ]
    assert waits
    (shown,) = arrival
    assert (int(shown[0]), float(shown[1]), float(shown[2]), float(shown[3])) == (
        len(waits),
        nearest_rank(waits, 0.5),
        nearest_rank(waits, 0.9),
        max(waits),
    )


ALL_DISAGREEING = """{ orders(first: 100, filter: {hasDisagreement: true}) { edges { node {
  name disagreements { field authoritative { source } others { source } }
  exceptions { id status details } } }
  pageInfo { hasNextPage } } }"""


async def test_the_system_map_counts_disagreements_and_exceptions_per_pair_and_lists_the_cases(
    console: Console, driver: WebDriver
) -> None:
    answer = (await console.graphql(ALL_DISAGREEING))["orders"]
    assert not answer["pageInfo"]["hasNextPage"]
    # (owner → other system, canonical field) -> the orders, and the open exceptions about them
    orders: dict[str, set[str]] = {}
    exceptions: dict[str, set[str]] = {}
    for edge in answer["edges"]:
        node = edge["node"]
        for d in node["disagreements"]:
            field = re.sub(r"\[[^\]]*\]", "", d["field"])
            about = {
                x["id"]
                for x in node["exceptions"]
                if x["status"] != "RESOLVED" and (x["details"] or {}).get("field") == d["field"]
            }
            for other in d["others"]:
                key = f"{d['authoritative']['source']} → {other['source']}|{field}"
                orders.setdefault(key, set()).add(node["name"])
                exceptions.setdefault(key, set()).update(about)
    assert orders
    assert any(exceptions.values())
    key = await console.key(Role.SUPPORT)
    await run(sign_in, driver, f"{console.url}/console/map", key)

    def cells(d: WebDriver) -> tuple[dict[str, tuple[str, str]], list[str]]:
        until(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#map td button"))
        shown: dict[str, tuple[str, str]] = d.execute_script(
            """return Object.fromEntries(Array.from(document.querySelectorAll('#map td button'),
                 b => [b.dataset.pair + '|' + b.dataset.field,
                       [b.dataset.disagreements, b.dataset.exceptions]]))"""
        )
        first = d.find_element(By.CSS_SELECTOR, "#map td button")
        first.send_keys(Keys.ENTER)
        until(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#case-list a"))
        shot(d, "map")
        listed = [a.text for a in d.find_elements(By.CSS_SELECTOR, "#case-list a")]
        return shown, [
            str(first.get_attribute("data-pair")),
            str(first.get_attribute("data-field")),
            *listed,
        ]

    shown, (pair, field, *listed) = await run(cells, driver)
    assert {k: tuple(v) for k, v in shown.items()} == {
        k: (str(len(v)), str(len(exceptions[k]))) for k, v in orders.items()
    }
    assert sorted(listed) == sorted(orders[f"{pair}|{field}"])


async def test_every_control_has_a_label(console: Console, driver: WebDriver) -> None:
    key = await console.key(Role.SUPPORT)

    def unlabelled(d: WebDriver, path: str) -> list[str]:
        sign_in(d, f"{console.url}{path}", key)
        until(d, lambda d: d.find_element(By.ID, "main").is_displayed())
        found: list[str] = d.execute_script(
            """return Array.from(document.querySelectorAll('input, select, button'))
                 .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                              && !e.textContent.trim())
                 .map(e => e.outerHTML)"""
        )
        return found

    for path in ("/console", "/console/order", "/console/dashboard", "/console/map"):
        assert await run(unlabelled, driver, path) == []
