/*
 * mimiio_file: streams an audio file to a mimi server and prints every result
 * the server sends, one per line, on stdout.
 *
 * For MIMIIO_RAW_PCM and MIMIIO_FLAC_0..8 the file holds raw signed 16-bit
 * little-endian PCM (the library encodes FLAC itself); for
 * MIMIIO_FLAC_PASS_THROUGH it is a FLAC file, sent unchanged.
 */
#define _DEFAULT_SOURCE /* usleep under -std=c99 */

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mimiio.h"

/* The library's fixed txfunc buffer size. */
#define TX_BUFFER_SIZE 262144
/* Bytes per call when passing a FLAC file through: any size works. */
#define PASS_THROUGH_CHUNK 8192

typedef struct {
    FILE *file;
    size_t chunk;
} file_source;

static const struct {
    const char *name;
    MIMIIO_AUDIO_FORMAT value;
} formats[] = {
    {"MIMIIO_RAW_PCM", MIMIIO_RAW_PCM},
    {"MIMIIO_FLAC_0", MIMIIO_FLAC_0},
    {"MIMIIO_FLAC_1", MIMIIO_FLAC_1},
    {"MIMIIO_FLAC_2", MIMIIO_FLAC_2},
    {"MIMIIO_FLAC_3", MIMIIO_FLAC_3},
    {"MIMIIO_FLAC_4", MIMIIO_FLAC_4},
    {"MIMIIO_FLAC_5", MIMIIO_FLAC_5},
    {"MIMIIO_FLAC_6", MIMIIO_FLAC_6},
    {"MIMIIO_FLAC_7", MIMIIO_FLAC_7},
    {"MIMIIO_FLAC_8", MIMIIO_FLAC_8},
    {"MIMIIO_FLAC_PASS_THROUGH", MIMIIO_FLAC_PASS_THROUGH},
};

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: mimiio_file -i FILE [options]\n"
            "Streams an audio file to a mimi server and prints each result on its own line.\n"
            "\n"
            "  -i, --input FILE            audio file to send (required)\n"
            "  -h, --host HOST             server host (default 127.0.0.1)\n"
            "  -p, --port PORT             server port (default 8101)\n"
            "  -t, --token TOKEN           access token; connects with TLS (wss://)\n"
            "      --rate N                sampling rate in Hz (default 16000)\n"
            "      --channel N             number of channels (default 1)\n"
            "      --format FORMAT         MIMIIO_RAW_PCM, MIMIIO_FLAC_0 ... MIMIIO_FLAC_8\n"
            "                              or MIMIIO_FLAC_PASS_THROUGH (default MIMIIO_FLAC_0)\n"
            "  -l, --input_language LANG   x-mimi-input-language header (default ja)\n"
            "  -x, --process PROCESS       x-mimi-process header (default asr)\n"
            "      --lid_options OPTS      x-mimi-lid-options header (sent only when given)\n"
            "      --verbose               log at MIMIIO_LOG_DEBUG instead of MIMIIO_LOG_ERROR;\n"
            "                              logs go to syslog, and also to stderr when the\n"
            "                              environment has MIMIIO_LOG_STDERR=1\n"
            "      --help                  show this help\n"
            "\n"
            "FILE is raw signed 16-bit little-endian PCM for MIMIIO_RAW_PCM and\n"
            "MIMIIO_FLAC_0..8 (the library encodes), and a FLAC file for\n"
            "MIMIIO_FLAC_PASS_THROUGH (sent unchanged).\n");
}

/* Parses a whole decimal int in [min, max]; false otherwise. */
static int parse_int(const char *text, int min, int max, int *value)
{
    char *end;
    long n;

    errno = 0;
    n = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || n < min || n > max)
        return 0;
    *value = (int)n;
    return 1;
}

static int parse_format(const char *text, MIMIIO_AUDIO_FORMAT *value)
{
    size_t i;

    for (i = 0; i < sizeof formats / sizeof formats[0]; i++)
        if (strcmp(text, formats[i].name) == 0) {
            *value = formats[i].value;
            return 1;
        }
    return 0;
}

/* Fills one request header; false when the text does not fit its 1024 bytes. */
static int set_header(MIMIIO_HTTP_REQUEST_HEADER *h, const char *key, const char *value)
{
    if (strlen(key) >= sizeof h->key || strlen(value) >= sizeof h->value)
        return 0;
    strcpy(h->key, key);
    strcpy(h->value, value);
    return 1;
}

/* Called from the library's sending thread: one chunk of the file per call. */
static void tx_file(char *buffer, size_t *len, bool *recog_break, int *txfunc_error,
                    void *userdata)
{
    file_source *source = userdata;
    size_t n = fread(buffer, 1, source->chunk, source->file);

    *len = n;
    if (n < source->chunk) {
        if (ferror(source->file))
            *txfunc_error = -1; /* negative: a user-defined error */
        else
            *recog_break = true; /* end of file ends the utterance */
    }
}

