"""Order totals: line subtotals, discounts, VAT and shipping.

Order of operations (agreed with accounting, see README):
1. subtotal = sum of line subtotals
2. discounts apply to the subtotal: the best of bulk and coupon, plus loyalty
3. VAT is computed per line on the discounted amounts, rounded once at the end
4. shipping is added after VAT and is free from FREE_SHIPPING_FROM (discounted gross)
"""

from dataclasses import dataclass
from decimal import Decimal

from app.models import Order
from app.utils import percent, round_money

VAT_RATES = {"standard": Decimal("19"), "reduced": Decimal("7"), "zero": Decimal("0")}
BULK_THRESHOLD = 10  # items; at or above it, BULK_RATE percent off
BULK_RATE = Decimal("5")
COUPONS = {"WELCOME10": Decimal("10"), "SPRING15": Decimal("15")}
LOYALTY_RATE_PER_YEAR = Decimal("1")
LOYALTY_MAX_RATE = Decimal("5")
SHIPPING_FEE = Decimal("4.90")
FREE_SHIPPING_FROM = Decimal("50.00")


@dataclass(frozen=True)
class Totals:
    subtotal: Decimal
    discount: Decimal
    vat: Decimal
    shipping: Decimal
    total: Decimal


def discount_rate(order: Order) -> Decimal:
    """The discount in percent: the better of bulk and coupon, plus loyalty."""
    bulk = BULK_RATE if order.item_count > BULK_THRESHOLD else Decimal(0)
    coupon = COUPONS.get(order.coupon or "", Decimal(0))
    loyalty = min(LOYALTY_RATE_PER_YEAR * order.customer.loyalty_years, LOYALTY_MAX_RATE)
    return max(bulk, coupon) + loyalty


def totals(order: Order) -> Totals:
    if not order.items:
        zero = Decimal("0.00")
        return Totals(zero, zero, zero, zero, zero)
    subtotal = sum((item.subtotal for item in order.items), Decimal(0))
    rate = discount_rate(order)
    discount = percent(subtotal, rate)
    # VAT per line on the discounted line amount; rounding once keeps the sum exact.
    vat = sum(
        (percent(item.subtotal - percent(item.subtotal, rate), VAT_RATES[item.product.vat_class]) for item in order.items),
        Decimal(0),
    )
    gross = subtotal - discount + vat
    shipping = Decimal(0) if gross >= FREE_SHIPPING_FROM else SHIPPING_FEE
    return Totals(
        subtotal=round_money(subtotal),
        discount=round_money(discount),
        vat=round_money(vat),
        shipping=shipping,
        total=round_money(gross + shipping),
    )
