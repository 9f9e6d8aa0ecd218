// Package version names the build; the Makefile stamps it with -ldflags.
package version

// Version is "dev" unless set at build time.
var Version = "dev"
