# The reply the original server built for a compute request, computed by
# this machine's CPython (the original evaluated expressions with eval()):
#   /usr/bin/python3 original_reply.py < requests > replies
# Each input line is a JSON string (the expression); each output line is the
# JSON string of the reply frame, or null where the original sent no reply
# (json.dumps failed and the worker thread died). The steps are the
# original's: eval, the log line's str() (which fails above 4,300 digits),
# then json.dumps with its defaults. Names are limited to the builtins our
# evaluator offers; the original exposed all of them.
import builtins, json, sys

B = {k: getattr(builtins, k) for k in
     ["abs", "round", "min", "max", "pow", "divmod", "int", "float", "str", "len", "bool"]}

def reply(expr):
    try:
        r = eval(expr, {"__builtins__": B})
        "%s" % (r,)  # the original's log line
        resp = {"status": "success", "result": r}
    except SyntaxError:
        resp = {"status": "error", "message": "Invalid expression syntax"}
    except NameError:
        resp = {"status": "error", "message": "Invalid variable name in expression"}
    except Exception as e:
        resp = {"status": "error", "message": str(e)}
    try:
        return json.dumps(resp)
    except (TypeError, ValueError):
        return None

if __name__ == "__main__":
    for line in sys.stdin:
        print(json.dumps(reply(json.loads(line))), flush=False)
