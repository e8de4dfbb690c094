package backup

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/big"

	"gatehouse/internal/legacycrypto"
)

// ParsePublicKey reads a client's RSA public key: X.509 SubjectPublicKeyInfo
// DER (what Crypto++ sends) or, leniently, PKCS#1 DER. Only RSA keys of
// 1024 to 4096 bits with an odd exponent of at least 3 are accepted, so a
// key that cannot wrap an AES key is refused before anything is stored.
func ParsePublicKey(der []byte) (*rsa.PublicKey, error) {
	if len(der) == 0 || len(der) > MaxKeySize {
		return nil, fmt.Errorf("backup: public key is %d bytes, want 1..%d", len(der), MaxKeySize)
	}
	var pub *rsa.PublicKey
	if k, err := x509.ParsePKIXPublicKey(der); err == nil {
		rk, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, errors.New("backup: public key is not RSA")
		}
		pub = rk
	} else if rk, err2 := x509.ParsePKCS1PublicKey(der); err2 == nil {
		pub = rk
	} else {
		return nil, fmt.Errorf("backup: public key: %w", err)
	}
	if bits := pub.N.BitLen(); bits < 1024 || bits > 4096 {
		return nil, fmt.Errorf("backup: RSA key of %d bits, want 1024..4096", bits)
	}
	if pub.E < 3 || pub.E%2 == 0 {
		return nil, fmt.Errorf("backup: RSA exponent %d is not usable", pub.E)
	}
	return pub, nil
}

// WrapKey encrypts the AES key for the client: RSAES-OAEP with SHA-1 and
// MGF1-SHA-1, empty label, as Crypto++'s RSAES_OAEP_SHA expects. A nil rnd
// means crypto/rand.Reader.
func WrapKey(rnd io.Reader, pub *rsa.PublicKey, aesKey []byte) ([]byte, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	b, err := rsa.EncryptOAEP(sha1.New(), rnd, pub, aesKey, nil)
	if err != nil {
		return nil, fmt.Errorf("backup: wrap key: %w", err)
	}
	return b, nil
}

// UnwrapKey is the client side of WrapKey.
func UnwrapKey(priv *rsa.PrivateKey, blob []byte) ([]byte, error) {
	k, err := rsa.DecryptOAEP(sha1.New(), nil, priv, blob, nil)
	if err != nil {
		return nil, fmt.Errorf("backup: unwrap key: %w", err)
	}
	if len(k) != AESKeySize {
		return nil, fmt.Errorf("backup: unwrapped key is %d bytes, want %d", len(k), AESKeySize)
	}
	return k, nil
}

// GenerateLegacyKey makes an RSA-1024 key with e = 17, Crypto++'s default,
// whose SubjectPublicKeyInfo is exactly the 160 bytes the original server
// accepts (crypto/rsa.GenerateKey always picks e = 65537, 162 bytes).
// A nil rnd means crypto/rand.Reader.
func GenerateLegacyKey(rnd io.Reader) (*rsa.PrivateKey, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	e := big.NewInt(17)
	one := big.NewInt(1)
	for range 100 {
		p, err := rand.Prime(rnd, 512)
		if err != nil {
			return nil, err
		}
		q, err := rand.Prime(rnd, 512)
		if err != nil {
			return nil, err
		}
		if p.Cmp(q) == 0 {
			continue
		}
		n := new(big.Int).Mul(p, q)
		if n.BitLen() != 1024 {
			continue
		}
		phi := new(big.Int).Mul(new(big.Int).Sub(p, one), new(big.Int).Sub(q, one))
		d := new(big.Int).ModInverse(e, phi)
		if d == nil {
			continue
		}
		k := &rsa.PrivateKey{PublicKey: rsa.PublicKey{N: n, E: 17}, D: d, Primes: []*big.Int{p, q}}
		if err := k.Validate(); err != nil {
			continue
		}
		k.Precompute()
		return k, nil
	}
	return nil, errors.New("backup: could not generate an RSA key")
}

// EncryptFile is the client's file encryption: AES-128-CBC, zero IV,
// PKCS#7. It exists for tests and the Go client; streaming callers use
// NewEncrypter.
func EncryptFile(key, plain []byte) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	ct := legacycrypto.PKCS7Pad(append([]byte(nil), plain...))
	legacycrypto.NewCBCEncrypterZeroIV(block).CryptBlocks(ct, ct)
	return ct, nil
}

// DecryptFile reverses EncryptFile and checks the padding.
func DecryptFile(key, ct []byte) ([]byte, error) {
	if len(ct) == 0 || len(ct)%16 != 0 {
		return nil, errors.New("backup: ciphertext is not a whole number of blocks")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	pt := make([]byte, len(ct))
	legacycrypto.NewCBCDecrypterZeroIV(block).CryptBlocks(pt, ct)
	n, err := PKCS7Unpad(pt[len(pt)-16:])
	if err != nil {
		return nil, err
	}
	return pt[:len(pt)-16+n], nil
}

// CiphertextSize is the AES-CBC/PKCS#7 length of n plaintext bytes.
func CiphertextSize(n int64) int64 { return (n/16 + 1) * 16 }

// sealer protects AES keys at rest with the service's master key
// (AES-256-GCM, the client id as associated data so a sealed key cannot be
// moved to another client's row).
// Its nonces come from rnd.
type sealer struct {
	aead cipher.AEAD
	rnd  io.Reader
}

func newSealer(master []byte, rnd io.Reader) (*sealer, error) {
	if len(master) != 32 {
		return nil, fmt.Errorf("backup: master key is %d bytes, want 32", len(master))
	}
	block, err := aes.NewCipher(master)
	if err != nil {
		return nil, err
	}
	g, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: g, rnd: rnd}, nil
}

func (s *sealer) seal(key []byte, clientID string) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(key)+s.aead.Overhead())
	if _, err := io.ReadFull(s.rnd, nonce); err != nil {
		return nil, err
	}
	return s.aead.Seal(nonce, nonce, key, []byte(clientID)), nil
}

func (s *sealer) open(sealed []byte, clientID string) ([]byte, error) {
	ns := s.aead.NonceSize()
	if len(sealed) < ns+s.aead.Overhead() {
		return nil, errors.New("backup: sealed key too short")
	}
	k, err := s.aead.Open(nil, sealed[:ns], sealed[ns:], []byte(clientID))
	if err != nil {
		return nil, fmt.Errorf("backup: sealed key does not open: %w", err)
	}
	return k, nil
}
