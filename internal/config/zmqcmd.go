package config

import "gatehouse/internal/service/zmqcmd"

// ZMQCmd is the [services.zmqcmd] section, owned by the zmqcmd service.
type ZMQCmd = zmqcmd.Config
