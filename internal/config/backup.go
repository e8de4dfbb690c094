package config

// Backup configures the backup service ([services.backup]).
type Backup struct {
	Common
}

func defaultBackup() Backup {
	return Backup{Common: common(1357)}
}
