/*
 * Leaks one block on purpose. Registered (with MIMIIO_VALGRIND=ON) as the test
 * valgrind_is_active with WILL_FAIL: run natively it exits 0 and so fails the
 * suite; only valgrind, reporting the block as definitely lost and exiting with
 * --error-exitcode, makes it pass. Proof that the valgrind run really checks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* volatile: the compiler may neither drop the allocation nor keep the pointer. */
static void *volatile leaked;

int main(void)
{
    leaked = malloc(4096);
    if (leaked == NULL)
        return 2;
    memset(leaked, 0x5a, 4096);
    leaked = NULL;
    printf("leaked 4096 bytes\n");
    return 0;
}
