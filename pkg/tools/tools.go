// Package tools is the library of ready-made tracing programs that ships in
// the binaries: `kubectl xtrace run --tool NAME`. Each tool is a program in
// the xtrace language, kept as a .bt file so it reads like bpftrace's own
// tools and can be copied into -f.
package tools

import (
	"embed"
	"io/fs"
	"sort"
	"strings"
)

//go:embed bt/*.bt
var files embed.FS

// Lookup returns the source of the named tool.
func Lookup(name string) (src string, ok bool) {
	data, err := files.ReadFile("bt/" + name + ".bt")
	if err != nil {
		return "", false
	}
	return string(data), true
}

// Names lists the tools, sorted.
func Names() []string {
	entries, err := fs.ReadDir(files, "bt")
	if err != nil {
		// The directory is embedded at build time, so this cannot happen
		// in a binary that compiled.
		panic(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".bt"))
	}
	sort.Strings(names)
	return names
}

// Summary returns the first line of the tool's leading comment, e.g.
// "execsnoop: trace new processes as they call execve.".
func Summary(name string) string {
	src, ok := Lookup(name)
	if !ok {
		return ""
	}
	line, _, _ := strings.Cut(src, "\n")
	return strings.TrimSpace(strings.TrimPrefix(line, "//"))
}
