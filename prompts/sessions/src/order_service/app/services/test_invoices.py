import unittest
from decimal import Decimal

from app.models import Customer, Order, Product
from app.services.invoices import render, vat_breakdown
from app.services.pricing import totals

PEN = Product("PEN-1", "Ballpoint pen", Decimal("1.20"))
BOOK = Product("BOOK-7", "Paperback", Decimal("12.00"), vat_class="reduced")
LAMP = Product("LAMP-2", "Desk lamp", Decimal("39.90"))


def order(*lines, coupon=None):
    o = Order(id=12, customer=Customer(id=7, email="a@example.com"), coupon=coupon)
    for product, quantity in lines:
        o.add(product, quantity)
    return o


class InvoiceTest(unittest.TestCase):
    def test_vat_breakdown_per_rate(self):
        self.assertEqual(vat_breakdown(order((BOOK, 1), (LAMP, 1))), {"reduced": Decimal("0.84"), "standard": Decimal("7.58")})

    def test_plain_invoice(self):
        o = order((BOOK, 1), (LAMP, 1))
        self.assertEqual(
            render(o, totals(o)).splitlines()[3:],
            [
                "  1 x Paperback                12.00",
                "  1 x Desk lamp                39.90",
                "",
                "Subtotal                       51.90",
                "VAT 7 %                         0.84",
                "VAT 19 %                        7.58",
                "Shipping                        0.00",
                "Total                          60.32",
            ],
        )

    def test_invoice_of_ten_pens_shows_the_bulk_discount(self):
        o = order((PEN, 10))
        self.assertIn("Discount 5 %                   -0.60", render(o, totals(o)))

    def test_coupon_discount_line(self):
        o = order((LAMP, 1), coupon="WELCOME10")
        self.assertIn("Discount 10 %                  -3.99", render(o, totals(o)))


if __name__ == "__main__":
    unittest.main()
