"""A fake Shopify Admin GraphQL API over the demo storefront's orders, for tests that point the
Shopify adapter at something without the internet (never a substitute for a development store).

It serves the demo world's storefront orders in Shopify's shapes: the documents the adapter
sends are parsed, validated and executed by graphql-core against a small subset of the Admin
API's schema (:data:`SCHEMA_SDL`, the types and fields omnigraph reads, as Shopify documents
them), so a query Shopify would refuse for its shape is refused here too. Resolvers read the
demo records: ``nodes(ids:)``, ``node(id:)``, ``order(id:)``, ``orders(first, after, query,
sortKey, reverse)`` with cursor pagination and the search terms the adapter writes
(``updated_at``, ``processed_at``, ``sku``), ``returnableFulfillments``, and the mutations
``orderCancel``, ``orderUpdate`` and ``returnCreate``, applied to the fake's copy of the world.
Every answer carries ``extensions.cost`` with the requested cost and the bucket's
``throttleStatus``; a query over 1,000 points is refused with ``MAX_COST_EXCEEDED``, as Shopify
does, and :meth:`FakeShopify.throttle_next` makes the next queries answer ``THROTTLED``.

Ids line up with the demo's other systems: order ``SF-100001`` is ``gid://shopify/Order/100001``
(``order_id_prefix = "SF-"``), a return is named as the demo names it (``RMA-000001``, the
``rmaRef`` the demo WMS uses), a transaction's ``receiptJson`` is the demo processor's charge or
refund object (``authorizationCode``, deprecated since 2026-01, is null). Example::

    fake = FakeShopify(world, access_token="shpat_fake")
    transport = httpx.ASGITransport(app=fake.app)   # or serve fake.app with uvicorn
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import secrets
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Final
from urllib.parse import parse_qsl

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    build_schema,
    execute_sync,
    parse,
    validate,
    value_from_ast_untyped,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from omnigraph.demo.contract import wall_clock
from omnigraph.demo.formats import iso
from omnigraph.demo.world import DemoWorld

__all__ = [
    "CHANNEL_HANDLES",
    "DEFAULT_LOCATION_IDS",
    "SCHEMA_SDL",
    "FakeShopify",
    "shopify_options",
]

JsonRecord = dict[str, Any]

# The demo's channels as a shop shows them: (channel handle, sourceName). A pickup order is an
# online-store order with a PICK_UP fulfillment order; wholesale is the shop's B2B channel.
CHANNEL_HANDLES: Final = {
    "web": ("online_store", "web"),
    "store-pickup": ("online_store", "web"),
    "marketplace": ("amazon", "amazon-uk"),
    "wholesale": ("b2b", "shopify_draft_order"),
}
# The demo's store locations as Shopify location ids.
DEFAULT_LOCATION_IDS: Final = {"store-london": "61001", "store-manchester": "61002"}

_FULFILMENT: Final = {
    "unfulfilled": "UNFULFILLED",
    "partial": "PARTIALLY_FULFILLED",
    "fulfilled": "FULFILLED",
    # Shopify has no "ready for pickup" order status: the pickup is in progress
    "ready_for_pickup": "IN_PROGRESS",
    "picked_up": "FULFILLED",
}
_FINANCIAL: Final = {
    "paid": "PAID",
    "refunded": "REFUNDED",
    "partially_refunded": "PARTIALLY_REFUNDED",
    "voided": "VOIDED",
    "authorized": "AUTHORIZED",
    "pending": "PENDING",
    # an order on payment terms (the demo's wholesale invoices) awaits payment
    "invoiced": "PENDING",
}
_RETURN_STATUS: Final = {"open": "OPEN", "requested": "REQUESTED", "received": "CLOSED"}
_CANCEL_REASONS: Final = ("CUSTOMER", "DECLINED", "FRAUD", "INVENTORY", "OTHER", "STAFF")
_FULFILLED: Final = frozenset({"partial", "fulfilled", "picked_up"})
_GID: Final = re.compile(r"gid://shopify/(\w+)/(\d+)")
# field:[comparator]value, the value bare or quoted (single or double), a backslash escaping
# the next character inside quotes, as Shopify's search syntax has it
_TERM: Final = re.compile(
    r"""(\w+):(>=|<=|>|<)?(?:'((?:\\.|[^'\\])*)'|"((?:\\.|[^"\\])*)"|([^\s'"]+))"""
)
_AND: Final = re.compile(r"\s+AND\s+")

MAX_QUERY_COST: Final = 1000
MUTATION_COST: Final = 10

