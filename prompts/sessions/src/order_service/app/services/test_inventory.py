import unittest
from decimal import Decimal

from app.models import Customer, Order, Product
from app.services.inventory import Inventory, StockError

PEN = Product("PEN-1", "Ballpoint pen", Decimal("1.20"))
MUG = Product("MUG-3", "Coffee mug", Decimal("8.50"))


def order(*lines):
    o = Order(id=3, customer=Customer(id=9, email="b@example.com"))
    for product, quantity in lines:
        o.add(product, quantity)
    return o


class InventoryTest(unittest.TestCase):
    def setUp(self):
        self.stock = Inventory()
        self.stock.receive("PEN-1", 20, reorder_level=5)
        self.stock.receive("MUG-3", 3, reorder_level=2)

    def test_reserving_reduces_what_is_available(self):
        self.stock.reserve(order((PEN, 10), (MUG, 1)))
        self.assertEqual(self.stock.level("PEN-1").available, 10)
        self.assertEqual(self.stock.level("MUG-3").available, 2)

    def test_a_short_line_reserves_nothing(self):
        with self.assertRaisesRegex(StockError, "MUG-3: 4 ordered, 3 available"):
            self.stock.reserve(order((PEN, 2), (MUG, 4)))
        self.assertEqual(self.stock.level("PEN-1").reserved, 0)

    def test_release_returns_the_reservation(self):
        o = order((PEN, 5))
        self.stock.reserve(o)
        self.stock.release(o)
        self.assertEqual(self.stock.level("PEN-1").available, 20)

    def test_shipping_takes_stock_on_hand(self):
        o = order((PEN, 5))
        self.stock.reserve(o)
        self.stock.ship(o)
        level = self.stock.level("PEN-1")
        self.assertEqual((level.on_hand, level.reserved), (15, 0))

    def test_cannot_ship_what_was_not_reserved(self):
        with self.assertRaisesRegex(StockError, "only 0 reserved"):
            self.stock.ship(order((MUG, 1)))

    def test_low_stock_at_or_below_the_reorder_level(self):
        self.assertEqual(self.stock.low_stock(), [])
        self.stock.reserve(order((MUG, 1)))
        self.assertEqual(self.stock.low_stock(), ["MUG-3"])

    def test_unknown_products_are_an_error(self):
        with self.assertRaisesRegex(StockError, "unknown product LAMP-2"):
            self.stock.level("LAMP-2")


if __name__ == "__main__":
    unittest.main()
