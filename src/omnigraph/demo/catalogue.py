"""Reference data of the demo retailer: its catalogue, customers, trade accounts and sites.

Kept apart from the order simulation so the lifecycle code reads as a story about orders, and so
the numbers a demo shows (prices, names, cut-offs) live in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import random

__all__ = [
    "CURRENCY",
    "LOCATIONS",
    "Catalogue",
    "Customer",
    "Item",
    "TradeAccount",
    "build_catalogue",
]

CURRENCY = "GBP"
SKU_COUNT = 200
CUSTOMER_COUNT = 150

# One warehouse ships parcels; the two stores serve click-and-collect orders.
LOCATIONS: tuple[dict[str, Any], ...] = (
    {
        "id": "dc-north",
        "name": "Northern Distribution Centre, Doncaster",
        "type": "warehouse",
        "cutoff": "15:00",
        "timezone": "Europe/London",
    },
    {
        "id": "store-london",
        "name": "London Covent Garden store",
        "type": "store",
        "cutoff": "17:00",
        "timezone": "Europe/London",
    },
    {
        "id": "store-manchester",
        "name": "Manchester King Street store",
        "type": "store",
        "cutoff": "17:00",
        "timezone": "Europe/London",
    },
)

# category -> (materials, products, lowest and highest whole-pound price)
_RANGES: dict[str, tuple[tuple[str, ...], tuple[str, ...], int, int]] = {
    "Knitwear": (
        ("Merino", "Lambswool", "Cotton", "Cashmere Blend"),
        ("Crew Neck Jumper", "Cardigan", "Roll Neck Jumper"),
        45,
        120,
    ),
    "T-Shirts & Tops": (
        ("Organic Cotton", "Slub Cotton", "Linen Blend"),
        ("Crew T-Shirt", "Breton Top", "Polo Shirt"),
        15,
        35,
    ),
    "Shirts": (
        ("Oxford", "Linen", "Brushed Flannel"),
        ("Button-Down Shirt", "Overshirt", "Camp Collar Shirt"),
        35,
        70,
    ),
    "Trousers": (
        ("Stretch Cotton", "Selvedge Denim", "Needlecord"),
        ("Chinos", "Straight Jeans", "Wide-Leg Trousers"),
        40,
        85,
    ),
    "Dresses": (
        ("Printed Viscose", "Linen", "Jersey"),
        ("Midi Dress", "Shirt Dress", "Wrap Dress"),
        55,
        110,
    ),
    "Outerwear": (
        ("Quilted", "Wool", "Waxed Cotton", "Recycled Nylon"),
        ("Jacket", "Overcoat", "Gilet", "Rain Mac"),
        90,
        220,
    ),
    "Accessories": (
        ("Wool", "Leather", "Canvas"),
        ("Scarf", "Beanie", "Belt", "Tote Bag"),
        12,
        45,
    ),
    "Bedding": (
        ("Washed Linen", "Percale Cotton", "Brushed Cotton"),
        ("Double Duvet Cover", "King Duvet Cover", "Pillowcase Pair", "Fitted Sheet"),
        30,
        95,
    ),
    "Bath": (
        ("Turkish Cotton", "Waffle Cotton"),
        ("Bath Towel", "Hand Towel", "Bath Mat", "Bath Sheet"),
        8,
        35,
    ),
    "Cushions & Throws": (
        ("Wool", "Velvet", "Chunky Knit", "Boucle"),
        ("Cushion Cover", "Throw", "Round Cushion"),
        18,
        85,
    ),
    "Kitchen & Dining": (
        ("Stoneware", "Enamel", "Linen", "Recycled Glass"),
        ("Mug", "Dinner Plate Set", "Napkin Set", "Serving Bowl", "Tumbler Set"),
        10,
        60,
    ),
    "Lighting": (
        ("Ceramic", "Brass", "Rattan", "Linen"),
        ("Table Lamp", "Pendant Shade", "Candle Holder"),
        25,
        140,
    ),
}

_COLOURS = (
    "Navy",
    "Oatmeal",
    "Charcoal",
    "Sage",
    "Rust",
    "Ecru",
    "Forest Green",
    "Slate Blue",
    "Black",
    "Ivory",
    "Ochre",
    "Heather Grey",
)

_FIRST_NAMES = (
    "Ada", "Alan", "Amara", "Ben", "Chloe", "Dev", "Eleanor", "Finn", "Grace", "Harriet",
    "Idris", "Isla", "Jack", "Jasmine", "Kwame", "Leah", "Lewis", "Maya", "Mohammed", "Niamh",
    "Oliver", "Priya", "Rhys", "Rosa", "Sam", "Sophie", "Tariq", "Una", "Will", "Zara",
)  # fmt: skip
_LAST_NAMES = (
    "Ahmed", "Byron", "Campbell", "Clarke", "Davies", "Edwards", "Evans", "Fletcher", "Green",
    "Hughes", "Jones", "Kaur", "Khan", "Lewis", "Murphy", "Nowak", "O'Brien", "Patel", "Roberts",
    "Robinson", "Shah", "Singh", "Taylor", "Thomas", "Walker", "Watson", "Williams", "Wright",
)  # fmt: skip

_TRADE_ACCOUNTS = (
    ("ACC-0101", "Harbour & Home Ltd"),
    ("ACC-0102", "The Linen Loft"),
    ("ACC-0103", "Northgate Interiors"),
    ("ACC-0104", "Fenwick Lane Boutique"),
    ("ACC-0105", "Bramble Gifts"),
    ("ACC-0106", "Oak & Ivy Stores"),
)

# Retail orders land on one ERP customer account per channel, as most retail ERPs do.
RETAIL_ACCOUNTS = {"web": "ACC-0001", "marketplace": "ACC-0002", "store-pickup": "ACC-0003"}


@dataclass(frozen=True)
class Item:
    """One sellable SKU with its list price (VAT inclusive)."""

    sku: str
    name: str
    category: str
    list_price: Decimal

    def as_record(self) -> dict[str, Any]:
        """The ERP item record, shaped as the contract says."""
        return {
            "sku": self.sku,
            "name": self.name,
            "category": self.category,
            "listPrice": f"{self.list_price:.2f}",
            "currency": CURRENCY,
        }


@dataclass(frozen=True)
class Customer:
    """A storefront shopper."""

    id: str
    name: str
    email: str

    def as_record(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "email": self.email}


@dataclass(frozen=True)
class TradeAccount:
    """A wholesale buyer: an ERP account on NET30 terms with one named buyer."""

    account_id: str
    company: str
    buyer: Customer


@dataclass(frozen=True)
class Catalogue:
    """Everything an order draws on: SKUs, shoppers and trade accounts."""

    items: tuple[Item, ...]
    customers: tuple[Customer, ...]
    trade_accounts: tuple[TradeAccount, ...]


def build_catalogue(rng: random.Random) -> Catalogue:
    """Draw the catalogue, customers and trade accounts from `rng` (deterministic per seed)."""
    return Catalogue(
        items=_build_items(rng),
        customers=_build_customers(rng),
        trade_accounts=_build_trade_accounts(rng),
    )


def _build_items(rng: random.Random) -> tuple[Item, ...]:
    styles = [
        (category, material, product, colour)
        for category, (materials, products, _, _) in _RANGES.items()
        for material in materials
        for product in products
        for colour in _COLOURS
    ]
    chosen = rng.sample(styles, SKU_COUNT)
    # Number SKUs category by category, as a merchandiser would have set them up.
    chosen.sort(key=lambda style: (list(_RANGES).index(style[0]), style[1], style[2], style[3]))
    items = []
    style_prices: dict[tuple[str, str], Decimal] = {}  # one price per style, whatever the colour
    for number, (category, material, product, colour) in enumerate(chosen, start=1):
        price = style_prices.get((material, product))
        if price is None:
            low, high = _RANGES[category][2], _RANGES[category][3]
            pence = rng.choice(("00", "50", "95"))
            price = style_prices[material, product] = Decimal(f"{rng.randint(low, high)}.{pence}")
        items.append(
            Item(
                sku=f"SKU-{number:04d}",
                name=f"{material} {product} - {colour}",
                category=category,
                list_price=price,
            )
        )
    return tuple(items)


def _person(rng: random.Random, number: int, prefix: str = "CUS") -> Customer:
    first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
    local = f"{first}.{last}".lower().replace("'", "")
    return Customer(
        id=f"{prefix}-{number:04d}",
        name=f"{first} {last}",
        email=f"{local}{number}@example.com",
    )


def _build_customers(rng: random.Random) -> tuple[Customer, ...]:
    return tuple(_person(rng, number) for number in range(1, CUSTOMER_COUNT + 1))


def _build_trade_accounts(rng: random.Random) -> tuple[TradeAccount, ...]:
    accounts = []
    for offset, (account_id, company) in enumerate(_TRADE_ACCOUNTS, start=1):
        buyer = _person(rng, CUSTOMER_COUNT + offset)
        domain = company.lower().replace("&", "and").replace(" ", "").replace("ltd", "")
        buyer = Customer(
            id=buyer.id,
            name=f"{buyer.name} ({company})",
            email=f"buying@{domain}.example.com",
        )
        accounts.append(TradeAccount(account_id=account_id, company=company, buyer=buyer))
    return tuple(accounts)
