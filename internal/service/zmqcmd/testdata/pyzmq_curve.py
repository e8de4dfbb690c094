# A real libzmq CURVE peer (Debian python3-zmq) for the CURVE port tests.
#   /usr/bin/python3 pyzmq_curve.py client ENDPOINT SERVER_PUBLIC_Z85 CLIENT_CERT [heartbeat]
#     REQ socket with the key pair of CLIENT_CERT (read with
#     zmq.auth.load_certificate, so the files 'gatehouse keys zmqcmd' writes
#     are proven readable by pyzmq). Reads hex request frames from stdin,
#     one per line; prints the hex of each reply, or "TIMEOUT" plus the
#     handshake failures libzmq's monitor reported if none came in 3 s, or
#     in $PYZMQ_RCVTIMEO_MS (libzmq retries a refused handshake for ever:
#     the wait is the bound).
#     With "heartbeat", libzmq sends a PING every 20 ms (encrypted, inside
#     MESSAGE) and the client waits 300 ms before each request, so the
#     server's encrypted PONGs interleave with its replies; a last line
#     "handshakes N" counts the CURVE handshakes (1 unless the server
#     dropped the connection and libzmq reconnected).
#   /usr/bin/python3 pyzmq_curve.py server ENDPOINT SERVER_CERT N
#     REP CURVE server; prints "ready" once bound, answers N requests with
#     {"status": "success", "result": "pyzmq"} and exits.
import binascii, os, sys
import zmq
import zmq.auth
from zmq.utils.monitor import recv_monitor_message

mode = sys.argv[1]
ctx = zmq.Context()

if mode == "server":
    ep, cert, n = sys.argv[2], sys.argv[3], int(sys.argv[4])
    pub, sec = zmq.auth.load_certificate(cert)
    s = ctx.socket(zmq.REP)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVTIMEO, 10000)
    s.curve_server = True
    s.curve_publickey, s.curve_secretkey = pub, sec
    s.bind(ep)
    print("ready", s.getsockopt(zmq.LAST_ENDPOINT).decode(), flush=True)
    for _ in range(n):
        s.recv()
        s.send(b'{"status": "success", "result": "pyzmq"}')
    sys.exit(0)

ep, server_pub, cert = sys.argv[2], sys.argv[3], sys.argv[4]
heartbeat = len(sys.argv) > 5 and sys.argv[5] == "heartbeat"
pub, sec = zmq.auth.load_certificate(cert)
s = ctx.socket(zmq.REQ)
s.setsockopt(zmq.LINGER, 0)
if heartbeat:
    s.setsockopt(zmq.HEARTBEAT_IVL, 20)
    s.setsockopt(zmq.HEARTBEAT_TIMEOUT, 1000)
s.setsockopt(zmq.RCVTIMEO, int(os.environ.get("PYZMQ_RCVTIMEO_MS", "3000")))
s.curve_publickey, s.curve_secretkey = pub, sec
s.curve_serverkey = server_pub.encode()
mon = s.get_monitor_socket()
s.connect(ep)
import time
for line in sys.stdin:
    if heartbeat:
        time.sleep(0.3)
    s.send(binascii.unhexlify(line.strip()))
    try:
        print(binascii.hexlify(s.recv()).decode(), flush=True)
    except zmq.Again:
        events = set()
        while mon.poll(100):
            ev = recv_monitor_message(mon)
            if ev["event"] == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
                events.add("auth-failed-%d" % ev["value"])
            elif ev["event"] == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
                events.add("protocol-failed")
            elif ev["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                events.add("handshake-ok")
        print(" ".join(["TIMEOUT"] + sorted(events)), flush=True)
        break
if heartbeat:
    n = 0
    while mon.poll(100):
        if recv_monitor_message(mon)["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            n += 1
    print("handshakes %d" % n, flush=True)
