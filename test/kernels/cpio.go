package kernels

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// The cpio "newc" format (SVR4 without checksums) is what the kernel
// unpacks as an initramfs (Documentation/driver-api/early-userspace/
// buffer-format.rst). Each entry is a 110-byte ASCII header of "070701" and
// thirteen 8-digit hex fields, the NUL-terminated name, padding to 4 bytes,
// the data, padding to 4 bytes. "TRAILER!!!" ends the archive. Writing it
// here keeps the harness free of a cpio binary and, since device nodes are
// just header fields, free of root for mknod.

// File modes as the header stores them (the st_mode bits).
const (
	modeDir     = 0o040000
	modeRegular = 0o100000
	modeSymlink = 0o120000
	modeCharDev = 0o020000
)

// Entry is one file of an initramfs.
type Entry struct {
	Name string // path inside the archive, without a leading slash
	Mode uint32 // type and permission bits, e.g. modeRegular|0o755

	// Exactly one of these gives a regular file's content; a symlink's
	// target is in Data.
	Data   []byte
	Source string // a host file copied in

	// Major and Minor are a device node's numbers.
	Major, Minor uint32
}

// Dir, File, Symlink and CharDev build entries.
func Dir(name string) Entry { return Entry{Name: name, Mode: modeDir | 0o755} }

func FileData(name string, perm uint32, data []byte) Entry {
	return Entry{Name: name, Mode: modeRegular | perm, Data: data}
}

func FileFrom(name string, perm uint32, source string) Entry {
	return Entry{Name: name, Mode: modeRegular | perm, Source: source}
}

func Symlink(name, target string) Entry {
	return Entry{Name: name, Mode: modeSymlink | 0o777, Data: []byte(target)}
}

func CharDev(name string, perm, major, minor uint32) Entry {
	return Entry{Name: name, Mode: modeCharDev | perm, Major: major, Minor: minor}
}

// WriteInitramfs writes the entries as a newc archive. Parent directories
// must come before their children (the kernel does not create them).
func WriteInitramfs(w io.Writer, entries []Entry) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	cw := &countingWriter{w: bw}
	for i, e := range entries {
		if err := writeEntry(cw, uint32(i+1), e); err != nil {
			return fmt.Errorf("cpio entry %s: %w", e.Name, err)
		}
	}
	if err := writeHeader(cw, 0, Entry{Name: "TRAILER!!!"}, 0); err != nil {
		return fmt.Errorf("cpio trailer: %w", err)
	}
	return bw.Flush()
}

func writeEntry(cw *countingWriter, ino uint32, e Entry) error {
	if e.Name == "" || strings.HasPrefix(e.Name, "/") || path.Clean(e.Name) != e.Name {
		return fmt.Errorf("name must be a clean relative path")
	}
	var size int64
	var src *os.File
	switch {
	case e.Source != "":
		f, err := os.Open(e.Source)
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		src, size = f, fi.Size()
	default:
		size = int64(len(e.Data))
	}
	if size > 0xffffffff {
		return fmt.Errorf("%d bytes is more than newc's 32-bit size field holds", size)
	}
	if err := writeHeader(cw, ino, e, uint32(size)); err != nil {
		return err
	}
	if src != nil {
		n, err := io.Copy(cw, src)
		if err != nil {
			return err
		}
		if n != size {
			return fmt.Errorf("%s changed size while being copied", e.Source)
		}
	} else if _, err := cw.Write(e.Data); err != nil {
		return err
	}
	return cw.pad4()
}

func writeHeader(cw *countingWriter, ino uint32, e Entry, size uint32) error {
	nlink := uint32(1)
	if e.Mode&0o170000 == modeDir {
		nlink = 2
	}
	// ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor,
	// rdevmajor, rdevminor, namesize (with the NUL), check.
	hdr := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		ino, e.Mode, 0, 0, nlink, 0, size, 0, 0, e.Major, e.Minor, len(e.Name)+1, 0)
	if _, err := io.WriteString(cw, hdr+e.Name+"\x00"); err != nil {
		return err
	}
	return cw.pad4()
}

// countingWriter tracks the offset for newc's 4-byte alignment.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func (c *countingWriter) pad4() error {
	if rem := c.n % 4; rem != 0 {
		_, err := c.Write(make([]byte, 4-rem))
		return err
	}
	return nil
}
