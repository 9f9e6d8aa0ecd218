package transcript

import (
	"bytes"
	"io"
	"os"
)

const (
	// startWindow is how much of a transcript's end is read to find its
	// current state when the watcher starts on a file or the file is
	// truncated or replaced.
	startWindow = 64 << 10
	// maxLine caps the memory one line may take; a longer line (a huge
	// tool result) is skipped.
	maxLine = 1 << 20
	// wideWindow is read instead when startWindow held no line that implies
	// a status (the last lines were big tool results): it fits a maximal line.
	wideWindow = 2*maxLine + startWindow
	readChunk  = 64 << 10
)

// tail follows one transcript file. It is used by one goroutine only.
type tail struct {
	path     string
	info     os.FileInfo // identity of the file read so far (os.SameFile)
	offset   int64       // bytes consumed
	partial  []byte      // the start of a line whose newline has not arrived
	skipping bool        // inside a line longer than maxLine: drop until newline
}

// read brings the tail up to date with path and returns the status implied
// by the complete lines it read (ok false when none implied one) and the
// file's info.
func (t *tail) read(path string) (status string, ok bool, fi os.FileInfo, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", false, nil, err
	}
	defer f.Close()
	fi, err = f.Stat()
	if err != nil {
		return "", false, nil, err
	}
	size := fi.Size()
	if path != t.path || t.info == nil || !os.SameFile(fi, t.info) || size < t.offset {
		status, ok, err = t.restart(f, path, fi)
		return status, ok, fi, err
	}
	t.info = fi
	if size == t.offset {
		return "", false, fi, nil
	}
	if _, err := f.Seek(t.offset, io.SeekStart); err != nil {
		return "", false, fi, err
	}
	status, ok, err = t.consume(io.LimitReader(f, size-t.offset))
	return status, ok, fi, err
}

// restart starts over on a new, truncated or replaced file: it reads only the
// end (startWindow, widened to wideWindow when that held no status line),
// dropping the first line unless it starts the window. (Reading from one
// byte earlier with skipping set drops exactly the cut part: when the window
// starts on a line boundary that byte is the newline before it.)
func (t *tail) restart(f *os.File, path string, fi os.FileInfo) (string, bool, error) {
	size := fi.Size()
	var status string
	var ok bool
	for _, window := range []int64{startWindow, wideWindow} {
		start := size - window
		if start > 0 {
			start--
		}
		start = max(start, 0)
		*t = tail{path: path, info: fi, offset: start, skipping: start > 0}
		if _, err := f.Seek(start, io.SeekStart); err != nil {
			return "", false, err
		}
		var err error
		status, ok, err = t.consume(io.LimitReader(f, size-start))
		if err != nil || ok || start == 0 {
			return status, ok, err
		}
	}
	return status, ok, nil
}

// consume reads r to its end, splitting it into lines; the bytes after the
// last newline wait in t.partial for the next call.
func (t *tail) consume(r io.Reader) (status string, ok bool, err error) {
	buf := make([]byte, readChunk)
	for {
		n, rerr := r.Read(buf)
		t.offset += int64(n)
		chunk := buf[:n]
		for len(chunk) > 0 {
			nl := bytes.IndexByte(chunk, '\n')
			if nl < 0 {
				t.keepPartial(chunk)
				break
			}
			line := chunk[:nl]
			chunk = chunk[nl+1:]
			if t.skipping {
				t.skipping = false
				continue
			}
			if len(t.partial) > 0 {
				line = append(t.partial, line...)
				t.partial = nil
			}
			if len(line) > maxLine {
				continue
			}
			if s, lok := lineStatus(line); lok {
				status, ok = s, true
			}
		}
		if rerr == io.EOF {
			return status, ok, nil
		}
		if rerr != nil {
			return status, ok, rerr
		}
	}
}

// keepPartial holds the unterminated end of the input, or starts skipping
// when the line has outgrown maxLine.
func (t *tail) keepPartial(b []byte) {
	if t.skipping {
		return
	}
	if len(t.partial)+len(b) > maxLine {
		t.partial = nil
		t.skipping = true
		return
	}
	t.partial = append(t.partial, b...)
}
