package version

import "testing"

// The defaults must agree with each other: a plugin built without -ldflags
// still has to name the runner image of its own version.
func TestDefaultImageMatchesVersion(t *testing.T) {
	if want := ImageRepository + ":" + Version; DefaultImage != want {
		t.Fatalf("DefaultImage = %q, want %q", DefaultImage, want)
	}
}
