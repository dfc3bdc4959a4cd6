package codegen

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/check"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/parser"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/lang/program"
	"github.com/xtrace-dev/kubectl-xtrace/pkg/tools"
)

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("loading eBPF programs needs root")
	}
}

// compile parses, checks and compiles src.
func compile(t testing.TB, env program.Env, src string, opts Options) *program.Spec {
	t.Helper()
	prog, err := parser.ParseFile("test.bt", src)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	info, err := check.Check(prog)
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	spec, err := Compile(prog, info, env, opts)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return spec
}

// load loads every program and map of spec into the kernel.
func load(t testing.TB, spec *program.Spec) *ebpf.Collection {
	t.Helper()
	coll, err := ebpf.NewCollection(spec.Collection)
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			log := fmt.Sprintf("%+v", ve)
			if lines := strings.Split(log, "\n"); len(lines) > 60 {
				log = strings.Join(lines[len(lines)-60:], "\n")
			}
			t.Fatalf("load: %v\n%s", err, log)
		}
		t.Fatalf("load: %v", err)
	}
	t.Cleanup(func() { coll.Close() })
	return coll
}

// loadPrograms are compiled and loaded (not attached): the bpftrace
// one-liner tutorial (lesson 12, struct casts, is outside the language
// subset) and every builtin, function and aggregation.
var loadPrograms = []struct{ name, src string }{
	{"tutorial 1 hello", `BEGIN { printf("hello world\n"); }`},
	{"tutorial 2 openat", `tracepoint:syscalls:sys_enter_openat { printf("%s %s\n", comm, str(args->filename)); }`},
	{"tutorial 3 syscall counts", `tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }`},
	{"tutorial 4 read bytes", `tracepoint:syscalls:sys_exit_read /pid == 18644/ { @bytes = hist(args->ret); }`},
	{"tutorial 5 lhist", `kretprobe:vfs_read { @bytes = lhist(retval, 0, 2000, 200); }`},
	{"tutorial 6 read latency", `kprobe:vfs_read { @start[tid] = nsecs; } kretprobe:vfs_read /@start[tid]/ { @ns[comm] = hist(nsecs - @start[tid]); delete(@start[tid]); }`},
	{"tutorial 7 sched wildcard", `tracepoint:sched:sched* { @[probe] = count(); } interval:s:5 { exit(); }`},
	{"tutorial 8 profile", `profile:hz:99 { @[kstack] = count(); }`},
	{"tutorial 9 sched_switch", `tracepoint:sched:sched_switch { @[kstack] = count(); }`},
	{"tutorial 10 block io", `tracepoint:block:block_rq_issue { @ = hist(args.bytes); }`},
	{"tutorial 11 string predicate", `tracepoint:syscalls:sys_enter_openat /comm == "bash"/ { printf("%s\n", str(args.filename)); }`},
	{"int builtins", `tracepoint:syscalls:sys_enter_getpid { printf("%d %d %d %d %llu %llu %d %llu %u\n", pid, tid, uid, gid, nsecs, elapsed, cpu, cgroup, rand); }`},
	{"kprobe args", `kprobe:vfs_read { @[func, probe] = sum(arg2); printf("%x %x %x %x %x %x\n", arg0, arg1, arg2, arg3, arg4, arg5); }`},
	{"kretprobe retval", `kretprobe:vfs_read /retval > 0/ { @f[func] = count(); @r = stats(retval); @mn = min(retval); @mx = max(retval); @a = avg(retval); }`},
	{"uprobe", `uprobe:/bin/bash:readline { printf("%s %s\n", usym(arg0), func); @[ustack] = count(); }`},
	{"uretprobe", `uretprobe:/bin/bash:readline { printf("%s\n", str(retval)); }`},
	{"rawtracepoint", `rawtracepoint:sys_enter { @[arg1] = count(); @k[kstack] = count(); }`},
	{"interval", `interval:ms:100 { @ticks++; if (@ticks > 10) { exit(); } }`},
	{"profile ustack", `profile:hz:49 /pid != 0/ { @[ustack, comm] = count(); @s[kstack()] = count(); @u[ustack()] = count(); }`},
	{"ksym", `kprobe:vfs_read { @[ksym(arg0)] = count(); printf("%s\n", ksym(arg1)); }`},
	{"str n", `tracepoint:syscalls:sys_enter_openat { $s = str(args.filename, 8); @[$s] = count(); }`},
	{"data_loc", `tracepoint:sched:sched_process_exec { printf("%s %d\n", str(args.filename), args.pid); }`},
	{"char array field", `tracepoint:sched:sched_switch { @[args.prev_comm, args.next_comm] = count(); printf("%s\n", args.next_comm); }`},
	{"scratch vars", `BEGIN { $a = 1; $b = $a + 2; $a += $b; $a++; --$b; $s = "hi"; $s = comm; $t = (1, "x", comm); printf("%d %d %s\n", $a, $b, $s); print($t); }`},
	{"operators", `BEGIN { $x = 7; $y = -3; printf("%d %d %d %d %d %d %d %d %d %d %d\n", $x + $y, $x - $y, $x * $y, $x / 2, $x % 4, $x & 3, $x | 8, $x ^ 1, $x << 2, $x >> 1, ~$x); printf("%d %d %d %d %d %d %d %d %d\n", $x < $y, $x <= $y, $x > $y, $x >= $y, $x == 7, $x != 7, !$x, $x && $y, $x || 0); }`},
	{"ternary strings", `BEGIN { $s = 1 ? "yes" : "no"; @m[$s] = 1 > 0 ? comm : "x"; printf("%s\n", $s); }`},
	{"string compare", `BEGIN { $a = comm; if ($a == "bash" || $a != comm) { printf("eq\n"); } else if (comm == $a) { return; } }`},
	{"map ops", `BEGIN { @a = 1; @a += 2; @a -= 1; @a *= 3; @a /= 2; @a %= 5; @a <<= 1; @a >>= 1; @a &= 7; @a |= 8; @a ^= 1; @b[1, "x"]++; @b[2, "y"]--; @c = @a + @b[1, "x"]; }`},
	{"print clear zero delete", `BEGIN { @c[1] = count(); @h = hist(5); @l = lhist(5, 0, 100, 10); @v[1] = 2; print(@c); print(@h, 10); print(@l, 5, 2); clear(@c); zero(@h); delete(@v[1]); delete(@v, 2); print(1 + 2); print(comm); print((1, "two")); exit(); }`},
	{"all aggregations keyed", `tracepoint:syscalls:sys_enter_read { @c[comm] = count(); @s[comm] = sum(args.count); @a[comm] = avg(args.count); @mn[comm] = min(args.count); @mx[comm] = max(args.count); @st[comm] = stats(args.count); @h[comm] = hist(args.count); @l[comm] = lhist(args.count, 0, 10000, 1000); }`},
	{"tuple values", `BEGIN { @t = (1, comm, "abc"); @u[pid] = (nsecs, "x"); }`},
	{"long strings to scratch", `tracepoint:syscalls:sys_enter_openat { $a = str(args.filename); $b = str(args.filename); $c = str(args.filename); $d = str(args.filename); $e = str(args.filename); $f = str(args.filename); $g = str(args.filename); $h = str(args.filename); printf("%s %s %s %s %s %s %s %s\n", $a, $b, $c, $d, $e, $f, $g, $h); @[$a, $b, $c] = count(); }`},
	{"wildcard args", `tracepoint:syscalls:sys_enter_openat* { @[probe, str(args.filename)] = count(); }`},
	{"multiple points", `tracepoint:syscalls:sys_enter_getpid, tracepoint:syscalls:sys_enter_getppid { @[probe] = count(); }`},
	{"kprobe wildcard", `kprobe:vfs_read* { @[func] = count(); }`},
	{"str without address space", `BEGIN { @s = str(0); @t = str(0, 3); } interval:s:1 { @u = str(0); }`},
	{"print values", `kprobe:vfs_read { print(func); print(kstack); print(ksym(arg0)); print(probe); print((pid, comm, ksym(arg1))); }`},
	{"predicate strings", `tracepoint:sched:sched_switch /args.prev_comm == args.next_comm || args.prev_comm == "swapper/0"/ { @[args.prev_pid] = count(); }`},
	{"tuple widened by field", `tracepoint:sched:sched_switch { $t = (args.prev_comm, 1); $t = ("x", 2); @[$t] = count(); }`},
	{"tool execsnoop", `tracepoint:syscalls:sys_enter_execve { printf("%-6d %-16s %s\n", pid, comm, str(args.filename)); }`},
	{"tool opensnoop", `tracepoint:syscalls:sys_enter_openat { @filename[tid] = args.filename; }
tracepoint:syscalls:sys_exit_openat /@filename[tid]/ { $ret = args.ret; printf("%-6d %-16s %3d %s\n", pid, comm, $ret, str(@filename[tid])); delete(@filename[tid]); }`},
	{"tool syscount", `tracepoint:raw_syscalls:sys_enter { @syscall[args.id] = count(); @proc[comm] = count(); }`},
	{"tool biolatency", `tracepoint:block:block_rq_issue { @start[args.dev, args.sector] = nsecs; }
tracepoint:block:block_rq_complete /@start[args.dev, args.sector]/ { @usecs = hist((nsecs - @start[args.dev, args.sector]) / 1000); delete(@start[args.dev, args.sector]); }`},
	{"tool tcp states", `tracepoint:sock:inet_sock_set_state /args.protocol == 6/ { printf("%d %d %d %d\n", args.oldstate, args.newstate, args.sport, args.dport); }`},
	{"END", `BEGIN { @start = nsecs; } END { printf("%llu\n", nsecs - @start); }`},
}