SCHEMA_SDL: Final = '''
"""The subset of Shopify's Admin GraphQL API (2026-10) that omnigraph reads and writes."""
scalar DateTime
scalar Decimal
scalar JSON
scalar UnsignedInt64
scalar URL

interface Node { id: ID! }

enum CurrencyCode { GBP EUR USD }
enum OrderSortKeys {
  CREATED_AT CUSTOMER_NAME DESTINATION FINANCIAL_STATUS FULFILLMENT_STATUS ID ORDER_NUMBER
  PO_NUMBER PROCESSED_AT RELEVANCE TOTAL_ITEMS_QUANTITY TOTAL_PRICE UPDATED_AT
}
enum OrderCancelReason { CUSTOMER DECLINED FRAUD INVENTORY OTHER STAFF }
enum OrderDisplayFinancialStatus {
  AUTHORIZED EXPIRED PAID PARTIALLY_PAID PARTIALLY_REFUNDED PENDING REFUNDED VOIDED
}
enum OrderDisplayFulfillmentStatus {
  FULFILLED IN_PROGRESS ON_HOLD OPEN PARTIALLY_FULFILLED PENDING_FULFILLMENT REQUEST_DECLINED
  RESTOCKED SCHEDULED UNFULFILLED
}
enum OrderTransactionKind {
  AUTHORIZATION CAPTURE CHANGE EMV_AUTHORIZATION REFUND SALE SUGGESTED_REFUND VOID
}
enum OrderTransactionStatus { AWAITING_RESPONSE ERROR FAILURE PENDING SUCCESS UNKNOWN }
enum ReturnStatus { CANCELED CLOSED DECLINED OPEN REQUESTED }
enum DeliveryMethodType { LOCAL NONE PICK_UP PICKUP_POINT RETAIL SHIPPING }
enum OrderCancelUserErrorCode { INVALID NOT_FOUND NO_REFUND_PERMISSION }
enum ReturnErrorCode { INVALID NOT_FOUND }

type PageInfo {
  hasNextPage: Boolean!
  hasPreviousPage: Boolean!
  startCursor: String
  endCursor: String
}
type MoneyV2 { amount: Decimal! currencyCode: CurrencyCode! }
type MoneyBag { shopMoney: MoneyV2! presentmentMoney: MoneyV2! }
type Shop { name: String! myshopifyDomain: String! }
type Customer implements Node { id: ID! legacyResourceId: UnsignedInt64! displayName: String! }
type ChannelDefinition { id: ID! handle: String! channelName: String! }
type ChannelInformation { id: ID! channelDefinition: ChannelDefinition }
type OrderAttribution { handle: String! displayName: String! icon: String }
type Location implements Node { id: ID! legacyResourceId: UnsignedInt64! name: String! }

type LineItem implements Node {
  id: ID!
  sku: String
  name: String!
  quantity: Int!
  originalUnitPriceSet: MoneyBag!
}
type LineItemConnection { nodes: [LineItem!]! pageInfo: PageInfo! }

type OrderTransaction implements Node {
  id: ID!
  kind: OrderTransactionKind!
  status: OrderTransactionStatus!
  authorizationCode: String @deprecated(reason: "Use `paymentId` instead.")
  paymentId: String
  receiptJson: JSON
  processedAt: DateTime
  createdAt: DateTime!
  amountSet: MoneyBag!
}
type OrderTransactionConnection { nodes: [OrderTransaction!]! pageInfo: PageInfo! }

type Refund implements Node {
  id: ID!
  createdAt: DateTime
  return: Return
  transactions(first: Int, after: String): OrderTransactionConnection!
}

type FulfillmentLineItem implements Node { id: ID! lineItem: LineItem! quantity: Int }
interface ReturnLineItemType { id: ID! quantity: Int! returnReasonNote: String! }
type ReturnLineItem implements Node & ReturnLineItemType {
  id: ID!
  quantity: Int!
  returnReasonNote: String!
  fulfillmentLineItem: FulfillmentLineItem!
}
type ReturnLineItemTypeConnection { nodes: [ReturnLineItemType!]! pageInfo: PageInfo! }
type Return implements Node {
  id: ID!
  name: String!
  status: ReturnStatus!
  createdAt: DateTime!
  order: Order!
  returnLineItems(first: Int, after: String): ReturnLineItemTypeConnection!
}
type ReturnConnection { nodes: [Return!]! pageInfo: PageInfo! }

type DeliveryMethod { id: ID! methodType: DeliveryMethodType! }
type FulfillmentOrderAssignedLocation { name: String! location: Location }
type FulfillmentOrder implements Node {
  id: ID!
  deliveryMethod: DeliveryMethod
  assignedLocation: FulfillmentOrderAssignedLocation!
}
type FulfillmentOrderConnection { nodes: [FulfillmentOrder!]! pageInfo: PageInfo! }

type ReturnableFulfillmentLineItem { quantity: Int! fulfillmentLineItem: FulfillmentLineItem! }
type ReturnableFulfillmentLineItemConnection {
  nodes: [ReturnableFulfillmentLineItem!]!
  pageInfo: PageInfo!
}
type ReturnableFulfillment implements Node {
  id: ID!
  returnableFulfillmentLineItems(first: Int, after: String):
    ReturnableFulfillmentLineItemConnection!
}
type ReturnableFulfillmentConnection { nodes: [ReturnableFulfillment!]! pageInfo: PageInfo! }

type Order implements Node {
  id: ID!
  legacyResourceId: UnsignedInt64!
  name: String!
  createdAt: DateTime!
  processedAt: DateTime!
  updatedAt: DateTime!
  closedAt: DateTime
  cancelledAt: DateTime
  cancelReason: OrderCancelReason
  sourceName: String
  channelInformation: ChannelInformation
  attribution: OrderAttribution
  currencyCode: CurrencyCode!
  displayFinancialStatus: OrderDisplayFinancialStatus
  displayFulfillmentStatus: OrderDisplayFulfillmentStatus!
  email: String
  note: String
  tags: [String!]!
  customer: Customer
  subtotalPriceSet: MoneyBag
  totalDiscountsSet: MoneyBag
  totalShippingPriceSet: MoneyBag!
  totalTaxSet: MoneyBag
  totalPriceSet: MoneyBag!
  lineItems(first: Int, after: String): LineItemConnection!
  transactions(first: Int): [OrderTransaction!]!
  refunds(first: Int): [Refund!]!
  returns(first: Int, after: String): ReturnConnection!
  fulfillmentOrders(first: Int, after: String): FulfillmentOrderConnection!
}
type OrderConnection { nodes: [Order!]! pageInfo: PageInfo! }

type Query {
  node(id: ID!): Node
  nodes(ids: [ID!]!): [Node]!
  order(id: ID!): Order
  orders(first: Int, after: String, last: Int, before: String, query: String,
         sortKey: OrderSortKeys = ID, reverse: Boolean = false): OrderConnection!
  returnableFulfillments(orderId: ID!, first: Int, after: String):
    ReturnableFulfillmentConnection!
  shop: Shop!
}

type Job { id: ID! done: Boolean! }
type UserError { field: [String!] message: String! }
type OrderCancelUserError { field: [String!] message: String! code: OrderCancelUserErrorCode }
type ReturnUserError { field: [String!] message: String! code: ReturnErrorCode }
type OrderCancelPayload {
  job: Job
  orderCancelUserErrors: [OrderCancelUserError!]!
  userErrors: [UserError!]!
}
type OrderUpdatePayload { order: Order userErrors: [UserError!]! }
type ReturnCreatePayload { return: Return userErrors: [ReturnUserError!]! }

input OrderCancelRefundMethodInput { originalPaymentMethodsRefund: Boolean }
input OrderInput { id: ID! note: String tags: [String!] email: String }
input ReturnLineItemInput {
  fulfillmentLineItemId: ID!
  quantity: Int!
  returnReasonNote: String
}
input ReturnInput {
  orderId: ID!
  returnLineItems: [ReturnLineItemInput!]!
  notifyCustomer: Boolean
  requestedAt: DateTime
}

type Mutation {
  orderCancel(orderId: ID!, reason: OrderCancelReason!, restock: Boolean!,
              notifyCustomer: Boolean, refundMethod: OrderCancelRefundMethodInput,
              staffNote: String): OrderCancelPayload
  orderUpdate(input: OrderInput!): OrderUpdatePayload
  returnCreate(returnInput: ReturnInput!): ReturnCreatePayload
}
'''


