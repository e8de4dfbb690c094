package clock

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// TempSource gives TEMP readings in whole degrees Celsius.
type TempSource interface {
	Celsius() (int, error)
}

// RandomTemp is the original's behaviour: uniform in [-50, 50], not a
// sensor. It draws from math/rand/v2's randomly seeded generator, so unlike
// the original (Mersenne Twister seeded with the start time) the values are
// not predictable.
type RandomTemp struct{}

func (RandomTemp) Celsius() (int, error) { return rand.IntN(101) - 50, nil }

// FixedTemp always reports the same value.
type FixedTemp int

func (f FixedTemp) Celsius() (int, error) { return int(f), nil }

// FileTemp reads one number from a file on every request, such as a Linux
// thermal zone (/sys/class/thermal/thermal_zone0/temp, millidegrees), and
// multiplies it by Scale.
type FileTemp struct {
	Path  string
	Scale float64
}

// Readings outside this range are a broken sensor, a wrong scale or a
// typo, and would print as nonsense in the client (ours refuses a TEMP reply
// longer than maxTempResponse bytes).
const (
	minCelsius = -273
	maxCelsius = 2000
)

// maxTempFile bounds what is read from the file: a reading is one number.
const maxTempFile = 64

func (f FileTemp) Celsius() (int, error) {
	// O_NONBLOCK: opening a FIFO (or a device) by mistake must not block
	// the daemon's start-up or a session forever; such files are refused.
	fh, err := os.OpenFile(f.Path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return 0, fmt.Errorf("temperature file: %w", err)
	}
	defer fh.Close()
	if fi, err := fh.Stat(); err != nil || !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("temperature file %s: not a regular file", f.Path)
	}
	b, err := io.ReadAll(io.LimitReader(fh, maxTempFile+1))
	if err != nil {
		return 0, fmt.Errorf("temperature file %s: %w", f.Path, err)
	}
	if len(b) > maxTempFile {
		return 0, fmt.Errorf("temperature file %s: longer than %d bytes", f.Path, maxTempFile)
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
	if err != nil {
		return 0, fmt.Errorf("temperature file %s: %w", f.Path, err)
	}
	c := math.Round(v * f.Scale)
	if math.IsNaN(c) || c < minCelsius || c > maxCelsius {
		return 0, fmt.Errorf("temperature file %s: reading %v°C out of range", f.Path, c)
	}
	return int(c), nil
}

var errTempSource = errors.New("clock: temp_source must be random, file or fixed")
