"""The source contract (docs/sources/README.md): what the rooms ask of the source systems, and how
a system that speaks the contract answers it over HTTP.

Read from the top: what every source's client answers (:class:`SourceClient`: its change feed,
the commands it owns, its health), what the rooms ask of a storefront and of a payments provider
whichever API answers (:class:`StorefrontSource`, :class:`PaymentsSource`; Shopify and Stripe
answer them too), then :class:`ContractClient`, the contract's HTTP (batch reads by id and by
order ref, pages, ``/changes``, ``/commands``), and the four adapters that turn its JSON into
the typed records of :mod:`omnigraph.sources.records`: :class:`StorefrontAdapter` (order capture),
:class:`ErpAdapter` (commercial truth), :class:`WmsAdapter` (physical truth, stock) and
:class:`PaymentsAdapter` (money moved).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar, Unpack, cast, runtime_checkable

from pydantic import BaseModel

from omnigraph.core.errors import InvalidInput, SourceContractViolation
from omnigraph.core.sources import SourceKind
from omnigraph.settings import SourceConfig
from omnigraph.sources.parsing import (
    parse_kept,
    parse_kept_records,
    parse_record,
    parse_records,
)
from omnigraph.sources.record_cache import CacheKey
from omnigraph.sources.records import (
    BalanceTransaction,
    Charge,
    Dispute,
    FulfilmentOrder,
    Location,
    OrderPayments,
    Payout,
    Refund,
    SalesOrder,
    StockLevel,
    StorefrontOrder,
)
from omnigraph.sources.upstream import Upstream, UpstreamOptions

__all__ = [
    "BATCH_LIMIT",
    "MAX_FILTER_LENGTH",
    "CommandReceipt",
    "ContractClient",
    "ErpAdapter",
    "FeedPage",
    "JsonRecord",
    "OrderListFilter",
    "PaymentsAdapter",
    "PaymentsSource",
    "SourceClient",
    "StorefrontAdapter",
    "StorefrontPage",
    "StorefrontSource",
    "WmsAdapter",
]

JsonRecord = dict[str, Any]
FeedPage = tuple[list[JsonRecord], str | None, bool]  # events, the next cursor, more to read
BATCH_LIMIT = 500
RecordT = TypeVar("RecordT", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class CommandReceipt:
    """The owner's answer to a command: it applied it, or it refused and said why."""

    accepted: bool
    detail: str
    command_id: str
    replayed: bool


