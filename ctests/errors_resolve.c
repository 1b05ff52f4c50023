/*
 * 701: a host name that cannot be resolved, and a NULL or empty host.
 *
 * Name lookups must not reach the machine's resolver, so this program runs only
 * inside the private network and mount namespace that ctests/in_netns.sh makes:
 * loopback is the only interface, /etc/resolv.conf names 127.0.0.1 (where no
 * DNS server listens, so a query is refused at once), and /etc/hosts holds only
 * the names the wrapper put there. Before any test runs, main checks that this
 * is really so and refuses to look anything up otherwise. When the wrapper could
 * not create the namespace (not root), it says why in MIMIIO_NETNS_SKIP and the
 * program reports the tests as skipped.
 */
#define _DEFAULT_SOURCE

#include <ifaddrs.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "mimiio.h"

/* In the wrapper's /etc/hosts only; resolvable nowhere else. */
#define HOSTS_FILE_NAME "mimiio-test.invalid"
#define UNRESOLVABLE_NAME "no-such-host.invalid"

/* NULL when every interface is a loopback one and every nameserver is
 * 127.0.0.1; otherwise what is wrong. */
static const char *isolation_problem(void)
{
    struct ifaddrs *list, *ifa;
    const char *problem = NULL;
    char line[512];
    FILE *f;

    if (getifaddrs(&list) != 0)
        return "getifaddrs failed";
    for (ifa = list; ifa != NULL; ifa = ifa->ifa_next)
        if ((ifa->ifa_flags & IFF_LOOPBACK) == 0)
            problem = "an interface other than loopback exists";
    freeifaddrs(list);
    if (problem != NULL)
        return problem;

    /* Without the file glibc asks 127.0.0.1, which is just as safe. */
    f = fopen("/etc/resolv.conf", "r");
    if (f == NULL)
        return NULL;
    while (fgets(line, sizeof line, f) != NULL) {
        char address[256];

        if (sscanf(line, " nameserver %255s", address) == 1 && strcmp(address, "127.0.0.1") != 0)
            problem = "/etc/resolv.conf names a server other than 127.0.0.1";
    }
    fclose(f);
    return problem;
}

/* mimi_open to `host`, which must fail; returns errorno. */
static int failed_open_error(const char *host, int port)
{
    int errorno = -12345;
    long long started = now_ms();
    MIMI_IO *mio = mimi_open(host, port, refusing_txfunc, refusing_rxfunc, NULL, NULL,
                             MIMIIO_RAW_PCM, 16000, 1, NULL, 0, NULL, MIMIIO_LOG_ERROR,
                             &errorno);

    CHECK(mio == NULL);
    /* Well inside the connect timeout set by main: the resolver's answer, not
     * the deadline, ended the lookup. */
    CHECK(now_ms() - started < 5000);
    return errorno;
}

static void unresolvable_name_is_701(void)
{
    CHECK_INT(failed_open_error(UNRESOLVABLE_NAME, 8101), 701);
}

static void null_host_is_701(void)
{
    CHECK_INT(failed_open_error(NULL, 8101), 701);
}

static void empty_host_is_701(void)
{
    CHECK_INT(failed_open_error("", 8101), 701);
}

/* The control: a name the namespace's /etc/hosts knows resolves and connects,
 * so the 701 above comes from the name, not from a lookup that cannot work. */
static void name_from_hosts_file_connects(void)
{
    mimi_server server;
    int errorno = -12345;
    MIMI_IO *mio;

    server_start(&server, NULL);
    mio = mimi_open(HOSTS_FILE_NAME, server.port, refusing_txfunc, refusing_rxfunc, NULL, NULL,
                    MIMIIO_RAW_PCM, 16000, 1, NULL, 0, NULL, MIMIIO_LOG_ERROR, &errorno);
    CHECK_INT(errorno, 0);
    CHECK(mio != NULL);
    mimi_close(mio);
    server_stop(&server);
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        {"unresolvable_name_is_701", unresolvable_name_is_701},
        {"null_host_is_701", null_host_is_701},
        {"empty_host_is_701", empty_host_is_701},
        {"name_from_hosts_file_connects", name_from_hosts_file_connects},
    };
    const size_t count = sizeof tests / sizeof tests[0];
    const char *skip = getenv("MIMIIO_NETNS_SKIP");
    const char *problem;

    if (skip != NULL) {
        printf("skipped: %s\n", skip);
        printf("0 passed, 0 failed, %zu skipped\n", count);
        return 0;
    }
    problem = isolation_problem();
    if (problem != NULL) {
        fprintf(stderr, "refusing to look up names outside a private network namespace: %s "
                        "(run through ctests/in_netns.sh)\n", problem);
        printf("0 passed, %zu failed\n", count);
        return 1;
    }

    setenv("MIMIIO_CONNECT_TIMEOUT_MS", "10000", 1);
    return run_tests(tests, count, 30, argc, argv);
}
