/*
 * The numbers mimi_open writes to errorno when the connection or the upgrade
 * fails (SPEC section 5): one test per cause, each against a mimi-server fault
 * mode or a loopback socket arranged to fail in that one way.
 *
 * Every failing open must also return NULL and come back within its deadline:
 * the bounds below are hang guards, not benchmarks.
 */
#define _DEFAULT_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "mimiio.h"

#define BACKLOG_FILL_MAX 16

/* mimi_open against 127.0.0.1:port, which must fail; returns errorno and
 * checks the call returned within `limit_ms`. */
static int failed_open_error(int port, long limit_ms)
{
    int errorno = -12345;
    long long started = now_ms();
    MIMI_IO *mio = mimi_open("127.0.0.1", port, refusing_txfunc, refusing_rxfunc, NULL, NULL,
                             MIMIIO_RAW_PCM, 16000, 1, NULL, 0, NULL, MIMIIO_LOG_ERROR,
                             &errorno);

    CHECK(mio == NULL);
    CHECK(now_ms() - started < limit_ms);
    return errorno;
}

/* Starts mimi-server with `--fault mode` and returns mimi_open's errorno. */
static int fault_open_error(const char *mode)
{
    const char *args[] = {"--fault", NULL, NULL};
    mimi_server server;
    int errorno;

    args[1] = mode;
    server_start(&server, args);
    errorno = failed_open_error(server.port, 10000);
    server_stop(&server);
    return errorno;
}

