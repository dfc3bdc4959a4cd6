package parser

import "sort"

// Hints turn "unknown" errors into ones that say what was probably meant,
// which matters most for one-liners typed in a hurry during an incident.

// functions are bpftrace's functions. The parser accepts a call to any
// name; this list only serves to tell a user who wrote `count` without
// parentheses that a call was meant.
var functions = map[string]bool{
	"printf": true, "print": true, "clear": true, "zero": true, "delete": true,
	"exit": true, "count": true, "sum": true, "avg": true, "min": true,
	"max": true, "stats": true, "hist": true, "lhist": true, "str": true,
	"ksym": true, "usym": true, "time": true, "join": true, "system": true,
	"cat": true, "signal": true, "ntop": true, "buf": true, "kaddr": true,
	"uaddr": true, "reg": true, "strftime": true, "macaddr": true,
	"cgroupid": true, "strncmp": true, "override": true, "sizeof": true,
}

// unsupportedProbeTypes are bpftrace probe types outside this language.
var unsupportedProbeTypes = map[string]bool{
	"usdt": true, "U": true, "software": true, "s": true, "hardware": true,
	"h": true, "watchpoint": true, "w": true, "asyncwatchpoint": true,
	"kfunc": true, "f": true, "kretfunc": true, "fr": true, "fentry": true,
	"fexit": true, "iter": true, "it": true, "self": true,
}

// unknownIdentMsg explains an identifier that is neither a builtin nor a
// call.
func unknownIdentMsg(name string) string {
	msg := "unknown identifier \"" + name + "\""
	if functions[name] {
		return msg + " (to call it, write " + name + "())"
	}
	if isArgN(name) {
		return msg + " (the arguments are arg0 to arg9)"
	}
	if guess := nearest(name, builtins); guess != "" {
		return msg + " (did you mean " + guess + "?)"
	}
	return msg
}

// isArgN reports whether name is "arg" followed by digits.
func isArgN(name string) bool {
	if len(name) <= 3 || name[:3] != "arg" {
		return false
	}
	for i := 3; i < len(name); i++ {
		if name[i] < '0' || name[i] > '9' {
			return false
		}
	}
	return true
}

// unknownProbeMsg explains a probe type that is not in probeTypes.
func unknownProbeMsg(typ string) string {
	msg := "unknown probe type \"" + typ + "\""
	if unsupportedProbeTypes[typ] {
		return msg + " (bpftrace's " + typ + " probes are not supported)"
	}
	known := make(map[string]bool, len(probeTypes))
	for name := range probeTypes {
		if len(name) > 2 { // suggesting `k` for `x` helps nobody
			known[name] = true
		}
	}
	if guess := nearest(typ, known); guess != "" {
		return msg + " (did you mean " + guess + "?)"
	}
	return msg
}

// nearest returns the candidate at edit distance 1 from name (or differing
// only in case), preferring the alphabetically first for determinism, or ""
// if there is none. Names shorter than three characters get no suggestion.
func nearest(name string, candidates map[string]bool) string {
	if len(name) < 3 {
		return ""
	}
	var found []string
	for c := range candidates {
		if d := len(name) - len(c); d < -1 || d > 1 || c == name {
			continue
		}
		if editDistance(name, c) == 1 || equalFold(name, c) {
			found = append(found, c)
		}
	}
	if len(found) == 0 {
		return ""
	}
	sort.Strings(found)
	return found[0]
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// editDistance is the Levenshtein distance between two short ASCII strings.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
