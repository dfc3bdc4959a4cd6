// Command krewmanifest renders the krew plugin manifest from the
// krew-release-bot template (.krew.yaml) for a release whose archives are in
// a local directory, the way krew-release-bot does it after a GitHub release
// but reading the archives from disk instead of downloading them:
//
//	krewmanifest -template .krew.yaml -tag v0.1.0 -dist dist -o plugins/xtrace.yaml
//
// The template sees .TagName and .Version; {{ addURIAndSha URL .TagName }}
// expands to "uri: URL" and "sha256: SUM" of dist/<basename of URL>, and
// fails if that archive is missing. The output is checked for the fields
// krew needs before it is written.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"

	"sigs.k8s.io/yaml"
)

func main() {
	tmpl := flag.String("template", ".krew.yaml", "krew-release-bot template")
	tag := flag.String("tag", "", "release tag, e.g. v0.1.0")
	dist := flag.String("dist", "dist", "directory holding the release archives")
	out := flag.String("o", "", "output manifest")
	flag.Parse()
	if *tag == "" || *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*tmpl, *tag, *dist, *out); err != nil {
		fmt.Fprintln(os.Stderr, "krewmanifest:", err)
		os.Exit(1)
	}
}

func run(tmplPath, tag, dist, out string) error {
	src, err := os.ReadFile(tmplPath)
	if err != nil {
		return err
	}
	rendered, err := render(string(src), tag, dist)
	if err != nil {
		return fmt.Errorf("%s: %w", tmplPath, err)
	}
	if err := check(rendered, tag); err != nil {
		return fmt.Errorf("rendered %s: %w", tmplPath, err)
	}
	if err := os.WriteFile(out, rendered, 0o644); err != nil {
		return err
	}
	fmt.Printf("wrote %s (%s)\n", out, tag)
	return nil
}

// values are what krew-release-bot passes to the template.
type values struct {
	TagName string
	Version string
}

func newValues(tag string) values {
	v := regexp.MustCompile(`\d+(\.\d+)+`).FindString(tag)
	if v == "" {
		v = tag
	}
	return values{TagName: tag, Version: v}
}

func render(src, tag, dist string) ([]byte, error) {
	vals := newValues(tag)
	funcs := template.FuncMap{
		"addURIAndSha": func(url, tag string) (string, error) {
			var u bytes.Buffer
			t, err := template.New("url").Parse(url)
			if err != nil {
				return "", err
			}
			if err := t.Execute(&u, newValues(tag)); err != nil {
				return "", err
			}
			sum, err := sha256File(filepath.Join(dist, path.Base(u.String())))
			if err != nil {
				return "", err
			}
			// The same shape (and 4-space indent) as krew-release-bot.
			return fmt.Sprintf("uri: %s\n    sha256: %s", u.String(), sum), nil
		},
		"indent": func(spaces int, v string) string {
			v = strings.ReplaceAll(v, "    sha256:", "sha256:")
			pad := strings.Repeat(" ", spaces)
			return strings.TrimSpace(pad + strings.ReplaceAll(v, "\n", "\n"+pad))
		},
	}
	t, err := template.New("krew").Funcs(funcs).Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, vals); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func sha256File(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", fmt.Errorf("release archive: %w (run make release)", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// manifest is the part of krew's Plugin type this tool checks.
type manifest struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string `json:"version"`
		ShortDescription string `json:"shortDescription"`
		Platforms        []struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			URI    string `json:"uri"`
			Sha256 string `json:"sha256"`
			Bin    string `json:"bin"`
		} `json:"platforms"`
	} `json:"spec"`
}

var sha256Re = regexp.MustCompile(`^[0-9a-f]{64}$`)

func check(doc []byte, tag string) error {
	var m manifest
	// Fields this type does not list are fine: krew validates the whole
	// manifest when the krew test installs it.
	if err := yaml.Unmarshal(doc, &m); err != nil {
		return err
	}
	var errs []error
	if m.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || m.Kind != "Plugin" {
		errs = append(errs, fmt.Errorf("apiVersion/kind %s/%s, want krew.googlecontainertools.github.com/v1alpha2/Plugin", m.APIVersion, m.Kind))
	}
	if m.Metadata.Name == "" || m.Spec.ShortDescription == "" {
		errs = append(errs, errors.New("metadata.name and spec.shortDescription are required"))
	}
	if m.Spec.Version != tag {
		errs = append(errs, fmt.Errorf("spec.version %q, want %q", m.Spec.Version, tag))
	}
	if len(m.Spec.Platforms) == 0 {
		errs = append(errs, errors.New("no platforms"))
	}
	for i, p := range m.Spec.Platforms {
		if p.Selector.MatchLabels["os"] == "" || p.URI == "" || !sha256Re.MatchString(p.Sha256) || p.Bin == "" {
			errs = append(errs, fmt.Errorf("platform %d (%v): needs selector os, uri, sha256 and bin", i, p.Selector.MatchLabels))
		}
	}
	return errors.Join(errs...)
}
