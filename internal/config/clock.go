package config

// Clock configures the clock service ([services.clock]).
type Clock struct {
	Common
}

func defaultClock() Clock {
	return Clock{Common: common(7777)}
}
