"""Payments: authorise on placing, capture on shipping, refund on cancelling."""

from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum

from app.utils import round_money


class PaymentState(Enum):
    AUTHORISED = "authorised"
    CAPTURED = "captured"
    REFUNDED = "refunded"
    VOIDED = "voided"


class PaymentError(Exception):
    pass


@dataclass
class Payment:
    order_id: int
    amount: Decimal
    state: PaymentState = PaymentState.AUTHORISED
    refunded: Decimal = Decimal("0.00")
    history: list = field(default_factory=list)

    def capture(self) -> None:
        if self.state is not PaymentState.AUTHORISED:
            raise PaymentError(f"payment for order {self.order_id} is {self.state.value}, not authorised")
        self.state = PaymentState.CAPTURED
        self.history.append(("capture", self.amount))

    def void(self) -> None:
        if self.state is not PaymentState.AUTHORISED:
            raise PaymentError("only an authorised payment can be voided; refund a captured one")
        self.state = PaymentState.VOIDED
        self.history.append(("void", self.amount))

    def refund(self, amount: Decimal | None = None) -> Decimal:
        """Refunds `amount` (default: what is left); returns the amount refunded."""
        if self.state not in (PaymentState.CAPTURED, PaymentState.REFUNDED):
            raise PaymentError(f"nothing captured to refund for order {self.order_id}")
        left = self.amount - self.refunded
        amount = left if amount is None else round_money(amount)
        if amount <= 0 or amount > left:
            raise PaymentError(f"refund of {amount} outside 0 < amount <= {left}")
        self.refunded += amount
        self.state = PaymentState.REFUNDED
        self.history.append(("refund", amount))
        return amount


class Ledger:
    """Payments by order id."""

    def __init__(self):
        self._payments: dict[int, Payment] = {}

    def authorise(self, order_id: int, amount: Decimal) -> Payment:
        if order_id in self._payments:
            raise PaymentError(f"order {order_id} already has a payment")
        payment = Payment(order_id, round_money(amount))
        self._payments[order_id] = payment
        return payment

    def get(self, order_id: int) -> Payment:
        return self._payments[order_id]

    def balance(self) -> Decimal:
        """Money kept: captured minus refunded."""
        kept = Decimal("0.00")
        for p in self._payments.values():
            if p.state in (PaymentState.CAPTURED, PaymentState.REFUNDED):
                kept += p.amount - p.refunded
        return kept
