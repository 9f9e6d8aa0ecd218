//go:build !unix

package claudecode

import "io/fs"

func checkOwnerWritable(string, fs.FileInfo) error { return nil }
