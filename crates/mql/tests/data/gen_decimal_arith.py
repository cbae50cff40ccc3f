"""Generates decimal_arith.jsonl: decimal128 sums, differences, products and quotients as
Python's `decimal` module computes them in the IEEE 754 decimal128 context (34 digits, half to
even, exponents -6176..6111, clamped), an implementation independent of Rampart's.
Run: python3 gen_decimal_arith.py > decimal_arith.jsonl (seeded, so the output is stable)."""
import json
import random
from decimal import Context, Decimal, ROUND_HALF_EVEN, DivisionByZero, InvalidOperation, Overflow, Underflow, Inexact, Rounded, Subnormal, Clamped

CONTEXT = Context(prec=34, rounding=ROUND_HALF_EVEN, Emin=-6143, Emax=6144, clamp=1, traps=[])
rng = random.Random(20261122)


def operand():
    kind = rng.random()
    if kind < 0.05:
        return rng.choice(["0", "-0", "0E+5", "0.000"])
    digits = rng.choice([1, 2, 3, 5, 10, 17, 20, 33, 34])
    coefficient = rng.randrange(1, 10 ** digits)
    if kind < 0.85:
        exponent = rng.randint(-40, 20)
    else:
        exponent = rng.choice([rng.randint(-6176, -6100), rng.randint(6000, 6111)])
    sign = "-" if rng.random() < 0.3 else ""
    return f"{sign}{coefficient}E{exponent}"


def canonical(text):
    return str(CONTEXT.create_decimal(text))


def add(a, b):
    # Rampart's `$add` sums from an integer zero, whose exponent 0 takes part in the preferred
    # exponent of the sum: `8E+19 + 8E+13` is 80000080000000000000. The server's `$add` starts
    # from a zero as well (`Decimal128 decimalTotal;` in its source, as remembered; not checked
    # against a running server).
    return CONTEXT.add(CONTEXT.add(Decimal(0), a), b)


ops = {"add": add, "subtract": CONTEXT.subtract, "multiply": CONTEXT.multiply, "divide": CONTEXT.divide}
for _ in range(2500):
    a, b = canonical(operand()), canonical(operand())
    op = rng.choice(list(ops))
    if op == "divide" and Decimal(b).is_zero():
        continue
    result = ops[op](Decimal(a), Decimal(b))
    print(json.dumps({"op": op, "a": a, "b": b, "result": str(result)}))
