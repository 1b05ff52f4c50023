/*
 * The upgrade request as it appears on the wire (SPEC section 4). A plain
 * loopback listener records the request head and hangs up, so mimi_open fails
 * (705) after sending it; the test then reads the recorded bytes.
 */
#define _DEFAULT_SOURCE

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "mimiio.h"

typedef struct {
    int listener;
    char head[16384]; /* the request head, NUL-terminated */
} recorder;

static void *record_one_request(void *arg)
{
    recorder *r = arg;
    struct pollfd p;
    size_t used = 0;
    int fd;

    p.fd = r->listener;
    p.events = POLLIN;
    if (poll(&p, 1, 10000) <= 0)
        return NULL;
    fd = accept(r->listener, NULL, NULL);
    if (fd < 0)
        return NULL;
    while (used + 1 < sizeof r->head && strstr(r->head, "\r\n\r\n") == NULL) {
        ssize_t n;

        p.fd = fd;
        if (poll(&p, 1, 10000) <= 0)
            break;
        n = read(fd, r->head + used, sizeof r->head - 1 - used);
        if (n <= 0)
            break;
        used += (size_t)n;
        r->head[used] = '\0';
    }
    close(fd);
    return NULL;
}

static void rx_ignore(const char *result, size_t len, int *rxfunc_error, void *userdata)
{
    (void)result;
    (void)len;
    (void)rxfunc_error;
    (void)userdata;
}

static void tx_nothing(char *buffer, size_t *len, bool *recog_break, int *txfunc_error,
                       void *userdata)
{
    (void)buffer;
    (void)len;
    (void)recog_break;
    (void)txfunc_error;
    (void)userdata;
}

/* Opens against the recorder and returns the request head it saw. */
static void capture_request(recorder *r, MIMIIO_AUDIO_FORMAT format, int rate, int channels,
                            const MIMIIO_HTTP_REQUEST_HEADER *headers, int header_count)
{
    struct sockaddr_in addr;
    socklen_t size = sizeof addr;
    pthread_t thread;
    int errorno = -12345;
    MIMI_IO *mio;

    memset(r, 0, sizeof *r);
    r->listener = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(r->listener >= 0);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(r->listener, (struct sockaddr *)&addr, sizeof addr) == 0);
    CHECK(listen(r->listener, 1) == 0);
    CHECK(getsockname(r->listener, (struct sockaddr *)&addr, &size) == 0);
    CHECK(pthread_create(&thread, NULL, record_one_request, r) == 0);

    mio = mimi_open("127.0.0.1", ntohs(addr.sin_port), tx_nothing, rx_ignore, NULL, NULL, format,
                    rate, channels, headers, header_count, NULL, MIMIIO_LOG_ERROR, &errorno);
    CHECK(mio == NULL);
    CHECK_INT(errorno, 705);
    CHECK(pthread_join(thread, NULL) == 0);
    close(r->listener);
    CHECK(strstr(r->head, "\r\n\r\n") != NULL);
}

/* Where the header line `name: value` starts (name compared without case), or NULL. */
static const char *find_header(const char *head, const char *name, const char *value)
{
    const char *line = strstr(head, "\r\n");
    size_t name_len = strlen(name);

    while (line != NULL && strncmp(line, "\r\n\r\n", 4) != 0) {
        line += 2;
        if (strncasecmp(line, name, name_len) == 0 && line[name_len] == ':') {
            const char *v = line + name_len + 1;
            size_t value_len = strlen(value);

            while (*v == ' ')
                v++;
            if (strncmp(v, value, value_len) == 0 && strncmp(v + value_len, "\r\n", 2) == 0)
                return line;
        }
        line = strstr(line, "\r\n");
    }
    return NULL;
}

static void require_header(const char *head, const char *name, const char *value)
{
    if (find_header(head, name, value) == NULL) {
        fprintf(stderr, "request head:\n%s", head);
        check_failed(__FILE__, __LINE__, "header missing", name);
    }
}

static void set_header(MIMIIO_HTTP_REQUEST_HEADER *h, const char *key, const char *value)
{
    memset(h, 0, sizeof *h);
    strcpy(h->key, key);
    strcpy(h->value, value);
}

