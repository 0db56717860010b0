// Command coredns is CoreDNS built with only the plugins the test node's
// cluster DNS uses (the kubernetes plugin, ready, health, errors, log), in
// CoreDNS's own order, as its embedding example does; everything else is
// CoreDNS's code (coremain.Run).
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

func init() {
	if err := dnsserver.SetDirectives([]string{"ready", "health", "errors", "log", "kubernetes"}); err != nil {
		panic(err)
	}
}

func main() {
	coremain.Run()
}
