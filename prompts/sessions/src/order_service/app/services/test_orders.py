import unittest
from decimal import Decimal

from app.models import Customer, OrderStatus, Product
from app.services.orders import OrderBook, OrderError
from app.services.payments import Ledger, PaymentError, PaymentState

MUG = Product("MUG-3", "Coffee mug", Decimal("8.50"))
ALICE = Customer(id=1, email="alice@example.com")


class OrderLifecycleTest(unittest.TestCase):
    def setUp(self):
        self.book = OrderBook()
        self.order = self.book.create(ALICE)
        self.order.add(MUG, 2)

    def test_place_pay_ship(self):
        t = self.book.place(self.order.id)
        self.assertEqual(t.total, Decimal("25.13"))
        self.book.mark_paid(self.order.id)
        self.book.ship(self.order.id)
        self.assertIs(self.order.status, OrderStatus.SHIPPED)

    def test_placed_orders_cannot_change(self):
        self.book.place(self.order.id)
        with self.assertRaises(ValueError):
            self.order.add(MUG)

    def test_cannot_ship_unpaid(self):
        self.book.place(self.order.id)
        with self.assertRaisesRegex(OrderError, "cannot ship while placed"):
            self.book.ship(self.order.id)

    def test_shipped_orders_cannot_be_cancelled(self):
        self.book.place(self.order.id)
        self.book.mark_paid(self.order.id)
        self.book.ship(self.order.id)
        with self.assertRaisesRegex(OrderError, "open a return"):
            self.book.cancel(self.order.id)

    def test_adding_the_same_product_twice_merges_lines(self):
        self.order.add(MUG, 1)
        self.assertEqual(len(self.order.items), 1)
        self.assertEqual(self.order.item_count, 3)


class PaymentTest(unittest.TestCase):
    def test_partial_then_full_refund(self):
        ledger = Ledger()
        p = ledger.authorise(4, Decimal("30.00"))
        p.capture()
        self.assertEqual(p.refund(Decimal("10")), Decimal("10.00"))
        self.assertEqual(p.refund(), Decimal("20.00"))
        self.assertIs(p.state, PaymentState.REFUNDED)
        self.assertEqual(ledger.balance(), Decimal("0.00"))

    def test_refund_more_than_left_is_refused(self):
        p = Ledger().authorise(5, Decimal("9.99"))
        p.capture()
        with self.assertRaises(PaymentError):
            p.refund(Decimal("10.00"))


if __name__ == "__main__":
    unittest.main()