def shopify_options(location_ids: Mapping[str, str] = DEFAULT_LOCATION_IDS) -> JsonRecord:
    """The ``[sources.options]`` that map this fake's orders back to the demo's channels,
    locations and ids (what a retailer would write for its own shop)."""
    return {
        "order_id_prefix": "SF-",
        "default_channel": "web",
        "pickup_channel": "store-pickup",
        "channel_map": {"amazon": "marketplace", "b2b": "wholesale"},
        "location_map": {number: name for name, number in location_ids.items()},
    }


def _number(demo_id: str) -> int:
    """``"RMA-000012"`` -> 12: the numeric part of a demo id, Shopify's id for it."""
    return int(demo_id.rsplit("-", 1)[-1])


def _gid(kind: str, number: int | str) -> str:
    return f"gid://shopify/{kind}/{number}"


def _money(amount: str, currency: str) -> JsonRecord:
    money = {"amount": amount, "currencyCode": currency.upper()}
    return {"shopMoney": money, "presentmentMoney": dict(money)}


def _page_info(has_next: bool, end: str | None) -> JsonRecord:
    return {
        "hasNextPage": has_next,
        "hasPreviousPage": False,
        "startCursor": None,
        "endCursor": end,
    }


def _slice(items: Sequence[Any], first: int | None, after: str | None) -> tuple[list[Any], int]:
    """Items after the cursor (an offset here, opaque to the caller), at most ``first``."""
    start = _offset(after)
    end = len(items) if first is None else start + first
    return list(items[start:end]), end


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return int(value["offset"])
    except (ValueError, KeyError, TypeError):
        raise GraphQLError(f"Invalid cursor: {cursor}") from None


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _receipt(txn: JsonRecord) -> JsonRecord:
    """What a Stripe gateway puts in a transaction's receipt: the charge or refund object."""
    ref = str(txn["gatewayRef"])
    minor = int(Decimal(str(txn["amount"])) * 100)
    currency = str(txn["currency"]).lower()
    if ref.startswith("re_"):
        return {"id": ref, "object": "refund", "amount": minor, "currency": currency}
    if ref.startswith("ch_"):
        return {
            "id": ref,
            "object": "charge",
            "amount": minor,
            "currency": currency,
            "captured": True,
            "status": "succeeded",
        }
    return {"reference": ref}  # another gateway's receipt: nothing Stripe-shaped


def _connection(items: Sequence[Any], first: int | None, after: str | None) -> JsonRecord:
    page, end = _slice(items, first, after)
    more = end < len(items)
    return {"nodes": page, "pageInfo": _page_info(more, _cursor(end) if page else after)}


class _Throttled(Exception):
    """Answer this query THROTTLED (the test switch)."""


