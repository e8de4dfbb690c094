package zmtp

import (
	"errors"
	"fmt"
)

// Z85 (ZeroMQ RFC 32) is the text form libzmq uses for CURVE keys: four
// bytes become five printable characters. A 32-byte key is 40 characters.

const z85Alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"

var z85Decode = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xFF
	}
	for i := 0; i < len(z85Alphabet); i++ {
		t[z85Alphabet[i]] = byte(i)
	}
	return t
}()

// Z85Encode encodes b, whose length must be a multiple of 4.
func Z85Encode(b []byte) (string, error) {
	if len(b)%4 != 0 {
		return "", fmt.Errorf("z85: %d bytes is not a multiple of 4", len(b))
	}
	out := make([]byte, 0, len(b)/4*5)
	for i := 0; i < len(b); i += 4 {
		v := uint32(b[i])<<24 | uint32(b[i+1])<<16 | uint32(b[i+2])<<8 | uint32(b[i+3])
		var chunk [5]byte
		for j := 4; j >= 0; j-- {
			chunk[j] = z85Alphabet[v%85]
			v /= 85
		}
		out = append(out, chunk[:]...)
	}
	return string(out), nil
}

// Z85Decode decodes s, whose length must be a multiple of 5. Characters
// outside the alphabet and groups above 2^32-1 are refused.
func Z85Decode(s string) ([]byte, error) {
	if len(s)%5 != 0 {
		return nil, fmt.Errorf("z85: %d characters is not a multiple of 5", len(s))
	}
	out := make([]byte, 0, len(s)/5*4)
	for i := 0; i < len(s); i += 5 {
		var v uint64
		for j := 0; j < 5; j++ {
			d := z85Decode[s[i+j]]
			if d == 0xFF {
				return nil, fmt.Errorf("z85: invalid character at %d", i+j)
			}
			v = v*85 + uint64(d)
		}
		if v > 0xFFFFFFFF {
			return nil, fmt.Errorf("z85: group at %d overflows 32 bits", i)
		}
		out = append(out, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
	return out, nil
}

// ErrKeyText is returned for a key that is not 40 Z85 characters.
var ErrKeyText = errors.New("zmtp: a CURVE key is 40 Z85 characters")

// ParseKey decodes a CURVE key in Z85 (40 characters, as libzmq's
// zmq_curve_keypair and pyzmq's zmq.curve_keypair print it).
func ParseKey(s string) ([32]byte, error) {
	var k [32]byte
	if len(s) != 40 {
		return k, ErrKeyText
	}
	b, err := Z85Decode(s)
	if err != nil {
		return k, fmt.Errorf("%w: %v", ErrKeyText, err)
	}
	copy(k[:], b)
	return k, nil
}

// KeyText encodes a CURVE key in Z85.
func KeyText(k [32]byte) string {
	s, _ := Z85Encode(k[:])
	return s
}
