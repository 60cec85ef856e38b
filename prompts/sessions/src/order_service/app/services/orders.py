"""Order lifecycle: draft -> placed -> paid -> shipped, or cancelled before shipping."""

from app.models import Order, OrderStatus
from app.services.pricing import Totals, totals


class OrderError(Exception):
    pass


class OrderBook:
    """An in-memory store of orders; the web layer wraps it in a database session."""

    def __init__(self):
        self._orders: dict[int, Order] = {}
        self._next_id = 1

    def create(self, customer) -> Order:
        order = Order(id=self._next_id, customer=customer)
        self._orders[order.id] = order
        self._next_id += 1
        return order

    def get(self, order_id: int) -> Order:
        try:
            return self._orders[order_id]
        except KeyError:
            raise OrderError(f"no order {order_id}") from None

    def place(self, order_id: int) -> Totals:
        order = self.get(order_id)
        if order.status is not OrderStatus.DRAFT:
            raise OrderError(f"order {order_id} is already {order.status.value}")
        if not order.items:
            raise OrderError(f"order {order_id} is empty")
        order.status = OrderStatus.PLACED
        return totals(order)

    def mark_paid(self, order_id: int) -> None:
        order = self.get(order_id)
        if order.status is not OrderStatus.PLACED:
            raise OrderError(f"order {order_id} cannot be paid while {order.status.value}")
        order.status = OrderStatus.PAID

    def ship(self, order_id: int) -> None:
        order = self.get(order_id)
        if order.status is not OrderStatus.PAID:
            raise OrderError(f"order {order_id} cannot ship while {order.status.value}")
        order.status = OrderStatus.SHIPPED

    def cancel(self, order_id: int) -> None:
        order = self.get(order_id)
        if order.status is OrderStatus.SHIPPED:
            raise OrderError(f"order {order_id} has shipped; open a return instead")
        order.status = OrderStatus.CANCELLED

    def by_customer(self, customer_id: int) -> list[Order]:
        return [o for o in self._orders.values() if o.customer.id == customer_id]
