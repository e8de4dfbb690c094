# Regenerates compat_probes.jsonl: expression text rules (whitespace,
# comments, line continuation, CRLF, NUL), int(x, base), keyword arguments
# and the arity messages of every builtin, with the original's reply from
# this machine's CPython. Run from this directory:
#   /usr/bin/python3 gen_compat_probes.py > compat_probes.jsonl
import json
from original_reply import reply

text = [
    "\n1+1", "\n\n1+1", "  \n1+1", "\t1+1", " \t 1+1", "\n  1+1", "\r\n1+1", "\r1+1", "1+1\r\n",
    "1+1\r", "# c\n1+1", "#c", "# c\n", "1+1 # c", "1+1 # c\n# d\n", "\f1+1", "\f\n1+1",
    "1 +\\\n 1", "1 + \\\n1", "\\\n1+1", "1+1\\\n", "1+1 \\", "1 \\ + 1", "(1 +\n 1)",
    "(1 +\n\n 1)", "(1 + # c\n 1)", "\n# c\n  # d\n1+1", "\n\t1", "\x0b1", "1+1\n\n", "1+1\n  ",
    "1+1\n  2", "1\n+1", "\\\n\\\n1", "1+\\\r\n1", "[1,\n2]", "\u00a01+1", "1+1\x00", "\x00",
    "  # only comment", "", "   ", "\n", "1 +\t\\\n 2", "\\\n  1", "(\n)", "\\\n1", " \\\n1",
    "  \\\n  1", "1+\\\n  1", "\n\\\n1", "1\\\n", "1 \\\n", "1+1\n\t", "1+1\n  #c", "1+1\n \n",
    "(1\n  \\\n+1)", "\\\n\n1", "1+1\\", "1\n\\\n", "\f 1", "\f\n 1", " \f1", "1+1\n\f",
    "1 + 1\n \\\n", "\n \\\n1", "'a\\\nb'", "'''a\nb'''", "'''a\r\nb'''", "'a\rb'", "1 # c\n2",
    "(1 # c\n)", "[\n1,\n  2,\n]", "1+1\n\n\n", "1+1\n# c", "\t\t1+1\n", "\t\n1", "\n\t1",
    "\\\n\t1", "{1: 2,\n 3: 4}", "1 +\\\n\\\n 1", "  1 +\\\n1", "(6 + 4) * 8\n", "\n\n(6 + 4) * 8\n\n",
    "# compound interest\n1000*(1+0.05/365)**(365*30)\n",
    "1if 1 else 2", "1or 2", "0or 1", "1and 2", "0x1for 1", "1.if 1 else 2", "1else", "1e+x",
    "1in [1]", "1not in [2]", "1isnt", "1ifx", "0b1and 1", "0o7or 1", "1.5e3if 1 else 0",
    "1_if 1 else 2", "1 if 1else 2",
]

builtins_ = ["abs", "round", "min", "max", "pow", "divmod", "int", "float", "str", "len", "bool"]
arity = []
for b in builtins_:
    for n in range(0, 5):
        for a in ("1", "2.5", "'7'"):
            arity.append("%s(%s)" % (b, ", ".join([a] * n)))

ints = [
    "int('12x', 0)", "int('010', 0)", "int('00x', 0)", "int('0 x', 0)", "int('0_1', 0)",
    "int('0_0', 0)", "int('x'*300)", "int('x'*300, 16)", "int('\u00e9'*300)", "int('1', 2**100)",
    "int('1', -2**100)", "int('1', True)", "int('1', False)", "int('1', 2.0)", "int('1', None)",
    "int(1.5, 10)", "int('0x_1f', 16)", "int('0x__1f', 16)", "int('1__0', 16)", "int('1_0_', 16)",
    "int('_1', 16)", "int('1'*5000+'x', 10)", "int('1'*5000, 16) > 0", "int('1'*4301, 3)",
    "int('\u00a01\u2003', 10)", "int('\x1c1', 10)", "int('\v1\v', 10)", "int('0b', 2)",
    "int('0b1', 16)", "int('0x1', 0)", "int(' -0o17 ', 0)", "int('+-1', 10)", "int('', 10)",
    "int('ZZ', 36)", "int('1', 37)", "int('1', 1)", "int('1', -1)", "int('9', 8)",
    "int('1e3', 10)", "int('1.0', 10)", "int(True, 2)", "int([1], 2)", "int('0B101', 0)",
    "int('0'*700+'1', 0)", "int('0'*5000, 0)", "int('0'*5000+'1', 16)", "int('ff', 16)",
    "int('FF', 16)", "int('0xff', 16)", "int('0o17', 8)", "int('0b101', 2)", "int('777', 8)",
    "int('z', 36)", "int('10', 2)", "int(' 42 ')", "int('-0')", "int('0', 0)", "int('00', 0)",
    "int('-00', 0)", "int('0x', 16)", "int('0x1g', 16)", "int('1 2', 10)",
    "int('\u0661\u0662', 10)", "int('12', 2)", "int('1'*4300)", "int('1'*4301)",
    "int('f'*20000, 16)", "int('1\\n')", "int('\\t-5\\n', 10)", "int('+0x10', 0)",
    "int('0X10', 16)", "int('0b10', 0) + int('0o10', 0)", "int('10', 3.5)", "int(10, 10)",
    "int('10', '10')", "int(None, 10)", "int('1', 0.0)", "float('\u0661.\u0665')",
    "float('\u00a01.5\u2003')", "int('\U0001d7d9\U0001d7da', 10)", "int('\u0660x1', 0)",
    "int('1\u00e9')", "float('1\u00e9')", "int('\uff11\uff12\uff13')",
    "str(1, 'utf-8')", "str('a', 'utf-8')", "str(1, 1)", "str(1, 'utf-8', 1)",
    "str(1, 'x', 'y')", "str('a', 'x', 'y')", "str('a', 1, 'y')",
    "round('7')", "round('7', 'x')", "round(2.5, 'x')",
]

kw = [
    "int('ff', base=16)", "int('10', base=2)", "int(base=2)", "int(x='1')", "int('1', foo=2)",
    "int('1', 2, base=3)", "round(2.567, ndigits=2)", "round(number=2.5)", "round(ndigits=2)",
    "round(2.5, number=1)", "round(2.5, foo=1)", "round(2.5, ndigits=None)",
    "pow(2, 10, mod=1000)", "pow(base=2, exp=10)", "pow(2, exp=0.5)", "pow(exp=2)",
    "pow(2, mod=3)", "pow(2, 3, mod=None)", "pow(2, 3, 4, mod=5)", "abs(x=1)", "len(obj=1)",
    "float(x=1)", "bool(x=1)", "divmod(1, b=2)", "str(object=5)", "str(5, encoding='utf-8')",
    "str(encoding='utf-8')", "str(errors='x')", "str('a', errors='x')", "round(ndigits=1, 2.5)",
    "pow(base=1, base=2)", "min(1, 2, key=None)", "max([], default=0)", "round(2.5,)",
    "pow(2, 3,)", "pow(2, 3, foo=1)", "str(5, foo=1)", "min(1, 2, foo=1)",
    "max(1, 2, default=3)", "max([-3, 2], key=abs)", "max(-3, 2, key=abs)",
    "min([], default=None)", "min([], key=abs)", "max([1], key=5)", "min('abc', key=None)",
    "max([1, 2], default=0, key=None)", "min(1, key=abs)", "min(key=abs)",
    "max([1,2], key=abs, foo=1)", "max([-2, 1], key=str)",
]

for e in text + arity + ints + kw:
    print(json.dumps({"expr": e, "reply": reply(e)}))
