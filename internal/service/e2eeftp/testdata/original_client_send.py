# The stock client's SEND, step by step as docs/e2eeftp.md describes the
# wire (not the original's code), with the same library it uses
# (cryptography): hello, verify the server hello, then -- as the stock
# client does -- read and encrypt the whole file, which we stretch with a
# pause, and only then send "SEND|name|size" and the blob.
# usage: python3 original_client_send.py PORT CLIENT_SEED_HEX SERVER_PUB_HEX PAUSE_S NAME CONTENT
# prints the server's status line.
import hashlib, hmac, os, socket, struct, sys, time
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

port, seed, server_pub, pause, name, content = sys.argv[1:7]
ident = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed))
raw = lambda k: k.public_bytes(Encoding.Raw, PublicFormat.Raw)

def recv_exact(s, n):
    b = b""
    while len(b) < n:
        chunk = s.recv(n - len(b))
        if not chunk:
            raise ConnectionError("Socket connection broken during handshake")
        b += chunk
    return b

s = socket.create_connection(("127.0.0.1", int(port)), timeout=30)
eph = X25519PrivateKey.generate()
epub = raw(eph.public_key())
payload = epub + raw(ident.public_key()) + ident.sign(epub)
s.sendall(struct.pack(">I", len(payload)))
s.sendall(payload)
(n,) = struct.unpack(">I", recv_exact(s, 4))
p = recv_exact(s, n)
if p[32:64] != bytes.fromhex(server_pub):
    sys.exit("Server identity verification failed! Mismatched public key.")
Ed25519PublicKey.from_public_bytes(p[32:64]).verify(p[64:], p[0:32])
okm = HKDF(algorithm=hashes.SHA256(), length=64, salt=None, info=b"file-transfer-e2ee").derive(
    eph.exchange(X25519PublicKey.from_public_bytes(p[0:32])))
aes_key, mac_key = okm[:32], okm[32:]

time.sleep(float(pause))  # the stock client reads and encrypts the whole file here
pad = padding.PKCS7(128).padder()
iv = os.urandom(16)
enc = Cipher(algorithms.AES(aes_key), modes.CBC(iv)).encryptor()
ct = enc.update(pad.update(content.encode()) + pad.finalize()) + enc.finalize()
blob = iv + ct + hmac.new(mac_key, iv + ct, hashlib.sha256).digest()
s.sendall(f"SEND|{name}|{len(blob)}\n".encode())
s.sendall(blob)
line = b""
while not line.endswith(b"\n"):
    c = s.recv(1)
    if not c:
        break
    line += c
print(line.decode().strip())