static void pcm_content_type_is_exact(void)
{
    recorder r;

    capture_request(&r, MIMIIO_RAW_PCM, 16000, 1, NULL, 0);
    require_header(r.head, "x-mimi-content-type", "audio/x-pcm;bit=16;rate=16000;channels=1");
}

static void flac_content_type_is_exact(void)
{
    recorder r;

    capture_request(&r, MIMIIO_FLAC_8, 44100, 2, NULL, 0);
    require_header(r.head, "x-mimi-content-type", "audio/x-flac;bit=16;rate=44100;channels=2");
}

static void pass_through_content_type_is_flac(void)
{
    recorder r;

    capture_request(&r, MIMIIO_FLAC_PASS_THROUGH, 8000, 1, NULL, 0);
    require_header(r.head, "x-mimi-content-type", "audio/x-flac;bit=16;rate=8000;channels=1");
}

static void no_authorization_without_token(void)
{
    recorder r;
    const char *line;

    capture_request(&r, MIMIIO_RAW_PCM, 16000, 1, NULL, 0);
    for (line = r.head; (line = strstr(line, "\r\n")) != NULL; line += 2)
        CHECK(strncasecmp(line + 2, "authorization:", 14) != 0);
}

static void user_headers_are_sent_in_order(void)
{
    MIMIIO_HTTP_REQUEST_HEADER headers[3];
    const char *process, *language, *lid;
    recorder r;

    set_header(&headers[0], "x-mimi-process", "asr");
    set_header(&headers[1], "x-mimi-input-language", "ja");
    set_header(&headers[2], "x-mimi-lid-options", "a=b");
    capture_request(&r, MIMIIO_RAW_PCM, 16000, 1, headers, 3);

    process = find_header(r.head, "x-mimi-process", "asr");
    language = find_header(r.head, "x-mimi-input-language", "ja");
    lid = find_header(r.head, "x-mimi-lid-options", "a=b");
    CHECK(process != NULL && language != NULL && lid != NULL);
    if (!(process < language && language < lid)) {
        fprintf(stderr, "request head:\n%s", r.head);
        check_failed(__FILE__, __LINE__, "order", "expected process, input-language, lid-options");
    }
}

/* Where the exact line `line` (with its CRLF before and after) is, or NULL. */
static const char *find_line(const char *head, const char *line)
{
    char needle[2200];

    snprintf(needle, sizeof needle, "\r\n%s\r\n", line);
    return strstr(head, needle);
}

static void require_line(const char *head, const char *line)
{
    if (find_line(head, line) == NULL) {
        fprintf(stderr, "request head:\n%s", head);
        check_failed(__FILE__, __LINE__, "line missing", line);
    }
}

/* SPEC section 4: the user's headers go out as `key: value`, in order, as given:
 * the spelling of the name, repeated names between others, bytes outside ASCII. */
static void user_headers_are_sent_byte_for_byte(void)
{
    MIMIIO_HTTP_REQUEST_HEADER headers[4];
    const char *first, *middle, *second;
    recorder r;

    set_header(&headers[0], "X-Mimi-Process", "asr");
    set_header(&headers[1], "x-note", "one");
    set_header(&headers[2], "X-Other", "caf\xe9");
    set_header(&headers[3], "x-note", "two");
    capture_request(&r, MIMIIO_RAW_PCM, 16000, 1, headers, 4);

    require_line(r.head, "X-Mimi-Content-Type: audio/x-pcm;bit=16;rate=16000;channels=1");
    require_line(r.head, "X-Mimi-Process: asr");
    require_line(r.head, "X-Other: caf\xe9");
    first = find_line(r.head, "x-note: one");
    middle = find_line(r.head, "X-Other: caf\xe9");
    second = find_line(r.head, "x-note: two");
    CHECK(first != NULL && second != NULL);
    CHECK(first < middle && middle < second);
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        {"pcm_content_type_is_exact", pcm_content_type_is_exact},
        {"flac_content_type_is_exact", flac_content_type_is_exact},
        {"pass_through_content_type_is_flac", pass_through_content_type_is_flac},
        {"no_authorization_without_token", no_authorization_without_token},
        {"user_headers_are_sent_in_order", user_headers_are_sent_in_order},
        {"user_headers_are_sent_byte_for_byte", user_headers_are_sent_byte_for_byte},
    };

    return run_tests(tests, sizeof tests / sizeof tests[0], 30, argc, argv);
}
