// Package cloudreport is the Linux Cloud Report Server (a port of the Delphi
// CloudTcpServer): a line-based ASCII protocol whose payloads are zlib data,
// encrypted with a key every client can derive, in base64 inside DATA=.
//
// Two dialects share one state machine. "seed" is the contract: byte for
// byte what the Python port (LinuxCloudReportServer@ae8deed) sends. "delphi"
// is experimental: Indy-style "NNN text" replies, the host part of the key
// from HST=, and DCPcrypt's Rijndael/CFB-8 (see docs/cloudreport.md for what
// was and was not verified). Neither dialect is confidential: the keys are
// guessable and nothing is authenticated; treat it as obfuscation.
//
// The wire format (no I/O) is wire.go (limits, dialects) and wire_*.go by
// subject: Latin-1 text, request lines, INIT, payload fields, codecs,
// replies, dates.
package cloudreport

import (
	"fmt"
	"strings"
)

// Limits of the wire; the configurable ones are defaults of Options.
const (
	// DefaultMaxLine is the seed's asyncio readline limit: a request line
	// longer than this (without its LF) closes the connection.
	DefaultMaxLine = 64 << 10
	// DefaultMaxInflate bounds what one DATA payload may inflate to.
	DefaultMaxInflate = 1 << 20
	// maxIntDigits is CPython's int_max_str_digits: longer INIT IDs are
	// "not a number" there too.
	maxIntDigits = 4300
	// maxClientID bounds a registry id (real ones are 8 hex digits).
	maxClientID = 64
)

// DefaultServerKey is the KEY the seed always announces.
const DefaultServerKey = "D5F2"

// Dictionary is the shared crypto dictionary, indexed by INIT ID - 1.
var Dictionary = [10]string{
	"123hk12h8dcal", "FT676Ugug6sFa", "a6xbBa7A8a9la", "qMnxbtyTFvcqi", "cx7812vcxFRCC",
	"bab7u682ftysv", "YGbsux&Ygsyxg", "MSN><hu8asG&&", "23yY88syHXvvs", "987sX&sysy891",
}

// Dialect selects the reply grammar and crypto profile.
type Dialect int

const (
	// Seed is the Python port's wire (the contract).
	Seed Dialect = iota
	// Delphi is the experimental Indy/DCPcrypt profile of the original.
	Delphi
)

func (d Dialect) String() string {
	if d == Delphi {
		return "delphi"
	}
	return "seed"
}

// ParseDialect accepts "seed" (or empty) and "delphi".
func ParseDialect(s string) (Dialect, error) {
	switch strings.ToLower(s) {
	case "", "seed":
		return Seed, nil
	case "delphi", "indy":
		return Delphi, nil
	}
	return Seed, fmt.Errorf("cloudreport: unknown dialect %q (want seed or delphi)", s)
}
