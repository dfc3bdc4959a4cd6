//go:build kernels

package kernels

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// suite is one test binary and the tests in it that must PASS in each
// boot. A selected test that is skipped, fails or does not run fails the
// suite ("it compiled but never ran" must not look like success), and
// every test of the package must be selected for some boot or excluded
// with a reason.
type suite struct {
	name string   // binary name in the guest
	pkg  string   // package to build, relative to the module root
	tags []string // build tags
	// testdata is copied next to the binary (relative to the module root).
	testdata string
	// boots lists, per cgroup layout, the tests that run in that boot.
	boots map[Cgroups][]string
	// everywhere: every test of the package except the excluded ones runs
	// in these boots, on top of boots.
	everywhere []Cgroups
	// exclude names tests that cannot run in the guest, and why.
	exclude map[string]string
	// skip is a -test.skip pattern for subtests that cannot run in the
	// guest (say why next to it).
	skip string
	// timeout is the binary's -test.timeout (default DefaultTestTimeout).
	timeout time.Duration
}

var suites = []suite{
	{
		name:    "guest",
		pkg:     "./test/kernels/guest",
		tags:    []string{"kernels_guest"},
		timeout: 2 * time.Minute, // ≈20 s of traces on a quiet host
		boots: map[Cgroups][]string{
			// Pure cgroup v2: the kprobe paths of the compiler and runner,
			// and scoping by cgroup id.
			CgroupV2: {
				"TestCgroupV2Only",
				"TestKprobeAsm",
				"TestLangKprobeCount",
				"TestLangKprobeArgs",
				"TestLangKretprobeRetval",
				"TestLangKprobeBuiltins",
				"TestLangKprobePrintfExit",
				"TestLangKprobeErrors",
				"TestRunnerStopsOnCancel",
				"TestRunnerStopsAtDuration",
				"TestTutorialReadBytes",
				"TestTutorialReadLatency",
				"TestScopeCgroupV2Local",
				"TestScopePodCgroupV2",
				"TestToolsAttach",
			},
			// Pure cgroup v1: the pid namespace fallback, and refusing to
			// run unscoped.
			CgroupV1: {
				"TestCgroupV1Only",
				"TestKprobeAsm",
				"TestScopePodPidNSV1",
				"TestScopeContainerPidNSV1",
				"TestScopeV1NeverUnscoped",
				"TestScopePidLocal",
			},
		},
	},
	// The packages' own tests, which skip or only load programs on this
	// machine's kernel, run in full on the guest's.
	{
		name:       "attach",
		pkg:        "./pkg/attach",
		testdata:   "pkg/attach/testdata",
		everywhere: []Cgroups{CgroupV2},
		exclude: map[string]string{
			"TestUprobe": "builds its targets with the go tool and a C compiler, which the guest lacks (it passes on the host)",
		},
	},
	{
		name:       "codegen",
		pkg:        "./pkg/lang/codegen",
		timeout:    2 * time.Minute, // ~100 tests, 15 s on a quiet host
		everywhere: []Cgroups{CgroupV2},
		exclude: map[string]string{
			"TestRunUprobe": "probes glibc, which the guest lacks (it passes on the host)",
		},
	},
	{
		name:       "lang",
		pkg:        "./pkg/lang",
		everywhere: []Cgroups{CgroupV2},
	},
	{
		name:       "runner",
		pkg:        "./pkg/runner",
		everywhere: []Cgroups{CgroupV2},
		exclude: map[string]string{
			"TestSameOutputAsBpftrace": "compares with the bpftrace binary, which the guest lacks (it runs on the host)",
		},
		// Expects kprobes to be missing, as on the host; the guest has
		// them (TestLangKprobe* in ./guest cover attaching).
		skip: "^TestRunErrors$/^kprobe_on_a_kernel_without_kprobes$",
	},
	{
		name:       "scope",
		pkg:        "./pkg/scope",
		everywhere: []Cgroups{CgroupV2},
		boots: map[Cgroups][]string{
			CgroupV1: {"TestPidNSScopeCountsOnlyTheTarget", "TestPidNamespaceFallback", "TestForPid"},
		},
	},
}

// testsFor returns the tests of s that run in a boot, given all its tests.
func (s suite) testsFor(layout Cgroups, all []string) []string {
	tests := slices.Clone(s.boots[layout])
	if slices.Contains(s.everywhere, layout) {
		for _, name := range all {
			if _, excluded := s.exclude[name]; !excluded && !slices.Contains(tests, name) {
				tests = append(tests, name)
			}
		}
	}
	return tests
}

