module github.com/claudemesh/claudemesh/tools/meshload

go 1.26.8

require (
	github.com/claudemesh/claudemesh v0.0.0-00010101000000-000000000000
	github.com/coder/websocket v1.8.15
	github.com/spf13/cobra v1.10.2
	golang.org/x/crypto v0.59.0
)

require (
	filippo.io/edwards25519 v1.2.0 // indirect
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/spf13/pflag v1.0.9 // indirect
	golang.org/x/sys v0.50.0 // indirect
)

replace github.com/claudemesh/claudemesh => ../..
