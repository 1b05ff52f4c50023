/*
 * consumer: a small program that uses an installed libmimiio the way any C
 * program would, built by the install tests with pkg-config, with CMake's
 * find_package and statically.
 *
 * usage: consumer PORT PCM_FILE SECONDS
 *
 * Streams the first SECONDS seconds of PCM_FILE (16 kHz mono s16le) as FLAC
 * level 5 to a mimi server on 127.0.0.1:PORT, waits for the end and checks that
 * the session ended without error with one recog-finished result covering
 * exactly the samples sent. Prints, one per line:
 *
 *   version 3.0.0              what mimi_version() returns
 *   library /path/lib/...      the file the library's code was mapped from
 *   finished {...}             the recog-finished message
 *
 * and exits 0 when every check passed, 1 otherwise (the reason on stderr).
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mimiio.h>

#define RATE 16000
#define CHUNK 3200 /* 0.1 s of 16 kHz mono s16le */

typedef struct {
    const unsigned char *data;
    size_t size;
    size_t pos;
} source;

typedef struct {
    long messages;
    char *finished; /* copy of the recog-finished message */
    long finished_count;
} sink;

/* Sending thread: CHUNK bytes per call, recog-break with the last piece. */
static void tx(char *buffer, size_t *len, bool *recog_break, int *txfunc_error, void *userdata)
{
    source *src = userdata;
    size_t n = src->size - src->pos;

    (void)txfunc_error;
    if (n > CHUNK)
        n = CHUNK;
    memcpy(buffer, src->data + src->pos, n);
    src->pos += n;
    *len = n;
    *recog_break = src->pos == src->size;
}

/* Receiving thread. The main thread reads the sink only after mimi_is_active
 * has turned false, which the library orders after the last rxfunc call. */
static void rx(const char *result, size_t len, int *rxfunc_error, void *userdata)
{
    sink *out = userdata;

    (void)rxfunc_error;
    out->messages++;
    if (strstr(result, "\"status\":\"recog-finished\"") != NULL) {
        out->finished_count++;
        free(out->finished);
        out->finished = malloc(len + 1);
        if (out->finished != NULL)
            memcpy(out->finished, result, len + 1);
    }
}

/* The path of the mapping that holds `address`, from /proc/self/maps: for a
 * static string of the library that is the library file really loaded (or the
 * program itself when it is linked statically). */
static int mapped_file(const void *address, char *path, size_t size)
{
    uintptr_t a = (uintptr_t)address;
    char line[4096];
    FILE *maps = fopen("/proc/self/maps", "r");
    int found = 0;

    if (maps == NULL)
        return 0;
    while (!found && fgets(line, sizeof line, maps) != NULL) {
        unsigned long start, end;
        char *slash;

        if (sscanf(line, "%lx-%lx", &start, &end) != 2 || a < start || a >= end)
            continue;
        slash = strchr(line, '/');
        if (slash == NULL)
            break;
        slash[strcspn(slash, "\n")] = '\0';
        snprintf(path, size, "%s", slash);
        found = 1;
    }
    fclose(maps);
    return found;
}

static unsigned char *read_prefix(const char *path, size_t want, size_t *got)
{
    FILE *f = fopen(path, "rb");
    unsigned char *data = malloc(want);

    if (f == NULL || data == NULL) {
        if (f != NULL)
            fclose(f);
        free(data);
        return NULL;
    }
    *got = fread(data, 1, want, f);
    fclose(f);
    return data;
}

static int fail(const char *what, int number)
{
    fprintf(stderr, "consumer: %s: %d (%s)\n", what, number, mimi_strerror(number));
    return 1;
}

int main(int argc, char **argv)
{
    const struct timespec pause = {0, 10 * 1000 * 1000};
    source src = {NULL, 0, 0};
    sink out = {0, NULL, 0};
    const char *version = mimi_version();
    char library[4096];
    char expected_samples[64];
    MIMIIO_HTTP_REQUEST_HEADER header;
    MIMI_IO *mio;
    int errorno = -1;
    int waited_ms = 0;
    int status = 0;

    if (argc != 4) {
        fprintf(stderr, "usage: consumer PORT PCM_FILE SECONDS\n");
        return 2;
    }
    src.data = read_prefix(argv[2], (size_t)atoi(argv[3]) * RATE * 2, &src.size);
    if (src.data == NULL || src.size == 0 || src.size % 2 != 0) {
        fprintf(stderr, "consumer: cannot read %s\n", argv[2]);
        return 2;
    }

    printf("version %s\n", version);
    printf("library %s\n", mapped_file(version, library, sizeof library) ? library : "?");

    memset(&header, 0, sizeof header);
    strcpy(header.key, "x-mimi-process");
    strcpy(header.value, "asr");
    mio = mimi_open("127.0.0.1", atoi(argv[1]), tx, rx, &src, &out, MIMIIO_FLAC_5, RATE, 1,
                    &header, 1, NULL, MIMIIO_LOG_ERROR, &errorno);
    if (mio == NULL)
        return fail("mimi_open", errorno);
    if (errorno != 0)
        return fail("mimi_open succeeded but set errorno", errorno);
    if (mimi_stream_state(mio) != MIMIIO_STREAM_WAIT)
        return fail("state before mimi_start", (int)mimi_stream_state(mio));

    errorno = mimi_start(mio);
    if (errorno != 0) {
        mimi_close(mio);
        return fail("mimi_start", errorno);
    }
    while (mimi_is_active(mio) && waited_ms < 20000) {
        nanosleep(&pause, NULL);
        waited_ms += 10;
    }
    if (mimi_is_active(mio)) {
        fprintf(stderr, "consumer: still active after 20 s\n");
        status = 1;
    } else if (mimi_error(mio) != 0) {
        status = fail("mimi_error", mimi_error(mio));
    } else if (mimi_stream_state(mio) != MIMIIO_STREAM_CLOSED) {
        status = fail("state after the end", (int)mimi_stream_state(mio));
    }
    mimi_close(mio);

    snprintf(expected_samples, sizeof expected_samples, "\"samples\":%lu",
             (unsigned long)(src.size / 2));
    if (status == 0 && out.finished_count != 1) {
        fprintf(stderr, "consumer: %ld recog-finished messages (of %ld)\n", out.finished_count,
                out.messages);
        status = 1;
    } else if (status == 0 && (out.finished == NULL ||
                               strstr(out.finished, expected_samples) == NULL)) {
        fprintf(stderr, "consumer: recog-finished lacks %s: %s\n", expected_samples,
                out.finished != NULL ? out.finished : "(null)");
        status = 1;
    }
    if (out.finished != NULL)
        printf("finished %s\n", out.finished);
    free(out.finished);
    free((void *)src.data);
    return status;
}
