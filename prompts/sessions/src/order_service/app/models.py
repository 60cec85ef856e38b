"""Domain objects. Money is always a Decimal in the shop's currency, never a float."""

from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from enum import Enum


class OrderStatus(Enum):
    DRAFT = "draft"
    PLACED = "placed"
    PAID = "paid"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    unit_price: Decimal
    # VAT class: "standard", "reduced" or "zero" (see pricing.VAT_RATES).
    vat_class: str = "standard"


@dataclass(frozen=True)
class Customer:
    id: int
    email: str
    country: str = "DE"
    loyalty_years: int = 0


@dataclass
class LineItem:
    product: Product
    quantity: int

    def __post_init__(self):
        if self.quantity <= 0:
            raise ValueError(f"quantity must be positive, got {self.quantity}")

    @property
    def subtotal(self) -> Decimal:
        return self.product.unit_price * self.quantity


@dataclass
class Order:
    id: int
    customer: Customer
    items: list = field(default_factory=list)
    status: OrderStatus = OrderStatus.DRAFT
    coupon: str | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def add(self, product: Product, quantity: int = 1) -> None:
        if self.status is not OrderStatus.DRAFT:
            raise ValueError(f"order {self.id} is {self.status.value}; only drafts can change")
        for item in self.items:
            if item.product.sku == product.sku:
                item.quantity += quantity
                return
        self.items.append(LineItem(product, quantity))

    @property
    def item_count(self) -> int:
        return sum(item.quantity for item in self.items)
