/*
 * Bad input: every argument check of SPEC section 5 with its exact number.
 * Checks that need no connection run against a port where nothing listens, so
 * they also show that the library refuses before any traffic; the rest start
 * a local server.
 */
#define _DEFAULT_SOURCE

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "mimiio.h"

static void tx_silence(char *buffer, size_t *len, bool *recog_break, int *txfunc_error,
                       void *userdata)
{
    (void)recog_break;
    (void)txfunc_error;
    (void)userdata;
    memset(buffer, 0, 3200);
    *len = 3200;
    sleep_ms(10);
}

static void rx_ignore(const char *result, size_t len, int *rxfunc_error, void *userdata)
{
    (void)result;
    (void)len;
    (void)rxfunc_error;
    (void)userdata;
}

/* A loopback port that refuses connections: bound but not listening, and held
 * by this process so nobody else can take it during the test. */
static int refusing_port(void)
{
    struct sockaddr_in addr;
    socklen_t size = sizeof addr;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    CHECK(fd >= 0);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0);
    CHECK(getsockname(fd, (struct sockaddr *)&addr, &size) == 0);
    return ntohs(addr.sin_port);
}

/* mimi_open with valid arguments except those given; returns the errorno. */
static int open_error(int port, int format, int rate, int channels,
                      const MIMIIO_HTTP_REQUEST_HEADER *headers, int header_count)
{
    int errorno = -12345;
    MIMI_IO *mio = mimi_open("127.0.0.1", port, tx_silence, rx_ignore, NULL, NULL,
                             (MIMIIO_AUDIO_FORMAT)format, rate, channels, headers,
                             header_count, NULL, MIMIIO_LOG_ERROR, &errorno);

    CHECK(mio == NULL);
    return errorno;
}

static MIMI_IO *open_to_server(const mimi_server *server,
                               void (*tx)(char *, size_t *, bool *, int *, void *),
                               void (*rx)(const char *, size_t, int *, void *), void *tx_data)
{
    int errorno = -12345;
    MIMI_IO *mio = mimi_open("127.0.0.1", server->port, tx, rx, tx_data, NULL, MIMIIO_RAW_PCM,
                             16000, 1, NULL, 0, NULL, MIMIIO_LOG_ERROR, &errorno);

    CHECK_INT(errorno, 0);
    CHECK(mio != NULL);
    return mio;
}

static void null_host_returns_null_and_701(void)
{
    int errorno = -12345;
    MIMI_IO *mio = mimi_open(NULL, 8101, tx_silence, rx_ignore, NULL, NULL, MIMIIO_RAW_PCM,
                             16000, 1, NULL, 0, NULL, MIMIIO_LOG_ERROR, &errorno);

    CHECK(mio == NULL);
    CHECK_INT(errorno, 701);
}

static void null_errorno_with_bad_port_returns_null(void)
{
    MIMI_IO *mio = mimi_open("127.0.0.1", 70000, tx_silence, rx_ignore, NULL, NULL,
                             MIMIIO_RAW_PCM, 16000, 1, NULL, 0, NULL, MIMIIO_LOG_ERROR, NULL);

    CHECK(mio == NULL);
}

static void null_handle_start_returns_905(void)
{
    CHECK_INT(mimi_start(NULL), 905);
}

static void null_handle_is_not_active(void)
{
    CHECK(mimi_is_active(NULL) == false);
}

static void null_handle_state_is_closed(void)
{
    CHECK_INT(mimi_stream_state(NULL), MIMIIO_STREAM_CLOSED);
}

static void null_handle_error_is_101(void)
{
    CHECK_INT(mimi_error(NULL), 101);
}

static void null_handle_close_does_nothing(void)
{
    mimi_close(NULL);
}

static void port_0_is_704(void)
{
    CHECK_INT(open_error(0, MIMIIO_RAW_PCM, 16000, 1, NULL, 0), 704);
}

static void port_70000_is_704(void)
{
    CHECK_INT(open_error(70000, MIMIIO_RAW_PCM, 16000, 1, NULL, 0), 704);
}

static void negative_header_count_is_801(void)
{
    MIMIIO_HTTP_REQUEST_HEADER h;

    memset(&h, 0, sizeof h);
    strcpy(h.key, "x-mimi-process");
    strcpy(h.value, "asr");
    CHECK_INT(open_error(refusing_port(), MIMIIO_RAW_PCM, 16000, 1, &h, -1), 801);
}

static void header_key_without_nul_is_801(void)
{
    MIMIIO_HTTP_REQUEST_HEADER h;

    /* All 1024 key bytes are letters: the library must not read past them. */
    memset(h.key, 'a', sizeof h.key);
    memset(h.value, 0, sizeof h.value);
    strcpy(h.value, "asr");
    CHECK_INT(open_error(refusing_port(), MIMIIO_RAW_PCM, 16000, 1, &h, 1), 801);
}

static void header_value_with_cr_is_801(void)
{
    MIMIIO_HTTP_REQUEST_HEADER h;

    memset(&h, 0, sizeof h);
    strcpy(h.key, "x-mimi-process");
    strcpy(h.value, "asr\rX-Injected: 1");
    CHECK_INT(open_error(refusing_port(), MIMIIO_RAW_PCM, 16000, 1, &h, 1), 801);
}

static void header_value_with_lf_is_801(void)
{
    MIMIIO_HTTP_REQUEST_HEADER h;

    memset(&h, 0, sizeof h);
    strcpy(h.key, "x-mimi-process");
    strcpy(h.value, "asr\nX-Injected: 1");
    CHECK_INT(open_error(refusing_port(), MIMIIO_RAW_PCM, 16000, 1, &h, 1), 801);
}

static void format_99_is_501(void)
{
    CHECK_INT(open_error(refusing_port(), 99, 16000, 1, NULL, 0), 501);
}