class SourceClient(Protocol):
    """What every source's client answers, whatever API it speaks (the contract, Shopify's,
    Stripe's); its HTTP, record cache and last good copies are its :class:`Upstream`."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> SourceKind: ...

    @property
    def upstream(self) -> Upstream: ...

    async def changes(self, after: str | None, limit: int = 200) -> FeedPage:
        """One page of the change feed after the cursor ``after``."""
        ...

    async def command(
        self, command_type: str, payload: dict[str, Any], idempotency_key: str
    ) -> CommandReceipt:
        """Send a command to the owner; the same key always means the same command to it."""
        ...

    async def health(self) -> dict[str, Any]:
        """Reachability for ``/healthz``; never raises."""
        ...


# -- what the rooms ask --------------------------------------------------------------------


# the longest text filter sent to a source: they travel in its URL's query string (or its
# search syntax), where a long one is refused, or breaks the request, before the source reads it
MAX_FILTER_LENGTH = 256
# the contract's sales channels (docs/sources/storefront.yaml, Channel)
CHANNELS = ("web", "marketplace", "store-pickup", "wholesale")


@dataclass(frozen=True, slots=True)
class OrderListFilter:
    """The filters the storefront itself can apply while listing. A text filter longer than
    :data:`MAX_FILTER_LENGTH` (``maxLength``) or a channel the contract does not name
    (``allowed``) is the client's mistake, ``BAD_USER_INPUT`` with the ``field``, refused
    before any source is asked (a storefront would refuse it, which reads as its fault)."""

    channel: str | None = None
    placed_from: datetime | None = None
    placed_to: datetime | None = None
    sku: str | None = None

    def __post_init__(self) -> None:
        for field, value in (("channel", self.channel), ("sku", self.sku)):
            if value is not None and len(value) > MAX_FILTER_LENGTH:
                raise InvalidInput(
                    f"the {field} filter is {len(value)} characters long, at most"
                    f" {MAX_FILTER_LENGTH}",
                    field=field,
                    maxLength=MAX_FILTER_LENGTH,
                )
        if self.channel is not None and self.channel not in CHANNELS:
            raise InvalidInput(
                f"no channel {self.channel!r}: one of {', '.join(CHANNELS)}",
                field="channel",
                allowed=list(CHANNELS),
            )

    def as_params(self) -> dict[str, str | int]:
        params: dict[str, str | int] = {}
        if self.channel:
            params["channel"] = self.channel
        if self.placed_from:
            params["placedFrom"] = self.placed_from.isoformat()
        if self.placed_to:
            params["placedTo"] = self.placed_to.isoformat()
        if self.sku:
            params["sku"] = self.sku
        return params


@dataclass(frozen=True, slots=True)
class StorefrontPage:
    orders: list[StorefrontOrder]
    next_cursor: str | None


class StorefrontSource(Protocol):
    """Order capture: what was asked for, by whom, through which channel."""

    @property
    def name(self) -> str: ...

    @property
    def client(self) -> SourceClient:
        """Its client, whose change feed the disagreement detector follows."""
        ...

    async def orders_by_id(self, ids: Sequence[str]) -> dict[str, StorefrontOrder]: ...

    async def order_payments_by_id(self, ids: Sequence[str]) -> dict[str, OrderPayments]:
        """The money each order recorded (the same reads as :meth:`orders_by_id`), for
        reconciliation; never kept per content, as nothing compares them by identity."""
        ...

    async def list_orders(
        self, *, limit: int, cursor: str | None, filter: OrderListFilter
    ) -> StorefrontPage: ...


@runtime_checkable
class PayoutSettlement(Protocol):
    """A payments source whose payouts may be reconciled only once the provider says all their
    transactions are listable (Stripe's ``reconciliation_status``)."""

    async def reconciliation_statuses(self, payout_ids: Sequence[str]) -> dict[str, str | None]:
        """Each payout's status as the provider says it now (never cached): ``completed``,
        ``in_progress`` or ``not_applicable``; ``None`` for one it does not know."""
        ...


class PaymentsSource(Protocol):
    """Money moved: charges, refunds, disputes, payouts and their balance transactions."""

    @property
    def name(self) -> str: ...

    @property
    def client(self) -> SourceClient:
        """Its client, whose change feed the payments sync follows."""
        ...

    async def charges_by_order_ref(self, order_refs: Sequence[str]) -> dict[str, list[Charge]]:
        """Each order's charges, oldest first."""
        ...

    async def charges_by_id(self, ids: Sequence[str]) -> dict[str, Charge]: ...

    async def refunds_by_id(self, ids: Sequence[str]) -> dict[str, Refund]: ...

    async def disputes_by_id(self, ids: Sequence[str]) -> dict[str, Dispute]: ...

    async def payouts_by_id(self, ids: Sequence[str]) -> dict[str, Payout]: ...

    async def list_payouts(
        self, *, limit: int, cursor: str | None, filters: Mapping[str, str | int]
    ) -> tuple[list[Payout], str | None]: ...

    async def balance_transactions_by_payout(
        self, payout_ids: Sequence[str]
    ) -> dict[str, list[BalanceTransaction]]: ...


# -- the contract over HTTP ----------------------------------------------------------------


class ContractClient:
    """A source that speaks the contract: reads by id and by order ref a batch at a time (after
    the record cache, so a batch only asks for what it does not hold), pages, the change feed,
    commands; the contract's errors translated into :mod:`omnigraph.core.errors`."""

    def __init__(self, config: SourceConfig, **options: Unpack[UpstreamOptions]) -> None:
        self.upstream = Upstream(config, **options)
        self.name = config.name
        self.kind: SourceKind = config.kind

    async def get_json(self, path: str, params: Mapping[str, str | int] | None = None) -> Any:
        return self.upstream.decode(await self.upstream.request("GET", path, params=params), path)

    async def post_json(self, path: str, body: Any) -> Any:
        return self.upstream.decode(await self.upstream.request("POST", path, json=body), path)

    async def batch_get(
        self, collection: str, ids: Sequence[str], *, id_field: str = "id"
    ) -> dict[str, JsonRecord]:
        """Records by id, one call per :data:`BATCH_LIMIT` ids not already cached."""
        path = f"/{collection}/batch"

        async def fetch(keys: list[CacheKey]) -> list[Any]:
            chunk = [key[2] for key in keys]
            payload = await self.post_json(path, {"ids": chunk})
            fetched = {record[id_field]: record for record in _data(self.name, payload, path)}
            # an empty record is the source's own "no such record"
            return [fetched.get(record_id) or {} for record_id in chunk]

        unique = list(dict.fromkeys(ids))
        keys = [(collection, "id", record_id) for record_id in unique]
        records = await self.upstream.read(keys, fetch, chunk=BATCH_LIMIT)
        return {
            record_id: record for record_id, record in zip(unique, records, strict=True) if record
        }

    async def by_order_ref(
        self,
        collection: str,
        order_refs: Sequence[str],
        *,
        ref_of: Callable[[JsonRecord], str | None] = lambda record: record.get("orderRef"),
    ) -> dict[str, list[JsonRecord]]:
        """Records grouped by the storefront order ref they carry (``ref_of``: zero, one or
        many each)."""
        path = f"/{collection}/by-order-ref"

        async def fetch(keys: list[CacheKey]) -> list[Any]:
            chunk = [key[2] for key in keys]
            payload = await self.post_json(path, {"orderRefs": chunk})
            fetched: dict[str, list[JsonRecord]] = {ref: [] for ref in chunk}
            for record in _data(self.name, payload, path):
                ref = ref_of(record)
                if ref in fetched:
                    fetched[ref].append(record)
            return list(fetched.values())

        unique = list(dict.fromkeys(order_refs))
        keys = [(collection, "ref", ref) for ref in unique]
        grouped = await self.upstream.read(keys, fetch, chunk=BATCH_LIMIT)
        return dict(zip(unique, grouped, strict=True))

    async def list_page(
        self, collection: str, *, limit: int, cursor: str | None, filters: Mapping[str, str | int]
    ) -> tuple[list[JsonRecord], str | None]:
        params: dict[str, str | int] = {"limit": limit, **filters}
        if cursor:
            params["cursor"] = cursor
        path = f"/{collection}"
        payload = await self.get_json(path, params)
        next_cursor = payload.get("nextCursor") if isinstance(payload, dict) else None
        return _data(self.name, payload, path), next_cursor

    async def changes(self, after: str | None, limit: int = 200) -> FeedPage:
        """One page of ``/changes`` after ``after``: events, the next cursor, more to read."""
        params: dict[str, str | int] = {"limit": limit}
        if after:
            params["after"] = after
        payload = await self.get_json("/changes", params)
        if not isinstance(payload, dict) or not isinstance(payload.get("events"), list):
            raise SourceContractViolation(self.name, "/changes answered without an events list")
        next_cursor = payload.get("nextCursor")
        return (
            cast(list[JsonRecord], payload["events"]),
            str(next_cursor) if next_cursor else after,
            bool(payload.get("hasMore")),
        )

    async def command(
        self, command_type: str, payload: dict[str, Any], idempotency_key: str
    ) -> CommandReceipt:
        """``POST /commands``; the same key always means the same command to the owner."""
        response = await self.upstream.request(
            "POST",
            "/commands",
            json={"type": command_type, "payload": payload},
            headers={"Idempotency-Key": idempotency_key},
        )
        body = self.upstream.decode(response, "/commands")
        status = body.get("status") if isinstance(body, dict) else None
        if status not in ("accepted", "rejected"):
            raise SourceContractViolation(self.name, "/commands answered without a status")
        return CommandReceipt(
            accepted=status == "accepted",
            detail=str(body.get("detail") or ""),
            command_id=str(body.get("commandId") or ""),
            replayed=response.headers.get("Idempotent-Replayed") == "true",
        )

    async def health(self) -> dict[str, Any]:
        """``GET /health``; never raises."""
        return await self.upstream.health(self.upstream.request("GET", "/health"))


# -- the contract's adapters, one per kind -------------------------------------------------


class StorefrontAdapter:
    """A storefront that speaks the contract."""

    def __init__(self, client: ContractClient) -> None:
        self.client = client
        self.name = client.name

    async def orders_by_id(self, ids: Sequence[str]) -> dict[str, StorefrontOrder]:
        found = await self.client.batch_get("orders", ids)
        return _parsed(self.name, StorefrontOrder, found)

    async def order_payments_by_id(self, ids: Sequence[str]) -> dict[str, OrderPayments]:
        found = await self.client.batch_get("orders", ids)
        return _parsed(self.name, OrderPayments, found, parse_record)

    async def list_orders(
        self, *, limit: int, cursor: str | None, filter: OrderListFilter
    ) -> StorefrontPage:
        raws, next_cursor = await self.client.list_page(
            "orders", limit=limit, cursor=cursor, filters=filter.as_params()
        )
        return StorefrontPage(parse_kept_records(self.name, StorefrontOrder, raws), next_cursor)


class ErpAdapter:
    """Commercial truth: prices, totals, terms, financial status, credit memos."""

    def __init__(self, client: ContractClient) -> None:
        self.client = client
        self.name = client.name

    async def sales_orders_by_order_ref(
        self, order_refs: Sequence[str]
    ) -> dict[str, list[SalesOrder]]:
        grouped = await self.client.by_order_ref("sales-orders", order_refs)
        return _parsed_groups(self.name, SalesOrder, grouped)

    async def sales_orders_by_id(self, ids: Sequence[str]) -> dict[str, SalesOrder]:
        return _parsed(self.name, SalesOrder, await self.client.batch_get("sales-orders", ids))


class WmsAdapter:
    """Physical truth: released, picked, packed, shipped, stock on hand."""

    def __init__(self, client: ContractClient) -> None:
        self.client = client
        self.name = client.name

    async def fulfilment_orders_by_order_ref(
        self, order_refs: Sequence[str]
    ) -> dict[str, list[FulfilmentOrder]]:
        grouped = await self.client.by_order_ref("fulfilment-orders", order_refs)
        return _parsed_groups(self.name, FulfilmentOrder, grouped)

    async def fulfilment_orders_by_id(self, ids: Sequence[str]) -> dict[str, FulfilmentOrder]:
        found = await self.client.batch_get("fulfilment-orders", ids)
        return _parsed(self.name, FulfilmentOrder, found)

    async def stock(
        self, skus: Sequence[str], location_ids: Sequence[str] | None
    ) -> list[StockLevel]:
        """Stock snapshot rows for ``skus`` (at ``location_ids``, or everywhere)."""
        path = "/stock/query"
        payload = await self.client.post_json(
            path, {"skus": list(skus), "locationIds": list(location_ids) if location_ids else None}
        )
        return parse_records(self.name, StockLevel, _data(self.name, payload, path))

    async def locations(self) -> list[Location]:
        """Locations change rarely, so they are kept for the source's cache TTL."""

        async def fetch() -> list[JsonRecord]:
            raws, _ = await self.client.list_page("locations", limit=500, cursor=None, filters={})
            return raws

        # The raw records are cached (a shared cache holds JSON), parsed on each read.
        raws: list[JsonRecord] = await self.client.upstream.cached(("locations",), fetch)
        return parse_records(self.name, Location, raws)


class PaymentsAdapter:
    """A payments provider that speaks the contract."""

    def __init__(self, client: ContractClient) -> None:
        self.client = client
        self.name = client.name

    async def charges_by_order_ref(self, order_refs: Sequence[str]) -> dict[str, list[Charge]]:
        grouped = await self.client.by_order_ref("charges", order_refs, ref_of=_charge_order_ref)
        return _parsed_groups(self.name, Charge, grouped)

    async def charges_by_id(self, ids: Sequence[str]) -> dict[str, Charge]:
        return _parsed(self.name, Charge, await self.client.batch_get("charges", ids))

    async def refunds_by_id(self, ids: Sequence[str]) -> dict[str, Refund]:
        return _parsed(self.name, Refund, await self.client.batch_get("refunds", ids), parse_record)

    async def disputes_by_id(self, ids: Sequence[str]) -> dict[str, Dispute]:
        return _parsed(
            self.name, Dispute, await self.client.batch_get("disputes", ids), parse_record
        )

    async def payouts_by_id(self, ids: Sequence[str]) -> dict[str, Payout]:
        return _parsed(self.name, Payout, await self.client.batch_get("payouts", ids), parse_record)

    async def list_payouts(
        self, *, limit: int, cursor: str | None, filters: Mapping[str, str | int]
    ) -> tuple[list[Payout], str | None]:
        raws, next_cursor = await self.client.list_page(
            "payouts", limit=limit, cursor=cursor, filters=filters
        )
        return parse_records(self.name, Payout, raws), next_cursor

    async def balance_transactions_by_payout(
        self, payout_ids: Sequence[str]
    ) -> dict[str, list[BalanceTransaction]]:
        path = "/balance-transactions/by-payout"
        payload = await self.client.post_json(path, {"payoutIds": list(payout_ids)})
        grouped: dict[str, list[BalanceTransaction]] = {pid: [] for pid in payout_ids}
        raws = _data(self.name, payload, path)
        for txn in parse_records(self.name, BalanceTransaction, raws):
            if txn.payout in grouped:
                grouped[txn.payout].append(txn)
        return grouped


def _charge_order_ref(record: JsonRecord) -> str | None:
    metadata = record.get("metadata")
    return metadata.get("order_ref") if isinstance(metadata, dict) else None


def _data(source: str, payload: Any, path: str) -> list[JsonRecord]:
    """The ``data`` list of a contract answer."""
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        raise SourceContractViolation(source, f"{path} answered without a data list")
    return cast(list[JsonRecord], payload["data"])


def _parsed(
    source: str,
    model: type[RecordT],
    raws: Mapping[str, Any],
    parse: Callable[[str, type[RecordT], Any], RecordT] = parse_kept,
) -> dict[str, RecordT]:
    """Records by key; an order's records (the default) kept once per content, as a truth
    decided from them is recognised by identity (``OrderTruths``)."""
    return {key: parse(source, model, raw) for key, raw in raws.items()}


def _parsed_groups(
    source: str, model: type[RecordT], groups: Mapping[str, Iterable[Any]]
) -> dict[str, list[RecordT]]:
    return {key: parse_kept_records(source, model, raws) for key, raws in groups.items()}
