"""The Admin GraphQL documents omnigraph sends to Shopify, and what each costs before it runs.

Shopify charges a query its *requested* cost before running it (object 1 point, scalar 0,
connection or list ``2 + first x`` its node's cost) and refuses one above 1,000 points, so a
batch holds as many orders as the cost allows, never more than the 250 ``nodes(ids:)`` takes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

__all__ = [
    "ALL_REFUNDS",
    "ALL_TRANSACTIONS",
    "CANCEL_ORDER",
    "CREATE_RETURN",
    "ORDERS_BY_IDS",
    "ORDERS_PAGE",
    "ORDER_FULFILLMENT_ORDERS",
    "ORDER_LINE_ITEMS",
    "ORDER_NOTE_AND_TAGS",
    "ORDER_REFUNDS",
    "ORDER_RETURNS",
    "ORDER_TRANSACTIONS",
    "REFUNDS_FIRST",
    "REFUND_TRANSACTIONS",
    "RETURNABLE_FULFILLMENTS",
    "RETURNS_BY_IDS",
    "SHOP",
    "TRANSACTIONS_FIRST",
    "document_cost",
    "order_cost",
    "order_document",
    "return_cost",
    "search_value",
]

_MONEY = "shopMoney { amount currencyCode }"

# How many of an order's transactions, refunds, returns and fulfillment orders a batch reads
# with it; an order with more has the rest read after it (``transactions`` and ``refunds`` are
# plain lists: read again whole; the others are connections: paged).
TRANSACTIONS_FIRST = 10
REFUNDS_FIRST = 5
REFUND_TRANSACTIONS_FIRST = 3
RETURNS_FIRST = 5
FULFILLMENT_ORDERS_FIRST = 3
ALL_TRANSACTIONS = 250  # an order's transactions read whole: at most this many
ALL_REFUNDS = 60  # an order's refunds read whole, each with up to 10 of its transactions

_TRANSACTION = (
    f"id kind status paymentId receiptJson processedAt createdAt amountSet {{ {_MONEY} }}"
)
_REFUND_TRANSACTIONS = "nodes { id } pageInfo { hasNextPage endCursor }"
_REFUND = (
    f"id return {{ name }} transactions(first: {REFUND_TRANSACTIONS_FIRST}) "
    f"{{ {_REFUND_TRANSACTIONS} }}"
)
_FULFILLMENT_ORDER = (
    "deliveryMethod { methodType } assignedLocation { location { legacyResourceId } }"
)

ORDER_FRAGMENT = f"""
fragment OmnigraphOrder on Order {{
  id
  legacyResourceId
  name
  createdAt
  processedAt
  updatedAt
  closedAt
  cancelledAt
  cancelReason
  sourceName
  __CHANNEL__
  currencyCode
  displayFinancialStatus
  displayFulfillmentStatus
  email
  customer {{ legacyResourceId displayName }}
  subtotalPriceSet {{ {_MONEY} }}
  totalDiscountsSet {{ {_MONEY} }}
  totalShippingPriceSet {{ {_MONEY} }}
  totalTaxSet {{ {_MONEY} }}
  totalPriceSet {{ {_MONEY} }}
  lineItems(first: __LINE_ITEMS__) {{
    nodes {{ id sku name quantity originalUnitPriceSet {{ {_MONEY} }} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
  transactions(first: {TRANSACTIONS_FIRST}) {{ {_TRANSACTION} }}
  refunds(first: {REFUNDS_FIRST}) {{ {_REFUND} }}
  returns(first: {RETURNS_FIRST}) {{ nodes {{ id }} pageInfo {{ hasNextPage endCursor }} }}
  fulfillmentOrders(first: {FULFILLMENT_ORDERS_FIRST}) {{
    nodes {{ {_FULFILLMENT_ORDER} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}
"""

ORDERS_BY_IDS = (
    """
query OmnigraphOrdersByIds($ids: [ID!]!) {
  nodes(ids: $ids) { __typename ...OmnigraphOrder }
}
"""
    + ORDER_FRAGMENT
)

ORDERS_PAGE = (
    """
query OmnigraphOrdersPage($first: Int!, $after: String, $query: String, $sortKey: OrderSortKeys,
                          $reverse: Boolean) {
  orders(first: $first, after: $after, query: $query, sortKey: $sortKey, reverse: $reverse) {
    nodes { ...OmnigraphOrder }
    pageInfo { hasNextPage endCursor }
  }
}
"""
    + ORDER_FRAGMENT
)

# An order's returns are read apart, and only for orders that have any: their lines are the
# costliest part of an order, and most orders have none.
RETURNS_BY_IDS = """
query OmnigraphReturnsByIds($ids: [ID!]!) {
  nodes(ids: $ids) {
    ... on Return {
      id name status createdAt
      returnLineItems(first: 20) {
        nodes {
          quantity returnReasonNote
          ... on ReturnLineItem { fulfillmentLineItem { lineItem { id sku } } }
        }
      }
    }
  }
}
"""

# The rest of an order's line items, when it has more than a batch asks for.
ORDER_LINE_ITEMS = f"""
query OmnigraphOrderLineItems($id: ID!, $after: String) {{
  node(id: $id) {{
    ... on Order {{
      lineItems(first: 250, after: $after) {{
        nodes {{ id sku name quantity originalUnitPriceSet {{ {_MONEY} }} }}
        pageInfo {{ hasNextPage endCursor }}
      }}
    }}
  }}
}}
"""

# An order's transactions or refunds read whole, when a batch read as many as it asks for.
ORDER_TRANSACTIONS = f"""
query OmnigraphOrderTransactions($id: ID!) {{
  node(id: $id) {{
    ... on Order {{ transactions(first: {ALL_TRANSACTIONS}) {{ {_TRANSACTION} }} }}
  }}
}}
"""

ORDER_REFUNDS = f"""
query OmnigraphOrderRefunds($id: ID!) {{
  node(id: $id) {{
    ... on Order {{
      refunds(first: {ALL_REFUNDS}) {{
        id return {{ name }} transactions(first: 10) {{ {_REFUND_TRANSACTIONS} }}
      }}
    }}
  }}
}}
"""

# The rest of a refund's transactions, an order's returns or its fulfillment orders.
REFUND_TRANSACTIONS = f"""
query OmnigraphRefundTransactions($id: ID!, $after: String) {{
  node(id: $id) {{
    ... on Refund {{ transactions(first: 250, after: $after) {{ {_REFUND_TRANSACTIONS} }} }}
  }}
}}
"""

ORDER_RETURNS = """
query OmnigraphOrderReturns($id: ID!, $after: String) {
  node(id: $id) {
    ... on Order {
      returns(first: 250, after: $after) { nodes { id } pageInfo { hasNextPage endCursor } }
    }
  }
}
"""

ORDER_FULFILLMENT_ORDERS = f"""
query OmnigraphOrderFulfillmentOrders($id: ID!, $after: String) {{
  node(id: $id) {{
    ... on Order {{
      fulfillmentOrders(first: 50, after: $after) {{
        nodes {{ {_FULFILLMENT_ORDER} }}
        pageInfo {{ hasNextPage endCursor }}
      }}
    }}
  }}
}}
"""

SHOP = "query OmnigraphShop { shop { name } }"

CANCEL_ORDER = """
mutation OmnigraphOrderCancel($orderId: ID!, $reason: OrderCancelReason!, $staffNote: String) {
  orderCancel(orderId: $orderId, reason: $reason, restock: true, notifyCustomer: false,
              refundMethod: {originalPaymentMethodsRefund: false}, staffNote: $staffNote) {
    job { id }
    orderCancelUserErrors { field message code }
  }
}
"""

ORDER_NOTE_AND_TAGS = """
mutation OmnigraphOrderUpdate($input: OrderInput!) {
  orderUpdate(input: $input) {
    order { id }
    userErrors { field message }
  }
}
"""

RETURNABLE_FULFILLMENTS = """
query OmnigraphReturnable($orderId: ID!) {
  order(id: $orderId) {
    id note tags cancelledAt returns(first: 50) { nodes { name status } }
  }
  returnableFulfillments(orderId: $orderId, first: 5) {
    nodes {
      returnableFulfillmentLineItems(first: 50) {
        nodes { quantity fulfillmentLineItem { id } }
      }
    }
  }
}
"""

CREATE_RETURN = """
mutation OmnigraphReturnCreate($input: ReturnInput!) {
  returnCreate(returnInput: $input) {
    return { id name status }
    userErrors { field message code }
  }
}
"""


def search_value(value: str) -> str:
    """``value`` as one quoted value of Shopify's search syntax: in double quotes, a backslash
    or a double quote in it escaped with a backslash, so nothing in it is read as syntax (a
    quote, ``OR``, another ``field:`` term)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# An order's channel: ``attribution`` from 2026-07; before, ``channelInformation`` (deprecated
# since 2025-10 with nothing to replace it until then).
ATTRIBUTION_SINCE = "2026-07"
_ATTRIBUTION = "attribution { handle }"
_CHANNEL_INFORMATION = "channelInformation { channelDefinition { handle } }"


def order_document(document: str, line_items: int, api_version: str = "2026-10") -> str:
    """``document`` asking for ``line_items`` line items per order, in ``api_version``."""
    channel = _ATTRIBUTION if api_version >= ATTRIBUTION_SINCE else _CHANNEL_INFORMATION
    return document.replace("__LINE_ITEMS__", str(line_items)).replace("__CHANNEL__", channel)


@cache
def order_cost(line_items: int) -> int:
    """The requested cost of one order in :data:`ORDER_FRAGMENT`, as Shopify computes it."""
    return 1 + _selection_cost(_selection_set(order_document(ORDER_FRAGMENT, line_items)))


def document_cost(document: str) -> int:
    """The requested cost of a query of ours for one object (``node(id:)``, ``order(id:)``)."""
    return _selection_cost(_selection_set(document))


@cache
def return_cost() -> int:
    """The requested cost of one return in :data:`RETURNS_BY_IDS`: the object, and what is
    asked of it (``nodes(ids:)`` costs each id's object, as ``order_cost`` counts an order)."""
    return 1 + _selection_cost(_selection_set(RETURNS_BY_IDS))


# -- reading a document's selections (ours, as written above: fields, arguments, fragments) --

_OPENING = frozenset("([{")
_CLOSING = frozenset(")]}")
_TOKEN = re.compile(r'\.\.\.|"(?:\\.|[^"\\])*"|[$]?[_A-Za-z][_0-9A-Za-z]*|-?\d+(?:\.\d+)?|[^\s,]')


@dataclass
class _Selection:
    """A field (``name``, its ``first`` argument, its own selections: None for a scalar), or
    an inline fragment or fragment spread (``name`` empty)."""

    name: str
    first: int | None = None
    selections: list[_Selection] | None = None


def _selection_set(document: str) -> list[_Selection]:
    """The selections of the document's first definition (an operation or a fragment)."""
    tokens: list[str] = _TOKEN.findall(re.sub(r"#[^\n]*", "", document))
    depth = 0
    for position, token in enumerate(tokens):
        depth += (token == "(") - (token == ")")
        if token == "{" and depth == 0:
            selections, _ = _read_selections(tokens, position)
            return selections
    raise ValueError("a document without a selection set")


def _read_selections(tokens: list[str], position: int) -> tuple[list[_Selection], int]:
    """The selections of the set opening at ``tokens[position]`` ("{"), and where it ends."""
    selections: list[_Selection] = []
    position += 1
    while tokens[position] != "}":
        if tokens[position] == "...":
            position += 1
            if tokens[position] == "on":  # an inline fragment: ... on Type { .. }
                inner, position = _read_selections(tokens, position + 2)
                selections.append(_Selection("", selections=inner))
            else:  # a fragment spread: its cost is not counted here
                selections.append(_Selection(""))
                position += 1
            continue
        name = tokens[position]
        position += 1
        if tokens[position] == ":":  # an alias: the field's name follows
            name = tokens[position + 1]
            position += 2
        selection = _Selection(name)
        if tokens[position] == "(":
            depth = 0
            while True:
                token = tokens[position]
                depth += (token in _OPENING) - (token in _CLOSING)
                if depth == 1 and token == "first" and tokens[position + 1] == ":":
                    value = tokens[position + 2]
                    selection.first = int(value) if value.lstrip("-").isdigit() else None
                position += 1
                if depth == 0:
                    break
        if tokens[position] == "{":
            selection.selections, position = _read_selections(tokens, position)
        selections.append(selection)
    return selections, position + 1


def _selection_cost(selections: list[_Selection] | None) -> int:
    total = 0
    for selection in selections or ():
        if selection.name:
            total += _field_cost(selection)
        else:
            # an interface or union costs its most expensive possibility; one type here
            total += _selection_cost(selection.selections)
    return total


def _field_cost(field: _Selection) -> int:
    if field.selections is None:
        return 0  # a scalar or an enum
    if field.first is None:
        if field.name in ("nodes", "edges", "pageInfo"):
            # inside a connection: the items are counted by the connection's ``first``
            return _selection_cost(field.selections) if field.name != "pageInfo" else 0
        return 1 + _selection_cost(field.selections)
    return 2 + field.first * _node_cost(field)


def _node_cost(connection: _Selection) -> int:
    """The cost of one item of a connection (``nodes { .. }``) or of a list field."""
    items = [s for s in connection.selections or () if s.name in ("nodes", "edges")]
    if items:
        return 1 + _selection_cost(items[0].selections)
    return 1 + _selection_cost(connection.selections)
