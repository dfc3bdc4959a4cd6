// Command target prints the address of one of its functions and waits, so a
// test can resolve that address in another process's address space.
package main

import (
	"fmt"
	"os"
	"reflect"
	"time"
)

//go:noinline
func symbolTarget(x int) int { return x*3 + 1 }

func main() {
	fmt.Printf("%d %x\n", os.Getpid(), reflect.ValueOf(symbolTarget).Pointer())
	time.Sleep(time.Minute)
}
