# Regenerates compute_vectors.jsonl: the reference answers of CPython 3.11
# (Debian /usr/bin/python3) for compute expressions, computed the way the
# original server did (eval, then the log line's str(), then json.dumps),
# restricted to the builtins our evaluator offers. Rows where the original
# sent no reply (json.dumps failed) are left out. Run from this directory:
#   /usr/bin/python3 gen_compute_vectors.py > compute_vectors.jsonl
import json, random, sys

B = {k: getattr(__builtins__, k) for k in
     ["abs", "round", "min", "max", "pow", "divmod", "int", "float", "str", "len", "bool"]}

def answer(expr):
    try:
        r = eval(expr, {"__builtins__": B})
        "%s" % (r,)  # the original's log line: fails above 4300 digits
        return json.dumps({"status": "success", "result": r})
    except SyntaxError:
        return json.dumps({"status": "error", "message": "Invalid expression syntax"})
    except NameError:
        return json.dumps({"status": "error", "message": "Invalid variable name in expression"})
    except (TypeError, ValueError) as e:
        if "JSON serializable" in str(e):
            return None
        return json.dumps({"status": "error", "message": str(e)})
    except Exception as e:
        return json.dumps({"status": "error", "message": str(e)})

fixed = [l.rstrip("\n") for l in open("compute_exprs.txt", encoding="utf-8") if l.strip() and not l.startswith("##")]

rnd = random.Random(4)
def num():
    c = rnd.random()
    if c < 0.45: return str(rnd.randint(-50, 300))
    if c < 0.7: return repr(round(rnd.uniform(-100, 100), rnd.randint(0, 4)))
    if c < 0.8: return str(rnd.randint(0, 10**rnd.randint(1, 40)))
    if c < 0.9: return rnd.choice(["0", "1", "2", "0.5", "1e-3", "3e20", "True", "False"])
    return rnd.choice(["0.1", "7", "-3", "2.5", "1e308", "10"])
def gen(d):
    if d <= 0 or rnd.random() < 0.3: return num()
    k = rnd.random()
    if k < 0.7:
        op = rnd.choice(["+", "-", "*", "/", "//", "%", "**", "<", "==", "&", "|", "^", "<<", ">>", "<=", "!="])
        l, r = gen(d - 1), gen(d - 1)
        if op == "**": r = rnd.choice(["2", "3", "0.5", "-1", "10", "-2", "0.25", "1.5", "7"])
        if op in ("<<", ">>"): r = str(rnd.randint(0, 70))
        return "(%s %s %s)" % (l, op, r)
    if k < 0.8: return rnd.choice(["-", "+", "~", "not "]) + gen(d - 1)
    f = rnd.choice(["abs(%s)", "round(%s)", "round(%s, 2)", "round(%s, -1)", "int(%s)", "float(%s)",
                    "divmod(%s, 7)", "max(%s, 3)", "min(%s, 0.5)", "pow(%s, 2)", "str(%s)", "bool(%s)"])
    return f % gen(d - 1)

rand = [gen(rnd.randint(1, 4)) for _ in range(600)]
for e in fixed + rand:
    a = answer(e)
    if a is not None:
        print(json.dumps({"expr": e, "reply": a}))
