package config

// E2EEFTP configures the e2eeftp service ([services.e2eeftp]).
type E2EEFTP struct {
	Common
}

func defaultE2EEFTP() E2EEFTP {
	return E2EEFTP{Common: common(5001)}
}