class FakeShopify:
    """The fake shop (``.app``, an ASGI app), its calls and switches. Orders are the demo's
    records, kept in the demo's shape and shown in Shopify's."""

    def __init__(
        self,
        world: DemoWorld,
        *,
        access_token: str | None = None,
        api_version: str = "2026-10",
        location_ids: Mapping[str, str] = DEFAULT_LOCATION_IDS,
        bucket_size: float = 20_000,
        restore_rate: float = 1_000,
        clock: Callable[[], float] = time.monotonic,
        client_id: str | None = None,
        client_secret: str | None = None,
        token_ttl: float = 86_399,
        refresh_token: str | None = None,
        denied_scopes: Sequence[str] = (),
        extra_fulfillment_orders: int = 0,
    ) -> None:
        """The bucket defaults to Shopify Plus's (20,000 points, 1,000 a second), so a test
        does not wait; make it small to see the client hold back.

        With ``client_id`` and ``client_secret`` the shop also answers
        ``POST /admin/oauth/access_token`` as Shopify documents it: ``grant_type=
        client_credentials`` gives a token lasting ``token_ttl`` seconds (on ``clock``);
        ``grant_type=refresh_token`` with the current ``refresh_token`` gives one and a new
        refresh token (the old one stops working). Expired or revoked tokens answer 401."""
        self.access_token = access_token
        # scopes the app was not granted: their fields answer ACCESS_DENIED beside the data
        self.denied_scopes = set(denied_scopes)
        # shipped fulfillment orders put before each order's own (a split shipment)
        self.extra_fulfillment_orders = extra_fulfillment_orders
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_ttl = token_ttl
        self.refresh_token = refresh_token
        self.issued: dict[str, float] = {}  # token -> when it expires (on clock)
        self.grants: list[str] = []  # grant types asked, in order
        self.refused = 0  # GraphQL requests answered 401
        self.api_version = api_version
        self.location_ids = dict(location_ids)
        self.now = wall_clock(world.anchor)
        self.orders: dict[int, JsonRecord] = {
            _number(order["id"]): order for order in copy.deepcopy(world.storefront_orders)
        }
        self.notes: dict[int, str] = {}
        self.tags: dict[int, list[str]] = {}
        self.next_return = 1 + max(
            (_number(r["id"]) for order in self.orders.values() for r in order["returns"]),
            default=0,
        )
        self.schema: GraphQLSchema = build_schema(SCHEMA_SDL)
        self.calls: Counter[str] = Counter()  # by operation name
        self.documents: list[tuple[str, JsonRecord]] = []  # (operation, variables), in order
        self.bucket_size = bucket_size
        self.restore_rate = restore_rate
        self.clock = clock
        self._available = bucket_size
        self._seen_at = clock()
        self._throttle = 0
        self.app = Starlette(
            routes=[
                Route(f"/admin/api/{api_version}/graphql.json", self._endpoint, methods=["POST"]),
                Route("/admin/oauth/access_token", self._token_endpoint, methods=["POST"]),
            ]
        )

    # -- switches for tests ------------------------------------------------------------------

    def throttle_next(self, count: int = 1) -> None:
        """The next ``count`` queries answer ``THROTTLED`` without running."""
        self._throttle += count

    def revoke_tokens(self) -> None:
        """Every token issued so far stops working (a rotated secret, an uninstall)."""
        self.issued.clear()

    def order(self, order_id: str) -> JsonRecord:
        """The fake's copy of a demo order (``"SF-100001"``), as the demo storefront holds it."""
        return self.orders[_number(order_id)]

    # -- HTTP --------------------------------------------------------------------------------

    async def _token_endpoint(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode()))
        grant = form.get("grant_type", "")
        self.grants.append(grant)
        if (
            self.client_id is None
            or form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
        ):
            return JSONResponse(
                {"error": "invalid_client", "error_description": "Client authentication failed"},
                status_code=401,
            )
        answer: JsonRecord = {"scope": "read_orders,read_returns"}
        if grant == "refresh_token":
            if self.refresh_token is None or form.get("refresh_token") != self.refresh_token:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            self.refresh_token = "shprt_" + secrets.token_hex(8)
            answer |= {"refresh_token": self.refresh_token, "refresh_token_expires_in": 7_776_000}
        elif grant != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        token = "shpat_" + secrets.token_hex(8)
        self.issued[token] = self.clock() + self.token_ttl
        return JSONResponse(answer | {"access_token": token, "expires_in": int(self.token_ttl)})

    def _authorized(self, token: str | None) -> bool:
        if self.access_token is None and self.client_id is None:
            return True
        if token is not None and token == self.access_token:
            return True
        expires = self.issued.get(token or "")
        return expires is not None and self.clock() < expires

    async def _endpoint(self, request: Request) -> Response:
        if not self._authorized(request.headers.get("X-Shopify-Access-Token")):
            self.refused += 1
            return JSONResponse(
                {
                    "errors": "[API] Invalid API key or access token (unrecognized login or"
                    " wrong password)"
                },
                status_code=401,
            )
        try:
            body = json.loads(await request.body())
            source, variables = body["query"], body.get("variables") or {}
            if not isinstance(source, str) or not isinstance(variables, dict):
                raise ValueError(body)
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"errors": "Bad Request"}, status_code=400)
        try:
            document = parse(source)
        except GraphQLError as error:
            return JSONResponse({"errors": [error.formatted]})
        problems = validate(self.schema, document)
        if problems:
            return JSONResponse({"errors": [p.formatted for p in problems]})
        operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
        name = operation.name.value if operation.name else "anonymous"
        self.calls[name] += 1
        self.documents.append((name, copy.deepcopy(variables)))
        cost = _requested_cost(document, operation, variables)
        if cost > MAX_QUERY_COST:
            extensions = self._charge(0)  # refused before it runs: nothing is taken
            return JSONResponse(
                {
                    "errors": [
                        {
                            "message": f"Query cost is {cost}, which exceeds the single query"
                            f" max cost limit ({MAX_QUERY_COST}).",
                            "extensions": {"code": "MAX_COST_EXCEEDED", "cost": cost},
                        }
                    ],
                    "extensions": extensions,
                }
            )
        extensions = self._charge(cost)
        if self._throttle or extensions["cost"]["throttleStatus"]["currentlyAvailable"] < 0:
            self._throttle = max(0, self._throttle - 1)
            self._available += cost  # a throttled query costs nothing
            throttled = self._charge(0)
            throttled["cost"]["requestedQueryCost"] = cost
            return JSONResponse(
                {
                    "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
                    "extensions": throttled,
                }
            )
        root = self._mutations() if operation.operation is OperationType.MUTATION else self._root()
        result = execute_sync(self.schema, document, root_value=root, variable_values=variables)
        answer: JsonRecord = {"data": result.data}
        if result.errors:
            answer["errors"] = [e.formatted for e in result.errors]
        answer["extensions"] = extensions
        return JSONResponse(answer)

    def _charge(self, cost: int) -> JsonRecord:
        """Take ``cost`` from the bucket (refilled since last seen); Shopify's cost extension."""
        now = self.clock()
        self._available = min(
            self.bucket_size, self._available + (now - self._seen_at) * self.restore_rate
        )
        self._seen_at = now
        self._available -= cost
        return {
            "cost": {
                "requestedQueryCost": cost,
                "actualQueryCost": cost,
                "throttleStatus": {
                    "maximumAvailable": self.bucket_size,
                    "currentlyAvailable": self._available,
                    "restoreRate": self.restore_rate,
                },
            }
        }

    # -- Shopify's objects over the demo's records ---------------------------------------------

    def _root(self) -> JsonRecord:
        return {
            "node": lambda _info, id: self._node(id),
            "nodes": lambda _info, ids: [self._node(i) for i in ids],
            "order": lambda _info, id: self._order_node(id),
            "orders": self._orders,
            "returnableFulfillments": self._returnable,
            "shop": {"name": "Omni Retail (fake)", "myshopifyDomain": "omni-retail.myshopify.com"},
        }

    def _node(self, gid: str) -> JsonRecord | None:
        match = _GID.fullmatch(gid)
        if match is None:
            raise GraphQLError(f"Invalid global id '{gid}'")
        kind, number = match.group(1), int(match.group(2))
        if kind == "Order":
            order = self.orders.get(number)
            return None if order is None else self._order(order)
        if kind == "Return":
            found = self._find_return(number)
            return None if found is None else self._return(*found)
        return None

    def _order_node(self, gid: str) -> JsonRecord | None:
        node = self._node(gid)
        return node if node is not None and node["__typename"] == "Order" else None

    def _find_return(self, number: int) -> tuple[JsonRecord, JsonRecord] | None:
        for order in self.orders.values():
            for entry in order["returns"]:
                if _number(entry["id"]) == number:
                    return order, entry
        return None

    def _order(self, order: JsonRecord) -> JsonRecord:
        number = _number(order["id"])
        currency = order["currency"]
        handle, source_name = CHANNEL_HANDLES.get(order["channel"], ("online_store", "web"))
        customer = order["customer"]
        totals = order["totals"]
        lines = [self._line_item(order, position) for position in range(len(order["lines"]))]
        return {
            "__typename": "Order",
            "id": _gid("Order", number),
            "legacyResourceId": str(number),
            "name": order["name"],
            "createdAt": order["placedAt"],
            "processedAt": order["placedAt"],
            "updatedAt": order["updatedAt"],
            "closedAt": order["updatedAt"] if order["status"] == "closed" else None,
            "cancelledAt": order["cancelledAt"],
            "cancelReason": _cancel_reason(order["cancelReason"]),
            "sourceName": source_name,
            "attribution": {
                "handle": handle,
                "displayName": handle.replace("_", " ").title(),
                "icon": None,
            },
            "channelInformation": {
                "id": _gid("ChannelInformation", number),
                "channelDefinition": {
                    "id": _gid("ChannelDefinition", len(handle)),
                    "handle": handle,
                    "channelName": handle.replace("_", " ").title(),
                },
            },
            "currencyCode": currency,
            "displayFinancialStatus": _FINANCIAL.get(str(order["financialStatus"])),
            "displayFulfillmentStatus": _FULFILMENT[order["fulfilmentStatus"]],
            "email": customer["email"] if customer else None,
            "note": self.notes.get(number),
            "tags": list(self.tags.get(number, [])),
            "customer": self._guarded(
                "read_customers",
                "customer",
                {
                    "id": _gid("Customer", _number(customer["id"])),
                    "legacyResourceId": str(_number(customer["id"])),
                    "displayName": customer["name"],
                }
                if customer
                else None,
            ),
            "subtotalPriceSet": _money(totals["subtotal"], currency),
            "totalDiscountsSet": _money(totals["discount"], currency),
            "totalShippingPriceSet": _money(totals["shipping"], currency),
            "totalTaxSet": _money(totals["tax"], currency),
            "totalPriceSet": _money(totals["total"], currency),
            "lineItems": lambda _info, first=None, after=None: _connection(lines, first, after),
            "transactions": lambda _info, first=None: [
                self._transaction(t) for t in order["transactions"]
            ][:first],
            "refunds": lambda _info, first=None: self._refunds(order)[:first],
            "returns": lambda _info, first=None, after=None: _connection(
                [self._return(order, entry) for entry in order["returns"]], first, after
            ),
            "fulfillmentOrders": lambda _info, first=None, after=None: _connection(
                [
                    *(
                        self._fulfillment_order(order, shipped=n + 1)
                        for n in range(self.extra_fulfillment_orders)
                    ),
                    self._fulfillment_order(order),
                ],
                first,
                after,
            ),
        }

    def _guarded(self, scope: str, field: str, value: Any) -> Any:
        """``value``, or, without ``scope``, a resolver answering Shopify's field-level
        ``ACCESS_DENIED`` (the field is null, the rest of the data arrives)."""
        if scope not in self.denied_scopes:
            return value

        def denied(_info: Any) -> Any:
            access = f"`{scope}` access scope."
            raise GraphQLError(
                f"Access denied for {field} field. Required access: {access}",
                extensions={
                    "code": "ACCESS_DENIED",
                    "documentation": "https://shopify.dev/api/usage/access-scopes",
                    "requiredAccess": access,
                },
            )

        return denied

    def _line_item(self, order: JsonRecord, position: int) -> JsonRecord:
        line = order["lines"][position]
        return {
            "id": _gid("LineItem", _line_number(order, position)),
            "sku": line["sku"],
            "name": line["title"],
            "quantity": line["quantity"],
            "originalUnitPriceSet": _money(line["unitPrice"], order["currency"]),
        }

    def _fulfillment_line_item(self, order: JsonRecord, position: int) -> JsonRecord:
        return {
            "id": _gid("FulfillmentLineItem", _line_number(order, position)),
            "lineItem": self._line_item(order, position),
            "quantity": order["lines"][position]["quantity"],
        }

    def _transaction(self, txn: JsonRecord) -> JsonRecord:
        return {
            "id": _gid("OrderTransaction", _number(txn["id"])),
            "kind": "SALE" if txn["kind"] == "capture" else "REFUND",
            "status": "SUCCESS",
            # Shopify's own payment id; the processor's id is in the gateway's receipt (a
            # Stripe charge or refund object), authorizationCode is deprecated and left null
            "authorizationCode": None,
            "paymentId": "p" + hashlib.sha256(txn["id"].encode()).hexdigest()[:24],
            "receiptJson": json.dumps(_receipt(txn), separators=(",", ":")),
            "processedAt": txn["processedAt"],
            "createdAt": txn["processedAt"],
            "amountSet": _money(txn["amount"], txn["currency"]),
        }

    def _refunds(self, order: JsonRecord) -> list[JsonRecord]:
        """One refund per refund transaction, naming the return it paid for."""
        returns = {entry["id"]: entry for entry in order["returns"]}
        refunds = []
        for txn in order["transactions"]:
            if txn["kind"] != "refund":
                continue
            entry = returns.get(txn["returnId"]) if txn["returnId"] else None
            transaction = self._transaction(txn)
            refunds.append(
                {
                    "id": _gid("Refund", _number(txn["id"])),
                    "createdAt": txn["processedAt"],
                    "return": None if entry is None else self._return(order, entry),
                    "transactions": lambda _info, first=None, after=None, t=transaction: (
                        _connection([t], first, after)
                    ),
                }
            )
        return refunds

    def _return(self, order: JsonRecord, entry: JsonRecord) -> JsonRecord:
        number = _number(entry["id"])
        positions = {line["sku"]: i for i, line in enumerate(order["lines"])}
        items = [
            {
                "__typename": "ReturnLineItem",
                "id": _gid("ReturnLineItem", number * 100 + index),
                "quantity": line["quantity"],
                "returnReasonNote": entry["reason"] or "",
                "fulfillmentLineItem": self._fulfillment_line_item(order, positions[line["sku"]]),
            }
            for index, line in enumerate(entry["lines"], start=1)
            if line["sku"] in positions
        ]
        return {
            "__typename": "Return",
            "id": _gid("Return", number),
            "name": entry["id"],
            "status": _RETURN_STATUS[entry["status"]],
            "createdAt": entry["openedAt"],
            "order": lambda _info: self._order(order),
            "returnLineItems": lambda _info, first=None, after=None: _connection(
                items, first, after
            ),
        }

    def _fulfillment_order(self, order: JsonRecord, shipped: int = 0) -> JsonRecord:
        pickup = order["fulfilmentMethod"] == "pickup" and not shipped
        location = order["pickupLocationId"] if pickup else None
        number = self.location_ids.get(location or "", "60001")
        return {
            "id": _gid("FulfillmentOrder", _number(order["id"]) * 100 + shipped),
            "deliveryMethod": {
                "id": _gid("DeliveryMethod", _number(order["id"])),
                "methodType": "PICK_UP" if pickup else "SHIPPING",
            },
            "assignedLocation": {
                "name": location or "Warehouse",
                "location": self._guarded(
                    "read_locations",
                    "location",
                    {
                        "id": _gid("Location", number),
                        "legacyResourceId": number,
                        "name": location or "Warehouse",
                    },
                ),
            },
        }

    def _returnable(self, _info: Any, **args: Any) -> JsonRecord:
        """What can still be returned: every unit of a fulfilled order not already in a
        return (the demo storefront does not know which lines a partial shipment held)."""
        first, after = args.get("first"), args.get("after")
        order = self._order_for(str(args["orderId"]))
        if order is None or order["fulfilmentStatus"] not in _FULFILLED:
            return _connection([], first, after)
        returned: Counter[str] = Counter()
        for entry in order["returns"]:
            for line in entry["lines"]:
                returned[line["sku"]] += line["quantity"]
        items = []
        for position, line in enumerate(order["lines"]):
            left = line["quantity"] - returned[line["sku"]]
            if left > 0:
                items.append(
                    {
                        "quantity": left,
                        "fulfillmentLineItem": self._fulfillment_line_item(order, position),
                    }
                )
        fulfillment = {
            "id": _gid("ReturnableFulfillment", _number(order["id"])),
            "returnableFulfillmentLineItems": lambda _i, first=None, after=None: _connection(
                items, first, after
            ),
        }
        return _connection([fulfillment] if items else [], first, after)

    def _order_for(self, gid: str) -> JsonRecord | None:
        match = _GID.fullmatch(gid)
        if match is None or match.group(1) != "Order":
            return None
        return self.orders.get(int(match.group(2)))

    def _orders(self, _info: Any, **args: Any) -> JsonRecord:
        first, after, query = args.get("first"), args.get("after"), args.get("query")
        sort_key, reverse = args.get("sortKey") or "ID", bool(args.get("reverse"))
        if args.get("last") is not None or args.get("before") is not None:
            raise GraphQLError("omnigraph's fake pages forwards only: give `first`")
        if not isinstance(first, int) or not 1 <= first <= 250:
            raise GraphQLError("The first argument must be between 1 and 250")
        matches = _search(query)
        found = [order for order in self.orders.values() if matches(order)]
        keys: dict[str, Callable[[JsonRecord], Any]] = {
            "ID": lambda o: _number(o["id"]),
            "PROCESSED_AT": lambda o: (_moment(o["placedAt"]), _number(o["id"])),
            "CREATED_AT": lambda o: (_moment(o["placedAt"]), _number(o["id"])),
            "UPDATED_AT": lambda o: (_moment(o["updatedAt"]), _number(o["id"])),
        }
        if sort_key not in keys:
            raise GraphQLError(f"omnigraph's fake does not sort by {sort_key}")
        found.sort(key=keys[sort_key], reverse=reverse)
        return _connection([self._order(order) for order in found], first, after)

    # -- mutations -----------------------------------------------------------------------------

    def _mutations(self) -> JsonRecord:
        return {
            "orderCancel": self._cancel,
            "orderUpdate": self._update,
            "returnCreate": self._create_return,
        }

    def _touch(self, order: JsonRecord) -> str:
        moment = iso(self.now())
        order["updatedAt"] = moment
        return moment

    def _cancel(self, _info: Any, **args: Any) -> JsonRecord:
        order = self._order_for(str(args["orderId"]))
        reason = str(args["reason"])
        if order is None:
            error = {"field": ["orderId"], "message": "Order does not exist", "code": "NOT_FOUND"}
            return {"job": None, "orderCancelUserErrors": [error], "userErrors": [error]}
        if order["cancelledAt"] or order["status"] != "open":
            error = {
                "field": ["orderId"],
                "message": "Cannot cancel an order that has been cancelled or closed",
                "code": "INVALID",
            }
            return {"job": None, "orderCancelUserErrors": [error], "userErrors": [error]}
        moment = self._touch(order)
        # Shopify's cancellation runs as a job; here it is done at once
        order.update(status="cancelled", cancelledAt=moment, cancelReason=reason.lower())
        return {
            "job": {"id": _gid("Job", secrets.randbelow(10**12)), "done": True},
            "orderCancelUserErrors": [],
            "userErrors": [],
        }

    def _update(self, _info: Any, input: JsonRecord) -> JsonRecord:
        order = self._order_for(str(input["id"]))
        if order is None:
            return {
                "order": None,
                "userErrors": [{"field": ["id"], "message": "Order does not exist"}],
            }
        number = _number(order["id"])
        if input.get("note") is not None:
            self.notes[number] = str(input["note"])
        if input.get("tags") is not None:
            self.tags[number] = list(dict.fromkeys(str(t) for t in input["tags"]))
        self._touch(order)
        return {"order": self._order(order), "userErrors": []}

    def _create_return(self, _info: Any, **args: Any) -> JsonRecord:
        wanted: JsonRecord = args["returnInput"]
        order = self._order_for(str(wanted["orderId"]))
        if order is None:
            error = {"field": ["returnInput", "orderId"], "message": "Order does not exist"}
            return {"return": None, "userErrors": [{**error, "code": "NOT_FOUND"}]}
        returnable = {
            item["fulfillmentLineItem"]["id"]: (item["fulfillmentLineItem"], item["quantity"])
            for fulfillment in self._returnable(None, orderId=str(wanted["orderId"]))["nodes"]
            for item in fulfillment["returnableFulfillmentLineItems"](None)["nodes"]
        }
        lines, reasons = [], []
        for item in wanted["returnLineItems"]:
            known = returnable.get(item["fulfillmentLineItemId"])
            if known is None or not 0 < item["quantity"] <= known[1]:
                return {
                    "return": None,
                    "userErrors": [
                        {
                            "field": ["returnInput", "returnLineItems"],
                            "message": "Quantity is not returnable",
                            "code": "INVALID",
                        }
                    ],
                }
            lines.append({"sku": known[0]["lineItem"]["sku"], "quantity": item["quantity"]})
            reasons.append(item.get("returnReasonNote") or "")
        entry = {
            "id": f"RMA-{self.next_return:06d}",
            "status": "open",
            "reason": next((r for r in reasons if r), None),
            "openedAt": iso(self.now()),
            "lines": lines,
        }
        self.next_return += 1
        order["returns"].append(entry)
        self._touch(order)
        return {"return": self._return(order, entry), "userErrors": []}


