// Command claudemesh is the claudemesh CLI; the commands live in internal/cli.
package main

import (
	"os"

	"github.com/claudemesh/claudemesh/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:])) }