/* Called from the library's receiving thread: one server message per call. */
static void rx_print(const char *result, size_t len, int *rxfunc_error, void *userdata)
{
    (void)rxfunc_error;
    (void)userdata;
    fwrite(result, 1, len, stdout);
    putchar('\n');
    fflush(stdout);
}

static int fail(int errorno)
{
    fprintf(stderr, "error: %s (%d)\n", mimi_strerror(errorno), errorno);
    return 1;
}

int main(int argc, char **argv)
{
    enum { OPT_RATE = 256, OPT_CHANNEL, OPT_FORMAT, OPT_LID, OPT_VERBOSE, OPT_HELP };
    static const struct option options[] = {
        {"host", required_argument, NULL, 'h'},
        {"port", required_argument, NULL, 'p'},
        {"input", required_argument, NULL, 'i'},
        {"token", required_argument, NULL, 't'},
        {"rate", required_argument, NULL, OPT_RATE},
        {"channel", required_argument, NULL, OPT_CHANNEL},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"input_language", required_argument, NULL, 'l'},
        {"process", required_argument, NULL, 'x'},
        {"lid_options", required_argument, NULL, OPT_LID},
        {"verbose", no_argument, NULL, OPT_VERBOSE},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    const char *host = "127.0.0.1";
    const char *input = NULL;
    const char *token = NULL;
    const char *language = "ja";
    const char *process = "asr";
    const char *lid_options = NULL;
    int port = 8101, rate = 16000, channels = 1;
    MIMIIO_AUDIO_FORMAT format = MIMIIO_FLAC_0;
    int loglevel = MIMIIO_LOG_ERROR;
    MIMIIO_HTTP_REQUEST_HEADER headers[3];
    int header_count = 0;
    file_source source;
    MIMI_IO *mio;
    int errorno = 0;
    int opt;

    while ((opt = getopt_long(argc, argv, "h:p:i:t:l:x:", options, NULL)) != -1) {
        switch (opt) {
        case 'h':
            host = optarg;
            break;
        case 'p':
            /* Range checks are the library's (704); only reject non-numbers here. */
            if (!parse_int(optarg, INT_MIN, INT_MAX, &port)) {
                fprintf(stderr, "mimiio_file: --port needs a number, not '%s'\n", optarg);
                return 2;
            }
            break;
        case 'i':
            input = optarg;
            break;
        case 't':
            token = optarg;
            break;
        case OPT_RATE:
            if (!parse_int(optarg, INT_MIN, INT_MAX, &rate)) {
                fprintf(stderr, "mimiio_file: --rate needs a number, not '%s'\n", optarg);
                return 2;
            }
            break;
        case OPT_CHANNEL:
            if (!parse_int(optarg, INT_MIN, INT_MAX, &channels)) {
                fprintf(stderr, "mimiio_file: --channel needs a number, not '%s'\n", optarg);
                return 2;
            }
            break;
        case OPT_FORMAT:
            if (!parse_format(optarg, &format)) {
                fprintf(stderr, "mimiio_file: unknown --format '%s'\n", optarg);
                return 2;
            }
            break;
        case 'l':
            language = optarg;
            break;
        case 'x':
            process = optarg;
            break;
        case OPT_LID:
            lid_options = optarg;
            break;
        case OPT_VERBOSE:
            loglevel = MIMIIO_LOG_DEBUG;
            break;
        case OPT_HELP:
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (input == NULL || optind != argc) {
        usage(stderr);
        return 2;
    }

    if (!set_header(&headers[header_count++], "x-mimi-process", process) ||
        !set_header(&headers[header_count++], "x-mimi-input-language", language) ||
        (lid_options != NULL &&
         !set_header(&headers[header_count++], "x-mimi-lid-options", lid_options))) {
        fprintf(stderr, "mimiio_file: a header value is longer than 1023 bytes\n");
        return 2;
    }

    if (format == MIMIIO_FLAC_PASS_THROUGH) {
        source.chunk = PASS_THROUGH_CHUNK;
    } else {
        /* 0.1 s of audio per call, whole sample frames, within the buffer. */
        size_t frame = channels > 0 ? 2 * (size_t)channels : 2;
        size_t chunk = rate > 0 ? (size_t)rate / 10 * frame : frame;

        if (chunk > TX_BUFFER_SIZE)
            chunk = TX_BUFFER_SIZE / frame * frame;
        source.chunk = chunk > 0 ? chunk : frame;
    }
    source.file = fopen(input, "rb");
    if (source.file == NULL) {
        fprintf(stderr, "mimiio_file: cannot open %s: %s\n", input, strerror(errno));
        return 2;
    }

    mio = mimi_open(host, port, tx_file, rx_print, &source, NULL, format, rate, channels,
                    headers, header_count, token, loglevel, &errorno);
    if (mio == NULL) {
        fclose(source.file);
        return fail(errorno);
    }
    errorno = mimi_start(mio);
    if (errorno == 0) {
        while (mimi_is_active(mio))
            usleep(50 * 1000);
        errorno = mimi_error(mio);
    }
    mimi_close(mio);
    fclose(source.file);
    return errorno == 0 ? 0 : fail(errorno);
}