// timeoutScale multiplies every guest test timeout, for machines slower
// than the 2-core VM these were measured on: XTRACE_KERNELS_TIMEOUT_SCALE=2.
func timeoutScale(t *testing.T) float64 {
	s := os.Getenv("XTRACE_KERNELS_TIMEOUT_SCALE")
	if s == "" {
		return 1
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 {
		t.Fatalf("XTRACE_KERNELS_TIMEOUT_SCALE=%q: want a positive number", s)
	}
	return f
}

func TestKernels(t *testing.T) {
	if os.Geteuid() != 0 {
		// Not a skip: the make target that runs this is meant to prove the
		// kernel paths, and a green run without them would mislead.
		t.Fatal("the real-kernel tests need root (setup.sh installs Debian packages; the guest runs as root anyway)")
	}
	begin := time.Now()
	ctx := context.Background()
	tools, err := Setup(ctx, func(s string) { t.Log(s) })
	if err != nil {
		t.Fatalf("preparing qemu and the kernel: %v", err)
	}
	t.Logf("kernel %s, qemu %s", tools.Kernel, tools.Qemu)

	dir := t.TempDir()
	buildStart := time.Now()
	// A package that does not build fails its own subtests; the others
	// still boot, so one half-written package does not hide the rest.
	bins := make(map[string]string)
	lists := make(map[string][]string)
	buildErrs := make(map[string]error)
	for _, s := range suites {
		out := filepath.Join(dir, s.name+".test")
		if err := BuildTestBinary(ctx, s.pkg, s.tags, out); err != nil {
			buildErrs[s.name] = fmt.Errorf("building the tests of %s for the guest: %w", s.pkg, err)
			continue
		}
		all, err := checkListed(t, s, out)
		if err != nil {
			buildErrs[s.name] = err
			continue
		}
		bins[s.name] = out
		lists[s.name] = all
	}
	t.Logf("built %d test binaries in %s", len(suites), time.Since(buildStart).Round(time.Millisecond))

	scale := timeoutScale(t)
	var summary []string // printed last, where a reader of the log looks
	for _, layout := range []Cgroups{CgroupV2, CgroupV1} {
		t.Run("cgroup"+string(layout), func(t *testing.T) {
			boot := &Boot{Tools: tools, Cgroups: layout, Dir: t.TempDir(), Log: func(s string) { t.Log(s) }}
			want := map[string][]string{}
			for _, s := range suites {
				if buildErrs[s.name] != nil {
					continue
				}
				tests := s.testsFor(layout, lists[s.name])
				if len(tests) == 0 {
					continue
				}
				want[s.name] = tests
				b := Binary{
					Name:    s.name,
					Path:    bins[s.name],
					Args:    []string{"-test.run=^(" + strings.Join(tests, "|") + ")$"},
					Timeout: time.Duration(float64(cmp.Or(s.timeout, DefaultTestTimeout)) * scale),
				}
				if s.skip != "" {
					b.Args = append(b.Args, "-test.skip="+s.skip)
				}
				if s.testdata != "" {
					root, err := ModuleRoot()
					if err != nil {
						t.Fatal(err)
					}
					b.TestData = filepath.Join(root, s.testdata)
				}
				boot.Binaries = append(boot.Binaries, b)
			}
			res, err := boot.Start(ctx)
			if res != nil && res.BootTime > 0 {
				summary = append(summary, fmt.Sprintf("cgroup %s: boot to /init %s (guest uptime %ss), all tests done after %s",
					layout, res.BootTime.Round(time.Millisecond), res.Uptime, res.Total.Round(time.Millisecond)))
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range suites {
				if err := buildErrs[s.name]; err != nil {
					if len(s.boots[layout]) > 0 || slices.Contains(s.everywhere, layout) {
						t.Run(s.name, func(t *testing.T) { t.Fatal(err) })
					}
					continue
				}
				tests := want[s.name]
				if tests == nil {
					continue
				}
				t.Run(s.name, func(t *testing.T) { checkRun(t, res.Run(s.name), tests) })
			}
		})
	}
	for _, s := range summary {
		t.Log(s)
	}
	t.Logf("total %s", time.Since(begin).Round(time.Millisecond))
}

// checkRun fails for a binary that failed, or whose listed tests did not
// all pass.
func checkRun(t *testing.T, r *Run, tests []string) {
	if r == nil {
		t.Fatal("the binary never started in the guest")
	}
	t.Logf("ran in %s: exit %d, %d passed, %d failed, %d skipped", r.Duration.Round(time.Millisecond), r.ExitCode, len(r.Passed), len(r.Failed), len(r.Skipped))
	for _, name := range r.Failed {
		t.Errorf("FAIL in the guest: %s", name)
	}
	for _, name := range r.Skipped {
		t.Errorf("skipped in the guest (every selected test must run here): %s", name)
	}
	for _, name := range tests {
		if !slices.Contains(r.Passed, name) {
			t.Errorf("%s did not pass in the guest", name)
		}
	}
	if r.ExitCode != 0 && len(r.Failed) == 0 {
		t.Errorf("the test binary exited with %d (a panic, timeout or build problem: see the console above)", r.ExitCode)
	}
}

var testFuncRE = regexp.MustCompile(`^Test\w+$`)

// checkListed returns the top-level tests of a suite's binary and fails
// the test for one that is in no boot and not excluded: it would never run.
func checkListed(t *testing.T, s suite, bin string) ([]string, error) {
	t.Helper()
	out, err := listTests(bin)
	if err != nil {
		return nil, fmt.Errorf("listing the tests of %s: %w", s.pkg, err)
	}
	var all []string
	for _, name := range out {
		if testFuncRE.MatchString(name) {
			all = append(all, name)
		}
	}
	for name := range s.exclude {
		if !slices.Contains(all, name) {
			t.Errorf("suite %q excludes %s, which %s no longer has", s.name, name, s.pkg)
		}
	}
	for _, name := range all {
		listed := false
		for _, layout := range []Cgroups{CgroupV1, CgroupV2} {
			listed = listed || slices.Contains(s.testsFor(layout, all), name)
		}
		if _, excluded := s.exclude[name]; !listed && !excluded {
			t.Errorf("%s.%s runs in no boot: add it to a boot of suite %q in kernels_test.go", s.pkg, name, s.name)
		}
	}
	return all, nil
}
