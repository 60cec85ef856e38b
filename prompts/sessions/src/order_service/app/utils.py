"""Small helpers shared by the services."""

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def round_money(amount: Decimal) -> Decimal:
    """Rounds to whole cents, halves away from zero (commercial rounding)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def parse_money(text: str) -> Decimal:
    """'12,50' or '12.50' -> Decimal('12.50'); raises ValueError on anything else."""
    cleaned = text.strip().replace(",", ".")
    try:
        value = Decimal(cleaned)
    except ArithmeticError as exc:
        raise ValueError(f"not an amount: {text!r}") from exc
    if value.as_tuple().exponent < -2:
        raise ValueError(f"more than two decimals: {text!r}")
    return value


def percent(value: Decimal, rate: Decimal) -> Decimal:
    """`rate` percent of `value`, unrounded."""
    return value * rate / Decimal(100)
