# kubectl xtrace: build, test, package.
#
#   make build       bin/kubectl-xtrace and bin/trace-runner (static, version-stamped)
#   make test        unit tests, and the real-kernel tests when run as root
#   make image       runner image as a docker-archive: dist/xtrace-runner-image.tar
#   make e2e         cluster up -> runner image loaded -> test/e2e -> cluster down
#   make krew-test   release archives + manifest, installed with a real krew and kubectl
#   make test-kernels  the real-kernel tests on a second kernel under qemu
#   make test-all    deps + all of the above that test (what CI runs)
#   make release     dist/ archives for every platform and plugins/xtrace.yaml
#   make bench | fuzz | clean | cluster-up | cluster-down
#
# Docs: docs/development.md.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

MODULE := github.com/xtrace-dev/kubectl-xtrace
GO ?= go

# v1.2.3 on a tag; v1.2.3-4-gabcdef[-dirty] after one; without any v* tag a
# semver pre-release built from the commit (krew and image tags need semver
# and [A-Za-z0-9_.-]); v0.0.0-dev outside git.
GIT_DESCRIBE := $(shell git describe --tags --always --dirty --match 'v[0-9]*' 2>/dev/null)
VERSION ?= $(if $(filter v%,$(GIT_DESCRIBE)),$(GIT_DESCRIBE),$(if $(GIT_DESCRIBE),v0.0.0-dev.g$(GIT_DESCRIBE),v0.0.0-dev))
COMMIT ?= $(or $(shell git rev-parse HEAD 2>/dev/null),unknown)
# Commit time: the timestamp inside archives and images, for reproducible builds.
SOURCE_DATE_EPOCH ?= $(or $(shell git log -1 --format=%ct 2>/dev/null),0)
export SOURCE_DATE_EPOCH
IMAGE_REPO ?= ghcr.io/xtrace-dev/xtrace-runner
IMAGE ?= $(IMAGE_REPO):$(VERSION)
IMAGE_ARCH ?= $(shell $(GO) env GOARCH)
IMAGE_TAR ?= dist/xtrace-runner-image.tar

LDFLAGS := -s -w \
	-X $(MODULE)/pkg/version.Version=$(VERSION) \
	-X $(MODULE)/pkg/version.Commit=$(COMMIT) \
	-X $(MODULE)/pkg/version.DefaultImage=$(IMAGE)
GOBUILD := CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)'

RELEASE_PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64
KREW_TEMPLATE := .krew.yaml
KREW_MANIFEST := plugins/xtrace.yaml

FUZZ_PKG ?= ./pkg/lang/parser
FUZZ ?= FuzzParse
FUZZTIME ?= 10m

.PHONY: build test image e2e krew-test test-all deps test-kernels bench release fuzz clean cluster-up cluster-down version

version:
	@echo $(VERSION)

# Go's build cache makes these cheap to re-run, so they are always phony.
build:
	$(GOBUILD) -o bin/kubectl-xtrace ./cmd/kubectl-xtrace
	GOOS=linux $(GOBUILD) -o bin/trace-runner ./cmd/trace-runner

test:
	$(GO) test ./...

# The runner image, daemonless: one layer holding /trace-runner and /tmp on an
# empty base. Load it with `docker load -i`, `ctr -n k8s.io images import` or
# `kind load image-archive`.
image:
	GOOS=linux GOARCH=$(IMAGE_ARCH) $(GOBUILD) -o _output/linux_$(IMAGE_ARCH)/trace-runner ./cmd/trace-runner
	@mkdir -p $(dir $(IMAGE_TAR))
	$(GO) run ./hack/tools/image -o $(IMAGE_TAR) -t $(IMAGE) -platform linux/$(IMAGE_ARCH) \
		-f _output/linux_$(IMAGE_ARCH)/trace-runner:/trace-runner -dir /tmp -entrypoint /trace-runner \
		-label org.opencontainers.image.title=xtrace-runner \
		-label org.opencontainers.image.description="kubectl xtrace trace runner" \
		-label org.opencontainers.image.source=https://$(MODULE) \
		-label org.opencontainers.image.version=$(VERSION) \
		-label org.opencontainers.image.revision=$(COMMIT) \
		-label org.opencontainers.image.licenses=Apache-2.0

# Brings the cluster up, runs the suite, and always brings it down (set
# KEEP_CLUSTER=1 to leave it running for debugging).
e2e:
	hack/e2e.sh

krew-test: release
	$(GO) test -tags krew -count=1 -v ./test/krew

# Installs what the tests need first, so that on a fresh machine this one
# command does all the set-up.
test-all: deps
	hack/test-all.sh

deps:
	hack/install-deps.sh

# The real-kernel tests again, on Debian's 6.1 kernel under qemu, booted once
# with only cgroup v2 and once with only cgroup v1 (docs/kernel-matrix.md).
test-kernels:
	$(GO) test -tags kernels -count=1 -v -timeout 20m ./test/kernels/

bench:
	$(GO) run ./bench

# One archive per platform with the plugin binary and LICENSE, then the krew
# manifest rendered from $(KREW_TEMPLATE) with these archives' sha256 sums.
release:
	@mkdir -p dist
	@rm -f $(KREW_MANIFEST) # never leave a manifest that does not match the archives
	for p in $(RELEASE_PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; ext=; [ $$os = windows ] && ext=.exe; \
		dir=_output/release/$${os}_$${arch}; rm -rf $$dir; mkdir -p $$dir; \
		GOOS=$$os GOARCH=$$arch $(GOBUILD) -o $$dir/kubectl-xtrace$$ext ./cmd/kubectl-xtrace; \
		cp LICENSE $$dir/; \
		fmt=tar.gz; [ $$os = windows ] && fmt=zip; \
		$(GO) run ./hack/tools/archive -o dist/kubectl-xtrace_$${os}_$${arch}.$$fmt -C $$dir kubectl-xtrace$$ext LICENSE; \
	done
	cd dist && sha256sum kubectl-xtrace_*.tar.gz kubectl-xtrace_*.zip > checksums.txt
	@mkdir -p $(dir $(KREW_MANIFEST))
	$(GO) run ./hack/tools/krewmanifest -template $(KREW_TEMPLATE) -tag $(VERSION) -dist dist -o $(KREW_MANIFEST)
	@cat dist/checksums.txt

fuzz:
	@$(GO) test -list '^$(FUZZ)$$' $(FUZZ_PKG) | grep -x '$(FUZZ)' >/dev/null || { echo "make fuzz: no fuzz target $(FUZZ) in $(FUZZ_PKG) (set FUZZ_PKG and FUZZ)" >&2; exit 1; }
	$(GO) test -run '^$$' -fuzz '^$(FUZZ)$$' -fuzztime $(FUZZTIME) $(FUZZ_PKG)

cluster-up:
	hack/cluster/up.sh

cluster-down:
	hack/cluster/down.sh

clean:
	rm -rf bin dist _output $(KREW_MANIFEST)
