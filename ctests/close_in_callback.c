/*
 * mimi_close called from inside txfunc or rxfunc (README "Threads and
 * callbacks"): it returns at once without deadlock, the callback that called it
 * returns normally, and no callback starts afterwards.
 *
 * A deadlock would leave the test hanging; the harness's alarm (run_tests'
 * time limit) then ends it as a failure, and every wait below has its own
 * deadline besides.
 */
#define _DEFAULT_SOURCE

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "mimiio.h"

#define RAW_NAME "speech-16k-mono.raw"
#define PCM_CHUNK 3200  /* 0.1 s of 16 kHz mono */
#define FAST_CHUNK 32000 /* 1 s: the server answers after every chunk */
#define CLOSE_LIMIT_MS 3000
#define QUIET_MS 300

typedef struct {
    pthread_mutex_t lock;
    MIMI_IO *mio;
    const unsigned char *raw;
    size_t raw_size;
    size_t pos;
    size_t chunk;
    bool with_break;      /* end with recog-break instead of looping */
    long close_at_tx_call; /* txfunc calls mimi_close in this call (1-based; 0: never) */
    bool close_in_rx;      /* rxfunc calls mimi_close in its first call ... */
    bool close_on_final;   /* ... or only on the recog-finished message */
    long tx_calls;
    long rx_calls;
    int running;          /* callbacks entered and not yet returned */
    bool close_called;
    long long close_ms;   /* how long the callback's mimi_close took; -1 before */
    bool closer_returned; /* the callback that called mimi_close has returned */
} closer;

static void closer_init(closer *c, const unsigned char *raw, size_t raw_size, size_t chunk)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
    c->raw = raw;
    c->raw_size = raw_size;
    c->chunk = chunk;
    c->close_ms = -1;
}

static void closer_destroy(closer *c)
{
    pthread_mutex_destroy(&c->lock);
}

/* Calls mimi_close from the current callback and records how long it took. */
static void close_from_callback(closer *c, MIMI_IO *mio)
{
    long long started = now_ms();

    mimi_close(mio);
    pthread_mutex_lock(&c->lock);
    c->close_ms = now_ms() - started;
    pthread_mutex_unlock(&c->lock);
}

/* Marks a callback as returned; `closed_here` when it was the one that closed. */
static void leave_callback(closer *c, bool closed_here)
{
    pthread_mutex_lock(&c->lock);
    c->running--;
    if (closed_here)
        c->closer_returned = true;
    pthread_mutex_unlock(&c->lock);
}

static void closing_txfunc(char *buffer, size_t *len, bool *recog_break, int *txfunc_error,
                           void *userdata)
{
    closer *c = userdata;
    bool close_now;
    size_t n;
    MIMI_IO *mio;

    (void)txfunc_error;
    pthread_mutex_lock(&c->lock);
    c->running++;
    c->tx_calls++;
    close_now = !c->close_called && c->tx_calls == c->close_at_tx_call;
    if (close_now)
        c->close_called = true;
    mio = c->mio;
    n = c->raw_size - c->pos < c->chunk ? c->raw_size - c->pos : c->chunk;
    memcpy(buffer, c->raw + c->pos, n);
    c->pos += n;
    if (c->pos == c->raw_size) {
        if (c->with_break)
            *recog_break = true;
        else
            c->pos = 0;
    }
    pthread_mutex_unlock(&c->lock);
    *len = n;

    if (close_now)
        close_from_callback(c, mio);
    else
        sleep_ms(10);
    leave_callback(c, close_now);
}

static void closing_rxfunc(const char *result, size_t len, int *rxfunc_error, void *userdata)
{
    closer *c = userdata;
    bool close_now;
    MIMI_IO *mio;

    (void)len;
    (void)rxfunc_error;
    pthread_mutex_lock(&c->lock);
    c->running++;
    c->rx_calls++;
    close_now = !c->close_called && c->close_in_rx &&
                (!c->close_on_final || strstr(result, "\"recog-finished\"") != NULL);
    if (close_now)
        c->close_called = true;
    mio = c->mio;
    pthread_mutex_unlock(&c->lock);

    if (close_now)
        close_from_callback(c, mio);
    leave_callback(c, close_now);
}

