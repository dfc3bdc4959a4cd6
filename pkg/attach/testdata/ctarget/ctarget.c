/* ctarget calls ctarget() as many times as its argument says. Go binaries
 * cannot take uretprobes reliably (a goroutine may return on another
 * thread), so return probes are tested on this C program. */
#include <stdlib.h>

__attribute__((noinline)) int ctarget(int x) { return x * 2 + 1; }

int main(int argc, char **argv) {
	volatile int sink = 0;
	int n = argc > 1 ? atoi(argv[1]) : 0;
	for (int i = 0; i < n; i++)
		sink += ctarget(i);
	return 0;
}
