"""Exact money: integer micro-yuan (µ¥) inside, decimal yuan strings at the edges."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

MICROS_PER_YUAN = 1_000_000
MICRO = Decimal("0.000001")
MAX_AMOUNT_YUAN = 10**9  # the most one amount may be (¥1 billion): far past any top-up, far inside 64-bit micros
MAX_BALANCE_MICROS = 10**12 * MICROS_PER_YUAN  # ¥1 trillion: a balance stays an exact 64-bit integer below this
# Plain decimal yuan: digits, an optional point and fraction, an optional sign. No exponent ("1e3" is refused, not
# read as ¥1000), no spaces, no thousands separators.
_PLAIN_YUAN = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


def yuan_to_micros(text: str | Decimal) -> int:
    """Read an amount of yuan ("12.5", "0.025"); refuse anything finer than a micro-yuan, not a plain decimal
    number, or beyond ¥1 billion either way."""
    if isinstance(text, str) and not _PLAIN_YUAN.fullmatch(text):
        raise ValueError(f"{text!r} is not an amount of yuan; write it as plain digits, like 10 or 12.50")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not an amount of yuan; write it like 10 or 12.50") from None
    if not amount.is_finite():
        raise ValueError(f"{text!r} is not an amount of yuan; write it like 10 or 12.50")
    if abs(amount) > MAX_AMOUNT_YUAN:
        raise ValueError(f"{text!r} is more than the ¥{MAX_AMOUNT_YUAN:,} one amount may be")
    micros = amount * MICROS_PER_YUAN
    if micros != micros.to_integral_value():
        raise ValueError(f"{text!r} has more than 6 decimal places; the smallest amount is 0.000001 yuan")
    return int(micros)


def format_yuan(micros: int) -> str:
    """Write micro-yuan as yuan with at least two decimals and no trailing zeros past them: 12.50, 0.0125."""
    text = format((Decimal(micros) / MICROS_PER_YUAN).quantize(MICRO), "f")
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction.rstrip('0').ljust(2, '0')}"


def cost_micros(units: Decimal, rate_micros: int) -> int:
    """Price `units` credits at `rate_micros` per credit, rounded half up to the micro-yuan."""
    return int((units * rate_micros).quantize(Decimal(1), rounding=ROUND_HALF_UP))
