"""Stock: reserve when an order is placed, release when it is cancelled, ship from reserved stock.

A product is low on stock when what is available (on hand minus reserved) is at or below its
reorder level; the nightly job sends purchasing the `low_stock()` list.
"""

from dataclasses import dataclass

from app.models import Order


class StockError(Exception):
    pass


@dataclass
class StockLevel:
    sku: str
    on_hand: int = 0
    reserved: int = 0
    reorder_level: int = 5

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class Inventory:
    """Stock levels by SKU."""

    def __init__(self):
        self._levels: dict[str, StockLevel] = {}

    def receive(self, sku: str, quantity: int, reorder_level: int | None = None) -> StockLevel:
        if quantity <= 0:
            raise StockError(f"received quantity must be positive, got {quantity}")
        level = self._levels.setdefault(sku, StockLevel(sku))
        level.on_hand += quantity
        if reorder_level is not None:
            level.reorder_level = reorder_level
        return level

    def level(self, sku: str) -> StockLevel:
        try:
            return self._levels[sku]
        except KeyError:
            raise StockError(f"unknown product {sku}") from None

    def reserve(self, order: Order) -> None:
        """Reserves every line of the order, or nothing when one line is short."""
        for item in order.items:
            level = self.level(item.product.sku)
            if level.available < item.quantity:
                raise StockError(f"{item.product.sku}: {item.quantity} ordered, {level.available} available")
        for item in order.items:
            self._levels[item.product.sku].reserved += item.quantity

    def release(self, order: Order) -> None:
        for item in order.items:
            level = self.level(item.product.sku)
            level.reserved -= min(item.quantity, level.reserved)

    def ship(self, order: Order) -> None:
        for item in order.items:
            level = self.level(item.product.sku)
            if level.reserved < item.quantity:
                raise StockError(f"{item.product.sku}: shipping {item.quantity}, only {level.reserved} reserved")
        for item in order.items:
            level = self._levels[item.product.sku]
            level.reserved -= item.quantity
            level.on_hand -= item.quantity

    def low_stock(self) -> list[str]:
        return sorted(sku for sku, level in self._levels.items() if level.available <= level.reorder_level)
