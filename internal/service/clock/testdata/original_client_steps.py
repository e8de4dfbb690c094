# The original menu client's wire steps, written from the protocol
# description in docs/clock.md (not the original's code): send the public
# key as decimal text, read the server key with int(recv(1024)), shift every
# byte by K = B^a mod 257, one recv(1024) per answer, strict UTF-8 decoding.
# usage: python3 original_client_steps.py PORT PRIVATE_KEY...
# prints one line per private key: "a K time date temp".
import socket, sys

P, G = 257, 11

def shift(data, k):
    return bytes((x + k) % 256 for x in data)

port = int(sys.argv[1])
for a in map(int, sys.argv[2:]):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(str(pow(G, a, P)).encode())
    k = pow(int(s.recv(1024).decode()), a, P)  # ValueError on an empty read, as the original
    out = [str(a), str(k)]
    for req in ("TIME", "DATE", "TEMP"):
        s.sendall(shift(req.encode(), k))
        out.append(shift(s.recv(1024), -k).decode())
    s.close()
    print(" ".join(out))