static long total_calls(closer *c)
{
    long calls;

    pthread_mutex_lock(&c->lock);
    calls = c->tx_calls + c->rx_calls;
    pthread_mutex_unlock(&c->lock);
    return calls;
}

/* Opens and starts a session whose callbacks close it; waits until the
 * closing callback has returned and no callback runs; then checks that none
 * starts during QUIET_MS. The handle is not touched after mimi_start. */
static void run_until_closed_by_callback(closer *c)
{
    mimi_server server;
    int errorno = -12345;
    long long deadline;
    long calls;
    bool done;
    MIMI_IO *mio;

    server_start(&server, NULL);
    mio = mimi_open("127.0.0.1", server.port, closing_txfunc, closing_rxfunc, c, c,
                    MIMIIO_RAW_PCM, 16000, 1, NULL, 0, NULL, MIMIIO_LOG_ERROR, &errorno);
    CHECK_INT(errorno, 0);
    CHECK(mio != NULL);
    pthread_mutex_lock(&c->lock);
    c->mio = mio;
    pthread_mutex_unlock(&c->lock);
    CHECK_INT(mimi_start(mio), 0);

    deadline = now_ms() + 15000;
    do {
        CHECK(now_ms() < deadline);
        sleep_ms(1);
        pthread_mutex_lock(&c->lock);
        done = c->closer_returned && c->running == 0;
        pthread_mutex_unlock(&c->lock);
    } while (!done);
    CHECK(c->close_ms >= 0 && c->close_ms < CLOSE_LIMIT_MS);

    calls = total_calls(c);
    sleep_ms(QUIET_MS);
    CHECK_INT(total_calls(c), calls);
    pthread_mutex_lock(&c->lock);
    CHECK_INT(c->running, 0);
    pthread_mutex_unlock(&c->lock);

    server_stop(&server);
}

static void close_inside_txfunc_returns_and_stops_callbacks(void)
{
    unsigned char *raw;
    size_t raw_size;
    closer c;

    raw = read_testdata(RAW_NAME, &raw_size);
    closer_init(&c, raw, raw_size, PCM_CHUNK);
    c.close_at_tx_call = 5;

    run_until_closed_by_callback(&c);
    CHECK_INT(c.tx_calls, 5);

    closer_destroy(&c);
    free(raw);
}

/* The first result arrives after one second of audio; rxfunc closes there,
 * while txfunc keeps supplying audio on the other thread. */
static void close_inside_rxfunc_returns_and_stops_callbacks(void)
{
    unsigned char *raw;
    size_t raw_size;
    closer c;

    raw = read_testdata(RAW_NAME, &raw_size);
    closer_init(&c, raw, raw_size, FAST_CHUNK);
    c.close_in_rx = true;

    run_until_closed_by_callback(&c);
    CHECK_INT(c.rx_calls, 1);

    closer_destroy(&c);
    free(raw);
}

/* The usual place to close: rxfunc on the recog-finished message, when the
 * sending side has already finished and the server is about to close. */
static void close_inside_rxfunc_on_final_result(void)
{
    unsigned char *raw;
    size_t raw_size;
    closer c;

    raw = read_testdata(RAW_NAME, &raw_size);
    closer_init(&c, raw, raw_size, FAST_CHUNK);
    c.with_break = true;
    c.close_in_rx = true;
    c.close_on_final = true;

    run_until_closed_by_callback(&c);
    CHECK_INT(c.rx_calls, (long)(raw_size / 2 / 16000) + 1);

    closer_destroy(&c);
    free(raw);
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        {"close_inside_txfunc_returns_and_stops_callbacks",
         close_inside_txfunc_returns_and_stops_callbacks},
        {"close_inside_rxfunc_returns_and_stops_callbacks",
         close_inside_rxfunc_returns_and_stops_callbacks},
        {"close_inside_rxfunc_on_final_result", close_inside_rxfunc_on_final_result},
    };

    return run_tests(tests, sizeof tests / sizeof tests[0], 30, argc, argv);
}
