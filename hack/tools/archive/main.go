// Command archive writes a release archive: .tar.gz for Unix platforms, .zip
// for Windows (what krew expects on each). The files sit at the archive's
// root with fixed owners and the SOURCE_DATE_EPOCH timestamp, so the same
// inputs give byte-identical archives and sha256 sums. It exists because a
// bare machine may lack zip, and tar's reproducibility flags differ by system.
//
//	archive -o dist/kubectl-xtrace_linux_amd64.tar.gz -C _output/release/linux_amd64 kubectl-xtrace LICENSE
package main

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

func main() {
	out := flag.String("o", "", "output archive (.tar.gz or .zip)")
	dir := flag.String("C", ".", "directory the files are read from")
	flag.Parse()
	if *out == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: archive -o OUT.tar.gz|OUT.zip [-C DIR] FILE...")
		os.Exit(2)
	}
	if err := run(*out, *dir, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "archive:", err)
		os.Exit(1)
	}
}

func run(out, dir string, names []string) error {
	mtime, err := sourceDateEpoch()
	if err != nil {
		return err
	}
	var write func(io.Writer, string, []string, time.Time) error
	switch {
	case strings.HasSuffix(out, ".tar.gz"):
		write = writeTarGz
	case strings.HasSuffix(out, ".zip"):
		write = writeZip
	default:
		return fmt.Errorf("%s: want a .tar.gz or .zip name", out)
	}
	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // a no-op after the rename
	if err := write(f, dir, names, mtime); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", out, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

func sourceDateEpoch() (time.Time, error) {
	v := os.Getenv("SOURCE_DATE_EPOCH")
	if v == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: %w", v, err)
	}
	return time.Unix(n, 0).UTC(), nil
}

// mode keeps the executable bit and nothing else of the source file's mode.
func mode(fi os.FileInfo) int64 {
	if fi.Mode()&0o111 != 0 {
		return 0o755
	}
	return 0o644
}

func writeTarGz(w io.Writer, dir string, names []string, mtime time.Time) error {
	gz, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	gz.ModTime = mtime
	tw := tar.NewWriter(gz)
	for _, n := range names {
		f, err := os.Open(filepath.Join(dir, n))
		if err != nil {
			return err
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return err
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: n, Size: fi.Size(), Mode: mode(fi), ModTime: mtime, Uname: "root", Gname: "root"}
		if err := tw.WriteHeader(hdr); err != nil {
			f.Close()
			return err
		}
		_, err = io.Copy(tw, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

func writeZip(w io.Writer, dir string, names []string, mtime time.Time) error {
	zw := zip.NewWriter(w)
	for _, n := range names {
		f, err := os.Open(filepath.Join(dir, n))
		if err != nil {
			return err
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return err
		}
		hdr := &zip.FileHeader{Name: n, Method: zip.Deflate, Modified: mtime}
		hdr.SetMode(os.FileMode(mode(fi)))
		zf, err := zw.CreateHeader(hdr)
		if err != nil {
			f.Close()
			return err
		}
		_, err = io.Copy(zf, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
	}
	return zw.Close()
}
