package backup

import (
	"errors"
	"fmt"

	"gatehouse/internal/names"
)

// storedName is the name a client's file is kept under, the same for the
// 1028 that stores it and the 1029–1031 that name it: the base name
// (StoredFileName), then the shared name policy (internal/names): trailing
// white space removed, control and bidirectional formatting characters
// refused, so a name cannot be made to display as another in listings and
// logs.
func storedName(name string) (string, error) {
	base, err := StoredFileName(name)
	if err != nil {
		return "", err
	}
	n, err := names.Clean(base)
	if errors.Is(err, names.ErrReserved) {
		// Backup keeps a file's content under a generated blob name, so
		// the blob store's reserved ".tmp-" prefix is free for clients
		// (a local file may be called that; the original stored it).
		return names.Normalize(base), nil
	}
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadFileName, err)
	}
	return n, nil
}

// checkClientName applies the shared character rules to a name a client
// registers under (1025): no bidirectional formatting characters, C1
// controls or broken UTF-8, so one account cannot be made to display as
// another in listings. Only registration checks it: accounts made before
// keep working.
func checkClientName(name string) error { return names.CheckChars(name) }
