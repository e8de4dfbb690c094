// Package all links every built-in service into the binary: each service's
// wiring lives in svc_<name>.go here and registers itself with the daemon.
package all
