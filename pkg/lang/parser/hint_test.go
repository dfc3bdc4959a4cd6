package parser

import "testing"

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"pid", "pid", 0},
		{"pid", "tid", 1},
		{"comm", "comn", 1},
		{"retval", "retvals", 1},
		{"kprobe", "kprob", 1},
		{"nsecs", "secs", 1},
		{"abc", "", 3},
		{"kitten", "sitting", 3},
	}
	for _, tt := range tests {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestNearest(t *testing.T) {
	candidates := map[string]bool{"comm": true, "cpu": true, "cpid": true, "BEGIN": true, "begin": true}
	tests := []struct{ name, want string }{
		{"comn", "comm"},
		{"cpuu", "cpu"},
		{"cpi", "cpid"}, // cpu is at distance 1 too, but cpid sorts first
		{"Begin", "BEGIN"},
		{"cp", ""}, // too short to guess
		{"zzzz", ""},
		{"comm", ""}, // an exact match is not a suggestion
	}
	for _, tt := range tests {
		if got := nearest(tt.name, candidates); got != tt.want {
			t.Errorf("nearest(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}
