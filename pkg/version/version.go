// Package version holds the build's identity. The release build sets these
// variables with -ldflags, for example:
//
//	-X github.com/xtrace-dev/kubectl-xtrace/pkg/version.Version=v0.3.0
//	-X github.com/xtrace-dev/kubectl-xtrace/pkg/version.Commit=$(git rev-parse HEAD)
//	-X github.com/xtrace-dev/kubectl-xtrace/pkg/version.DefaultImage=ghcr.io/xtrace-dev/xtrace-runner:v0.3.0
//
// They are plain string variables initialised with constants, because the
// linker can only replace those.
package version

// ImageRepository is where release runner images are published.
const ImageRepository = "ghcr.io/xtrace-dev/xtrace-runner"

var (
	// Version is the plugin's release version.
	Version = "v0.0.0-dev"
	// Commit is the git commit the binary was built from.
	Commit = "unknown"
	// DefaultImage is the runner image `run` uses without --image. A
	// release sets it to ImageRepository + ":" + Version so that plugin and
	// runner always speak the same spec and record format versions.
	DefaultImage = ImageRepository + ":v0.0.0-dev"
)
