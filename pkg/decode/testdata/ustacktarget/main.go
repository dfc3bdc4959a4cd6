// Command ustacktarget calls main.work three times when it reads a line,
// prints "done", and stays alive until its stdin closes, so a test can
// symbolise user stacks while the process still exists.
package main

import (
	"bufio"
	"fmt"
	"os"
)

var sink int

//go:noinline
func work(x int) int { return x*2 + 1 }

func main() {
	in := bufio.NewReader(os.Stdin)
	if _, err := in.ReadString('\n'); err != nil {
		return
	}
	for i := 0; i < 3; i++ {
		sink += work(i)
	}
	fmt.Println("done")
	_, _ = in.ReadString('\n')
}
