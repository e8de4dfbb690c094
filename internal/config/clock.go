package config

import "gatehouse/internal/service/clock"

// Clock is the [services.clock] section, owned by the clock service.
type Clock = clock.Config

// ClockIdleTimeout is the clock service's default idle_timeout.
const ClockIdleTimeout = clock.DefaultIdleTimeout
