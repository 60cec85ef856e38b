import unittest
from decimal import Decimal

from app.models import Customer, Order, Product
from app.services.pricing import FREE_SHIPPING_FROM, SHIPPING_FEE, discount_rate, totals

PEN = Product("PEN-1", "Ballpoint pen", Decimal("1.20"))
BOOK = Product("BOOK-7", "Paperback", Decimal("12.00"), vat_class="reduced")
LAMP = Product("LAMP-2", "Desk lamp", Decimal("39.90"))


def order(*lines, coupon=None, loyalty_years=0):
    o = Order(id=1, customer=Customer(id=7, email="a@example.com", loyalty_years=loyalty_years), coupon=coupon)
    for product, quantity in lines:
        o.add(product, quantity)
    return o


class DiscountRateTest(unittest.TestCase):
    def test_no_discount_below_the_bulk_threshold(self):
        self.assertEqual(discount_rate(order((PEN, 9))), Decimal(0))

    def test_bulk_discount_starts_at_exactly_ten_items(self):
        self.assertEqual(discount_rate(order((PEN, 10))), Decimal(5))

    def test_the_better_of_bulk_and_coupon_applies(self):
        self.assertEqual(discount_rate(order((PEN, 12), coupon="WELCOME10")), Decimal(10))

    def test_loyalty_adds_one_percent_a_year_up_to_five(self):
        self.assertEqual(discount_rate(order((PEN, 1), loyalty_years=3)), Decimal(3))
        self.assertEqual(discount_rate(order((PEN, 1), loyalty_years=9)), Decimal(5))

    def test_unknown_coupons_are_ignored(self):
        self.assertEqual(discount_rate(order((PEN, 1), coupon="FREESTUFF")), Decimal(0))


class TotalsTest(unittest.TestCase):
    def test_empty_order_is_all_zero(self):
        t = totals(order())
        self.assertEqual((t.subtotal, t.total), (Decimal("0.00"), Decimal("0.00")))

    def test_vat_per_line_with_mixed_rates(self):
        t = totals(order((BOOK, 1), (LAMP, 1)))
        # 12.00 at 7 % = 0.84; 39.90 at 19 % = 7.581; rounded once: 8.42
        self.assertEqual(t.vat, Decimal("8.42"))
        self.assertEqual(t.total, Decimal("60.32"))
        self.assertEqual(t.shipping, Decimal(0))

    def test_shipping_is_charged_below_the_free_shipping_amount(self):
        t = totals(order((BOOK, 1)))
        self.assertEqual(t.shipping, SHIPPING_FEE)
        self.assertEqual(t.total, Decimal("17.74"))

    def test_bulk_order_of_ten_pens(self):
        t = totals(order((PEN, 10)))
        # 12.00 - 5 % = 11.40; VAT 19 % = 2.166 -> 13.566 + 4.90 shipping = 18.466 -> 18.47
        self.assertEqual(t.discount, Decimal("0.60"))
        self.assertEqual(t.total, Decimal("18.47"))

    def test_free_shipping_uses_the_discounted_gross(self):
        t = totals(order((LAMP, 1), (BOOK, 1), coupon="SPRING15"))
        # 51.90 - 15 % = 44.115; VAT 6.44385 + 0.714 -> gross 51.27285, above 50.00
        self.assertEqual(t.total, Decimal("51.27"))
        self.assertEqual(t.shipping, Decimal(0))


if __name__ == "__main__":
    unittest.main()
