package config

import "gatehouse/internal/service/backup"

// Backup is the [services.backup] section, owned by the backup service.
type Backup = backup.Config
