// gocheck reads a tar.gz the way containerd and Docker do (Go's compress/gzip, multistream by
// default, and archive/tar) and prints one line per entry (quoted name, type flag, size, sha256
// of the logical content) and then the sha256 of the whole decompressed stream (the diffID).
// Used by tests/converter/compat_test.cc; standard library only.
package main

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
)

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gocheck:", err)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gocheck LAYER.tar.gz")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fail(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		fail(err)
	}
	stream := sha256.New()
	tr := tar.NewReader(io.TeeReader(zr, stream))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			fail(err)
		}
		h := sha256.New()
		n, err := io.Copy(h, tr)
		if err != nil {
			fail(err)
		}
		fmt.Printf("%q %c %d %d %x %q\n", hdr.Name, hdr.Typeflag, hdr.Size, n, h.Sum(nil), hdr.Linkname)
	}
	// The rest of the stream (end-of-archive blocks, padding) belongs to the diffID too.
	if _, err := io.Copy(stream, zr); err != nil {
		fail(err)
	}
	fmt.Printf("%x\n", stream.Sum(nil))
}