static void loopback_address(struct sockaddr_in *addr)
{
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

/* A loopback socket bound to an ephemeral port; the port goes to *port. */
static int bound_socket(int *port)
{
    struct sockaddr_in addr;
    socklen_t size = sizeof addr;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    CHECK(fd >= 0);
    loopback_address(&addr);
    CHECK(bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0);
    CHECK(getsockname(fd, (struct sockaddr *)&addr, &size) == 0);
    *port = ntohs(addr.sin_port);
    return fd;
}

/* Starts a non-blocking connect to 127.0.0.1:port; true when it completes
 * within `wait_ms`. The socket goes to *fd either way. */
static bool connect_completes(int port, long wait_ms, int *fd)
{
    struct sockaddr_in addr;
    struct pollfd p;

    *fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    CHECK(*fd >= 0);
    loopback_address(&addr);
    addr.sin_port = htons((unsigned short)port);
    if (connect(*fd, (struct sockaddr *)&addr, sizeof addr) == 0)
        return true;
    CHECK_INT(errno, EINPROGRESS);
    p.fd = *fd;
    p.events = POLLOUT;
    p.revents = 0;
    return poll(&p, 1, (int)wait_ms) == 1;
}

static void http_400_is_801(void)
{
    CHECK_INT(fault_open_error("http-400"), 801);
}

static void http_403_is_801(void)
{
    CHECK_INT(fault_open_error("http-403"), 801);
}

static void http_404_is_801(void)
{
    CHECK_INT(fault_open_error("http-404"), 801);
}

static void http_500_is_801(void)
{
    CHECK_INT(fault_open_error("http-500"), 801);
}

static void upgrade_without_upgrade_headers_is_801(void)
{
    CHECK_INT(fault_open_error("bad-upgrade"), 801);
}

static void http_401_is_806(void)
{
    CHECK_INT(fault_open_error("http-401"), 806);
}

static void http_426_is_803(void)
{
    CHECK_INT(fault_open_error("http-426"), 803);
}

static void wrong_accept_key_is_805(void)
{
    CHECK_INT(fault_open_error("bad-accept"), 805);
}

static void drop_before_answer_is_705(void)
{
    CHECK_INT(fault_open_error("drop-before-answer"), 705);
}

/* The server reads the request and stays silent: the connect deadline ends
 * the upgrade. */
static void never_answered_upgrade_is_703(void)
{
    const char *args[] = {"--fault", "never-answer", NULL};
    mimi_server server;
    long long started;

    setenv("MIMIIO_CONNECT_TIMEOUT_MS", "1000", 1);
    server_start(&server, args);
    started = now_ms();
    CHECK_INT(failed_open_error(server.port, 10000), 703);
    /* Not before the deadline either: the library waited for the answer. */
    CHECK(now_ms() - started >= 900);
    server_stop(&server);
}

/* The port was free a moment ago and nothing listens on it now. */
static void nothing_listening_is_704(void)
{
    int port;
    int fd = bound_socket(&port);

    close(fd);
    CHECK_INT(failed_open_error(port, 10000), 704);
}

/*
 * A connect that never completes. The listener has a backlog of 0 and never
 * accepts; Linux then keeps one finished connection in the accept queue and
 * drops further SYNs while it is full, so a client stays in SYN-SENT,
 * retransmitting. The queue is filled with our own connects until one of them
 * demonstrably hangs (checked, so the test knows it exercises the connect and
 * not only the upgrade). Should a kernel finish the handshake anyway (e.g. a
 * SYN-ACK sent before the queue filled, the final ACK then dropped), the client
 * believes it is connected, sends its upgrade request and waits for an answer
 * nobody will give: the same connect deadline, the same 703.
 */
static void connect_that_never_completes_is_703(void)
{
    int port, i, filled = 0;
    int fills[BACKLOG_FILL_MAX];
    int listener = bound_socket(&port);
    bool blocked = false;
    long long started;

    CHECK(listen(listener, 0) == 0);
    while (!blocked && filled < BACKLOG_FILL_MAX) {
        blocked = !connect_completes(port, 300, &fills[filled]);
        filled++;
    }
    if (!blocked)
        check_failed(__FILE__, __LINE__, "backlog", "every connect completed; queue never full");

    setenv("MIMIIO_CONNECT_TIMEOUT_MS", "1500", 1);
    started = now_ms();
    CHECK_INT(failed_open_error(port, 10000), 703);
    CHECK(now_ms() - started >= 1400);

    for (i = 0; i < filled; i++)
        close(fills[i]);
    close(listener);
}

/*
 * A local failure before any traffic: the descriptor limit is set to the next
 * free descriptor, so the socket mimi_open creates first fails with EMFILE.
 * The port refuses connections, so 704 would show the limit did not bite.
 */
static void no_descriptor_left_for_the_socket_is_799(void)
{
    int port, next, errorno;
    struct rlimit saved, tight;

    close(bound_socket(&port));
    next = dup(0);
    CHECK(next >= 0);
    close(next);
    CHECK(getrlimit(RLIMIT_NOFILE, &saved) == 0);
    tight = saved;
    tight.rlim_cur = (rlim_t)next;
    CHECK(setrlimit(RLIMIT_NOFILE, &tight) == 0);

    errorno = failed_open_error(port, 10000);
    CHECK(setrlimit(RLIMIT_NOFILE, &saved) == 0);
    CHECK_INT(errorno, 799);
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        {"http_400_is_801", http_400_is_801},
        {"http_403_is_801", http_403_is_801},
        {"http_404_is_801", http_404_is_801},
        {"http_500_is_801", http_500_is_801},
        {"upgrade_without_upgrade_headers_is_801", upgrade_without_upgrade_headers_is_801},
        {"http_401_is_806", http_401_is_806},
        {"http_426_is_803", http_426_is_803},
        {"wrong_accept_key_is_805", wrong_accept_key_is_805},
        {"drop_before_answer_is_705", drop_before_answer_is_705},
        {"never_answered_upgrade_is_703", never_answered_upgrade_is_703},
        {"nothing_listening_is_704", nothing_listening_is_704},
        {"connect_that_never_completes_is_703", connect_that_never_completes_is_703},
        {"no_descriptor_left_for_the_socket_is_799", no_descriptor_left_for_the_socket_is_799},
    };

    return run_tests(tests, sizeof tests / sizeof tests[0], 30, argc, argv);
}
