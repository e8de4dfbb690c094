package config

import "gatehouse/internal/service/cloudreport"

// Cloudreport is the [services.cloudreport] section, owned by the
// cloudreport service.
type Cloudreport = cloudreport.Config
