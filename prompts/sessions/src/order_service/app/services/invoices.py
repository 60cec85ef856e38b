"""Invoices: the text sent with the order confirmation, and the VAT summary accounting needs."""

from decimal import Decimal

from app.models import Order
from app.services.pricing import VAT_RATES, Totals, discount_rate
from app.utils import percent, round_money


def vat_breakdown(order: Order) -> dict[str, Decimal]:
    """VAT per rate class on the discounted lines, rounded per class (the tax return's figures)."""
    rate = discount_rate(order)
    by_class: dict[str, Decimal] = {}
    for item in order.items:
        net = item.subtotal - percent(item.subtotal, rate)
        vat_class = item.product.vat_class
        by_class[vat_class] = by_class.get(vat_class, Decimal(0)) + percent(net, VAT_RATES[vat_class])
    return {vat_class: round_money(vat) for vat_class, vat in sorted(by_class.items())}


def render(order: Order, totals: Totals) -> str:
    """The invoice as plain text, one amount per line, right-aligned."""
    lines = [f"Invoice for order {order.id}", f"Customer: {order.customer.email}", ""]
    for item in order.items:
        lines.append(f"{item.quantity:>3} x {item.product.name:<20} {round_money(item.subtotal):>9}")
    lines.append("")
    lines.append(f"{'Subtotal':<26} {totals.subtotal:>9}")
    if totals.discount:
        lines.append(f"{f'Discount {discount_rate(order)} %':<26} {-totals.discount:>9}")
    for vat_class, vat in vat_breakdown(order).items():
        lines.append(f"{f'VAT {VAT_RATES[vat_class]} %':<26} {vat:>9}")
    lines.append(f"{'Shipping':<26} {round_money(totals.shipping):>9}")
    lines.append(f"{'Total':<26} {totals.total:>9}")
    return "\n".join(lines)