static void rate_0_is_501(void)
{
    CHECK_INT(open_error(refusing_port(), MIMIIO_RAW_PCM, 0, 1, NULL, 0), 501);
}

static void channels_0_is_501(void)
{
    CHECK_INT(open_error(refusing_port(), MIMIIO_RAW_PCM, 16000, 0, NULL, 0), 501);
}

static void channels_9_is_501(void)
{
    CHECK_INT(open_error(refusing_port(), MIMIIO_RAW_PCM, 16000, 9, NULL, 0), 501);
}

static void txfunc_len_262145_is_903(void)
{
    static const unsigned char silence[4] = {0};
    mimi_server server;
    audio_source source;
    long long deadline;
    MIMI_IO *mio;

    server_start(&server, NULL);
    audio_source_init(&source, silence, sizeof silence, sizeof silence);
    source.force_len = 262145;
    mio = open_to_server(&server, audio_txfunc, rx_ignore, &source);
    CHECK_INT(mimi_start(mio), 0);

    deadline = now_ms() + 10000;
    while (mimi_is_active(mio)) {
        CHECK(now_ms() < deadline);
        sleep_ms(5);
    }
    CHECK_INT(mimi_error(mio), 903);
    /* The library must not ask for more after a fatal chunk. */
    CHECK_INT(audio_calls(&source), 1);
    mimi_close(mio);
    audio_source_destroy(&source);
    server_stop(&server);
}

static void start_twice_is_905(void)
{
    mimi_server server;
    MIMI_IO *mio;

    server_start(&server, NULL);
    mio = open_to_server(&server, tx_silence, rx_ignore, NULL);
    CHECK_INT(mimi_start(mio), 0);
    CHECK_INT(mimi_start(mio), 905);
    mimi_close(mio);
    server_stop(&server);
}

static void null_txfunc_start_is_901(void)
{
    mimi_server server;
    MIMI_IO *mio;

    server_start(&server, NULL);
    mio = open_to_server(&server, NULL, rx_ignore, NULL);
    CHECK_INT(mimi_start(mio), 901);
    mimi_close(mio);
    server_stop(&server);
}

static void null_rxfunc_start_is_902(void)
{
    mimi_server server;
    MIMI_IO *mio;

    server_start(&server, NULL);
    mio = open_to_server(&server, tx_silence, NULL, NULL);
    CHECK_INT(mimi_start(mio), 902);
    mimi_close(mio);
    server_stop(&server);
}

static void both_callbacks_null_start_is_901(void)
{
    mimi_server server;
    MIMI_IO *mio;

    server_start(&server, NULL);
    mio = open_to_server(&server, NULL, NULL, NULL);
    CHECK_INT(mimi_start(mio), 901);
    mimi_close(mio);
    server_stop(&server);
}

static void strerror_of_every_spec_number_is_text(void)
{
    static const int numbers[] = {
        0,   101, 501, 502, 601, 602, 603, 604, 605, 701, 703, 704, 705,  790,  791,  799,
        801, 802, 803, 804, 805, 806, 810, 811, 830, 890, 901, 902, 903,  904,  905,  906,
        907, 1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012,
        1013, 1014, 1015, 1016, 2000, 3000, 4000, 4001, 4999, 5000,
    };
    size_t i;

    for (i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
        const char *text = mimi_strerror(numbers[i]);

        if (text == NULL || text[0] == '\0') {
            fprintf(stderr, "mimi_strerror(%d) is %s\n", numbers[i],
                    text == NULL ? "NULL" : "empty");
            CHECK(text != NULL && text[0] != '\0');
        }
    }
}

static void strerror_of_negative_is_user_defined(void)
{
    CHECK(strcmp(mimi_strerror(-1), "user defined error.") == 0);
    CHECK(strcmp(mimi_strerror(-4001), "user defined error.") == 0);
    CHECK(strcmp(mimi_strerror(INT_MIN), "user defined error.") == 0);
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        {"null_host_returns_null_and_701", null_host_returns_null_and_701},
        {"null_errorno_with_bad_port_returns_null", null_errorno_with_bad_port_returns_null},
        {"null_handle_start_returns_905", null_handle_start_returns_905},
        {"null_handle_is_not_active", null_handle_is_not_active},
        {"null_handle_state_is_closed", null_handle_state_is_closed},
        {"null_handle_error_is_101", null_handle_error_is_101},
        {"null_handle_close_does_nothing", null_handle_close_does_nothing},
        {"port_0_is_704", port_0_is_704},
        {"port_70000_is_704", port_70000_is_704},
        {"negative_header_count_is_801", negative_header_count_is_801},
        {"header_key_without_nul_is_801", header_key_without_nul_is_801},
        {"header_value_with_cr_is_801", header_value_with_cr_is_801},
        {"header_value_with_lf_is_801", header_value_with_lf_is_801},
        {"format_99_is_501", format_99_is_501},
        {"rate_0_is_501", rate_0_is_501},
        {"channels_0_is_501", channels_0_is_501},
        {"channels_9_is_501", channels_9_is_501},
        {"txfunc_len_262145_is_903", txfunc_len_262145_is_903},
        {"start_twice_is_905", start_twice_is_905},
        {"null_txfunc_start_is_901", null_txfunc_start_is_901},
        {"null_rxfunc_start_is_902", null_rxfunc_start_is_902},
        {"both_callbacks_null_start_is_901", both_callbacks_null_start_is_901},
        {"strerror_of_every_spec_number_is_text", strerror_of_every_spec_number_is_text},
        {"strerror_of_negative_is_user_defined", strerror_of_negative_is_user_defined},
    };

    return run_tests(tests, sizeof tests / sizeof tests[0], 30, argc, argv);
}
