package config

import "gatehouse/internal/service/e2eeftp"

// E2EEFTP is the [services.e2eeftp] section, owned by the e2eeftp service.
type E2EEFTP = e2eeftp.Config

// E2EEFTPIdleTimeout is the e2eeftp service's default idle_timeout.
const E2EEFTPIdleTimeout = e2eeftp.DefaultIdleTimeout
