package config

// Cloudreport configures the cloudreport service ([services.cloudreport]).
type Cloudreport struct {
	Common
}

func defaultCloudreport() Cloudreport {
	return Cloudreport{Common: common(8080)}
}