func TestLoad(t *testing.T) {
	requireRoot(t)
	env := newTestEnv(t)
	for _, tt := range loadPrograms {
		t.Run(tt.name, func(t *testing.T) {
			spec := compile(t, env, tt.src, Options{})
			load(t, spec)
		})
	}
}

// TestLoadScoped loads one program with every scope mode.
func TestLoadScoped(t *testing.T) {
	requireRoot(t)
	env := newTestEnv(t)
	scopes := []program.Scope{
		{Mode: program.ScopeCgroup, CgroupID: 1234, CgroupLevel: 3},
		{Mode: program.ScopeCgroup, CgroupID: 1234, CgroupLevel: -1},
		{Mode: program.ScopePidNS, PidNamespaces: []program.PidNS{{Dev: 4, Ino: 4026531836}, {Dev: 4, Ino: 4026532000}}},
		{Mode: program.ScopePid, Pid: 1},
	}
	for _, s := range scopes {
		t.Run(fmt.Sprint(s.Mode), func(t *testing.T) {
			spec := compile(t, env, `tracepoint:syscalls:sys_enter_getpid { @ = count(); }`, Options{Scope: s})
			load(t, spec)
		})
	}
}

// TestLoadTools compiles and loads every program of the tool library.
func TestLoadTools(t *testing.T) {
	requireRoot(t)
	env := newTestEnv(t)
	for _, name := range tools.Names() {
		t.Run(name, func(t *testing.T) {
			src, _ := tools.Lookup(name)
			load(t, compile(t, env, src, Options{}))
		})
	}
}

// TestLoadLongStrings loads string-heavy programs with bpftrace's largest
// 0.17 string size (200) and with 1024 bytes, which only the scratch buffer
// can hold.
func TestLoadLongStrings(t *testing.T) {
	requireRoot(t)
	env := newTestEnv(t)
	src := `tracepoint:syscalls:sys_enter_openat /str(args.filename) != comm && str(args.filename) == "/etc/passwd"/ {
	$a = str(args.filename); $b = $a;
	@[$a, $b, comm] = count();
	@last[pid] = $a;
	printf("%s %s %s\n", $a, $b, @last[pid]);
}`
	for _, n := range []int{200, 1024} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			spec := compile(t, env, src, Options{StrLen: n})
			if got := spec.Maps[0].Keys[0].Size; got != (n+7)&^7 {
				t.Errorf("string key size %d, want %d", got, (n+7)&^7)
			}
			load(t, spec)
		})
	}
}
