"""order-service: orders, pricing and payments for a small web shop."""
