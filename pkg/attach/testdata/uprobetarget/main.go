// Command uprobetarget calls uprobeTarget as many times as its argument
// says, so a test can count the calls with a uprobe.
package main

import (
	"os"
	"strconv"
)

var sink int

//go:noinline
func uprobeTarget(x int) int { return x*2 + 1 }

func main() {
	n, _ := strconv.Atoi(os.Args[1])
	for i := 0; i < n; i++ {
		sink += uprobeTarget(i)
	}
}
