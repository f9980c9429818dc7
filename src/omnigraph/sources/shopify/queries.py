"""The Admin GraphQL documents omnigraph sends to Shopify, and what each costs before it runs.

Shopify charges a query its *requested* cost before running it (object 1 point, scalar 0,
connection or list ``2 + first x`` its node's cost) and refuses one above 1,000 points, so a
batch holds as many orders as the cost allows, never more than the 250 ``nodes(ids:)`` takes.
"""

from __future__ import annotations

from functools import cache

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    IntValueNode,
    SelectionSetNode,
    parse,
)

__all__ = [
    "CANCEL_ORDER",
    "CREATE_RETURN",
    "ORDERS_BY_IDS",
    "ORDERS_PAGE",
    "ORDER_LINE_ITEMS",
    "ORDER_NOTE_AND_TAGS",
    "RETURNABLE_FULFILLMENTS",
    "RETURNS_BY_IDS",
    "SHOP",
    "order_cost",
    "order_document",
    "return_cost",
]

_MONEY = "shopMoney { amount currencyCode }"

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
  channelInformation {{ channelDefinition {{ handle }} }}
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
  transactions(first: 10) {{
    id kind status authorizationCode processedAt createdAt
    amountSet {{ {_MONEY} }}
  }}
  refunds(first: 5) {{ return {{ name }} transactions(first: 3) {{ nodes {{ id }} }} }}
  returns(first: 5) {{ nodes {{ id }} }}
  fulfillmentOrders(first: 3) {{
    nodes {{
      deliveryMethod {{ methodType }}
      assignedLocation {{ location {{ legacyResourceId }} }}
    }}
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
  order(id: $orderId) { id note tags cancelledAt returns(first: 5) { nodes { name status } } }
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


def order_document(document: str, line_items: int) -> str:
    """``document`` asking for ``line_items`` line items per order."""
    return document.replace("__LINE_ITEMS__", str(line_items))


@cache
def order_cost(line_items: int) -> int:
    """The requested cost of one order in :data:`ORDER_FRAGMENT`, as Shopify computes it."""
    document = parse(order_document(ORDER_FRAGMENT, line_items))
    fragment = document.definitions[0]
    assert isinstance(fragment, FragmentDefinitionNode)
    return 1 + _selection_cost(fragment.selection_set)


@cache
def return_cost() -> int:
    """The requested cost of one return in :data:`RETURNS_BY_IDS`."""
    document = parse(RETURNS_BY_IDS)
    return _selection_cost(document.definitions[0].selection_set)  # type: ignore[attr-defined]


def _selection_cost(selection_set: SelectionSetNode | None) -> int:
    if selection_set is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            total += _field_cost(selection)
        elif isinstance(selection, InlineFragmentNode | FragmentSpreadNode):
            # an interface or union costs its most expensive possibility; one type here
            total += _selection_cost(getattr(selection, "selection_set", None))
    return total


def _field_cost(field: FieldNode) -> int:
    if field.selection_set is None:
        return 0  # a scalar or an enum
    first = next(
        (
            int(arg.value.value)
            for arg in field.arguments or ()
            if arg.name.value == "first" and isinstance(arg.value, IntValueNode)
        ),
        None,
    )
    if first is None:
        if field.name.value in ("nodes", "edges", "pageInfo"):
            # inside a connection: the items are counted by the connection's ``first``
            return _selection_cost(field.selection_set) if field.name.value != "pageInfo" else 0
        return 1 + _selection_cost(field.selection_set)
    return 2 + first * _node_cost(field)


def _node_cost(connection: FieldNode) -> int:
    """The cost of one item of a connection (``nodes { .. }``) or of a list field."""
    assert connection.selection_set is not None
    items = [
        s
        for s in connection.selection_set.selections
        if isinstance(s, FieldNode) and s.name.value in ("nodes", "edges")
    ]
    if items:
        return 1 + _selection_cost(items[0].selection_set)
    return 1 + _selection_cost(connection.selection_set)