def _line_number(order: JsonRecord, position: int) -> int:
    return _number(order["id"]) * 1000 + position + 1


def _cancel_reason(reason: str | None) -> str | None:
    if not reason:
        return None
    return reason.upper() if reason.upper() in _CANCEL_REASONS else "OTHER"


def _moment(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def _search(query: str | None) -> Callable[[JsonRecord], bool]:
    """Shopify's order search, for the terms omnigraph writes: ``updated_at``,
    ``processed_at``, ``created_at`` with a comparison, and ``sku``, joined by ``AND``."""
    tests: list[Callable[[JsonRecord], bool]] = []
    text = (query or "").strip()
    position = 0
    while position < len(text):
        term = _TERM.match(text, position)
        if term is None:
            raise GraphQLError(f"omnigraph's fake cannot search for {text[position:]!r}")
        part = term.group(0)
        position = term.end()
        if position < len(text):
            joint = _AND.match(text, position)
            if joint is None:
                raise GraphQLError(f"omnigraph's fake cannot search for {text[position:]!r}")
            position = joint.end()
        name, operator, *values = term.groups()
        value = re.sub(r"\\(.)", r"\1", next(v for v in values if v is not None))
        if name == "sku" and operator is None:
            tests.append(_has_sku(value))
            continue
        field = {"updated_at": "updatedAt", "processed_at": "placedAt", "created_at": "placedAt"}
        if name not in field or operator is None:
            raise GraphQLError(f"omnigraph's fake cannot search for {part!r}")
        tests.append(_compares(field[name], operator, _moment(value)))
    return lambda order: all(test(order) for test in tests)


def _has_sku(sku: str) -> Callable[[JsonRecord], bool]:
    return lambda order: any(line["sku"] == sku for line in order["lines"])


def _compares(field: str, operator: str, bound: float) -> Callable[[JsonRecord], bool]:
    compare: dict[str, Callable[[float, float], bool]] = {
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
    }
    test = compare[operator]
    return lambda order: test(_moment(order[field]), bound)


def _requested_cost(
    document: DocumentNode, operation: OperationDefinitionNode, variables: Mapping[str, Any]
) -> int:
    """Shopify's requested cost: an object 1 point, a scalar 0, a connection or list
    ``2 + first x`` an item, ``nodes(ids:)`` an item per id, a mutation 10 plus its answer."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }

    def argument(field: FieldNode, name: str) -> Any:
        for arg in field.arguments or ():
            if arg.name.value == name:
                if isinstance(arg.value, VariableNode):
                    return variables.get(arg.value.name.value)
                return value_from_ast_untyped(arg.value, dict(variables))
        return None

    def selection_cost(selection_set: SelectionSetNode | None) -> int:
        if selection_set is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += field_cost(selection)
            elif isinstance(selection, InlineFragmentNode):
                total += selection_cost(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                total += selection_cost(fragments[selection.name.value].selection_set)
        return total

    def item_cost(field: FieldNode) -> int:
        assert field.selection_set is not None
        for selection in field.selection_set.selections:
            if isinstance(selection, FieldNode) and selection.name.value in ("nodes", "edges"):
                return 1 + selection_cost(selection.selection_set)
        return 1 + selection_cost(field.selection_set)

    def field_cost(field: FieldNode) -> int:
        if field.selection_set is None:
            return 0
        name = field.name.value
        if name == "nodes" and argument(field, "ids") is not None:
            return len(argument(field, "ids")) * (1 + selection_cost(field.selection_set))
        first = argument(field, "first")
        if isinstance(first, int):
            return 2 + first * item_cost(field)
        if name in ("nodes", "edges"):
            return selection_cost(field.selection_set)
        if name == "pageInfo":
            return 0
        return 1 + selection_cost(field.selection_set)

    cost = selection_cost(operation.selection_set)
    if operation.operation is OperationType.MUTATION:
        cost += MUTATION_COST
    return cost
