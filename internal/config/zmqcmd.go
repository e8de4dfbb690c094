package config

// ZMQCmd configures the zmqcmd service ([services.zmqcmd]).
type ZMQCmd struct {
	Common
}

func defaultZMQCmd() ZMQCmd {
	return ZMQCmd{Common: common(5555)}
}
