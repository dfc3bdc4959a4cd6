// Command image builds a container image from local files only, with no
// registry and no Docker daemon, and writes it as a docker-archive tarball
// that `ctr images import`, `docker load` and `kind load image-archive` all
// accept. The image is one layer holding the given files (a static binary is
// all the runner needs), on an empty base, so it is about the size of the
// binary.
//
//	image -o dist/xtrace-runner-image.tar -t ghcr.io/xtrace-dev/xtrace-runner:v0.1.0 \
//	      -f bin/trace-runner:/trace-runner -dir /tmp -entrypoint /trace-runner \
//	      -label org.opencontainers.image.version=v0.1.0 -platform linux/amd64
//
// The build is reproducible: every timestamp is SOURCE_DATE_EPOCH (default 0),
// so the same binary gives the same image digest.
package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// list is a repeatable string flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(s string) error { *l = append(*l, s); return nil }

// spec is everything one image is built from.
type spec struct {
	out        string
	tag        string
	platform   string   // os/arch[/variant]
	files      []string // SRC:DEST
	dirs       []string // empty directories, mode 01777 (for /tmp)
	entrypoint []string
	cmd        []string
	env        []string
	labels     map[string]string
	created    time.Time
}

func main() {
	var files, dirs, entry, cmd, env, labels list
	s := spec{}
	flag.StringVar(&s.out, "o", "", "output docker-archive tarball")
	flag.StringVar(&s.tag, "t", "", "image reference, e.g. ghcr.io/xtrace-dev/xtrace-runner:v0.1.0")
	flag.StringVar(&s.platform, "platform", "linux/amd64", "os/arch of the image")
	flag.Var(&files, "f", "SRC:DEST file to add, mode 0755 (repeatable)")
	flag.Var(&dirs, "dir", "empty directory to add, mode 01777 (repeatable)")
	flag.Var(&entry, "entrypoint", "entrypoint element (repeatable)")
	flag.Var(&cmd, "cmd", "cmd element (repeatable)")
	flag.Var(&env, "env", "KEY=VALUE environment entry (repeatable)")
	flag.Var(&labels, "label", "KEY=VALUE image label (repeatable)")
	flag.Parse()
	if s.out == "" || s.tag == "" || len(files) == 0 || flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	s.files, s.dirs, s.entrypoint, s.cmd, s.env = files, dirs, entry, cmd, env
	s.labels = map[string]string{}
	for _, l := range labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			fail(fmt.Errorf("bad -label %q, want KEY=VALUE", l))
		}
		s.labels[k] = v
	}
	created, err := sourceDateEpoch()
	if err != nil {
		fail(err)
	}
	s.created = created

	digest, err := build(s)
	if err != nil {
		fail(err)
	}
	st, err := os.Stat(s.out)
	if err != nil {
		fail(err)
	}
	fmt.Printf("wrote %s: %s %s (%s), %.1f MiB\n", s.out, s.tag, s.platform, digest, float64(st.Size())/(1<<20))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "image:", err)
	os.Exit(1)
}

// sourceDateEpoch returns the time every timestamp in the image gets.
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

// build writes the image and returns its manifest digest.
func build(s spec) (string, error) {
	ref, err := name.NewTag(s.tag)
	if err != nil {
		return "", fmt.Errorf("image reference %q: %w", s.tag, err)
	}
	plat, err := v1.ParsePlatform(s.platform)
	if err != nil {
		return "", fmt.Errorf("platform %q: %w", s.platform, err)
	}
	layerTar, err := layer(s.files, s.dirs, s.created)
	if err != nil {
		return "", err
	}
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return "", fmt.Errorf("layer: %w", err)
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{
		Layer:   l,
		History: v1.History{Created: v1.Time{Time: s.created}, CreatedBy: "hack/tools/image", Comment: "static files"},
	})
	if err != nil {
		return "", fmt.Errorf("append layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return "", fmt.Errorf("config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = plat.OS, plat.Architecture, plat.Variant
	cf.Created = v1.Time{Time: s.created}
	cf.Config.Entrypoint = s.entrypoint
	cf.Config.Cmd = s.cmd
	cf.Config.Env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, s.env...)
	cf.Config.Labels = s.labels
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return "", fmt.Errorf("config: %w", err)
	}
	digest, err := img.Digest()
	if err != nil {
		return "", fmt.Errorf("digest: %w", err)
	}
	// Write next to the destination and rename, so a failed build never
	// leaves a truncated tarball that a later import would choke on.
	tmp := s.out + ".tmp"
	if err := tarball.WriteToFile(tmp, ref, img); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("write %s: %w", s.out, err)
	}
	if err := os.Rename(tmp, s.out); err != nil {
		return "", fmt.Errorf("write %s: %w", s.out, err)
	}
	return digest.String(), nil
}

// layer returns an uncompressed tar stream holding the files (mode 0755) and
// empty directories (mode 01777), with parent directories created as needed
// and entries in a fixed order.
func layer(files, dirs []string, mtime time.Time) ([]byte, error) {
	type entry struct {
		hdr  *tar.Header
		data []byte
	}
	entries := map[string]entry{}
	addParents := func(p string) {
		for d := path.Dir(p); d != "/" && d != "."; d = path.Dir(d) {
			if _, ok := entries[d]; !ok {
				entries[d] = entry{hdr: &tar.Header{Typeflag: tar.TypeDir, Mode: 0o755}}
			}
		}
	}
	for _, d := range dirs {
		d = path.Clean(d)
		if !path.IsAbs(d) || d == "/" {
			return nil, fmt.Errorf("bad -dir %q, want an absolute path below /", d)
		}
		addParents(d)
		entries[d] = entry{hdr: &tar.Header{Typeflag: tar.TypeDir, Mode: 0o1777}}
	}
	for _, f := range files {
		src, dst, ok := strings.Cut(f, ":")
		dst = path.Clean(dst)
		if !ok || src == "" || !path.IsAbs(dst) || dst == "/" {
			return nil, fmt.Errorf("bad -f %q, want SRC:/DEST", f)
		}
		data, err := os.ReadFile(src)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", src, err)
		}
		addParents(dst)
		entries[dst] = entry{hdr: &tar.Header{Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(data))}, data: data}
	}
	if len(entries) == 0 {
		return nil, errors.New("empty layer")
	}
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Strings(names) // parents sort before their children

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		e := entries[n]
		e.hdr.Name = strings.TrimPrefix(n, "/")
		if e.hdr.Typeflag == tar.TypeDir {
			e.hdr.Name += "/"
		}
		e.hdr.ModTime = mtime
		if err := tw.WriteHeader(e.hdr); err != nil {
			return nil, fmt.Errorf("tar %s: %w", n, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, fmt.Errorf("tar %s: %w", n, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("tar: %w", err)
	}
	return buf.Bytes(), nil
}
