# A real libzmq peer (Debian python3-zmq) for the interop tests.
#   /usr/bin/python3 pyzmq_peer.py ENDPOINT MODE
# MODE req | dealer | dealer-bare: read hex-encoded request frames from
# stdin, one per line, and print one line per reply: the number of frames
# received and the hex of the last frame ("TIMEOUT" if none within 5 s).
# MODE suite: the original's tests/test_client.py cases, with its
# send_command style (new context and REQ socket per command).
import binascii, json, sys
import zmq

ep, mode = sys.argv[1], sys.argv[2]

def sock(ctx, kind):
    s = ctx.socket(kind)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVTIMEO, 5000)
    s.setsockopt(zmq.SNDTIMEO, 5000)
    s.connect(ep)
    return s

if mode == "suite":
    def send_command(cmd):
        with zmq.Context() as ctx:
            with sock(ctx, zmq.REQ) as s:
                s.send_json(cmd)
                return s.recv_json()
    r = send_command({"command_type": "compute", "expression": "(10 + 5) * 4"})
    assert r["status"] == "success" and r["result"] == 60, r
    print("ok test_send_math_command")
    r = send_command({"command_type": "os", "command_name": "echo", "parameters": ["Hello, World!"]})
    assert r["status"] == "success" and "Hello, World!" in r["result"], r
    print("ok test_send_os_command")
    r = send_command({"command_type": "compute", "expression": "invalid_expression"})
    assert r["status"] == "error" and "Invalid variable name in expression" in r["message"], r
    print("ok test_process_invalid_command")
    r = send_command({"command_type": "compute", "expression": "(8 + 2) * 4"})
    assert r["status"] == "success" and r["result"] == 40, r
    print("ok test_process_math_command")
    r = send_command({"command_type": "os", "command_name": "echo", "parameters": ["Hello, World!"]})
    assert r["status"] == "success" and "Hello, World!" in r["result"], r
    print("ok test_process_os_command")
    # Where the original killed a worker (a REQ with an extra frame; see
    # docs/zmqcmd.md, "Transport and envelopes"),
    # a real libzmq REQ must get an error reply and keep its socket usable.
    with zmq.Context() as ctx:
        with sock(ctx, zmq.REQ) as s:
            s.send_multipart([json.dumps({"command_type": "compute", "expression": "1+1"}).encode(), b"extra"])
            r = s.recv_json()
            assert r == {"status": "error", "message": "Multipart requests are not supported"}, r
            s.send_json({"command_type": "compute", "expression": "1+1"})
            r = s.recv_json()
            assert r == {"status": "success", "result": 2}, r
    print("ok multipart answered, socket still usable")
    sys.exit(0)

ctx = zmq.Context()
kind = zmq.REQ if mode == "req" else zmq.DEALER
s = sock(ctx, kind)
for line in sys.stdin:
    line = line.strip()
    if not line and mode == "dealer-bare":
        continue
    req = binascii.unhexlify(line)
    if mode == "req":
        s.send(req)
    elif mode == "dealer":
        s.send_multipart([b"", req])
    else:
        s.send(req)
    try:
        frames = s.recv_multipart()
        print(len(frames), binascii.hexlify(frames[-1]).decode())
    except zmq.Again:
        print("TIMEOUT")
        s.close()
        s = sock(ctx, kind)
    sys.stdout.flush()
s.close()
ctx.term()
