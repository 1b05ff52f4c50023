/*
 * Helpers shared by the C tests: a test runner, a local mimi-server, files,
 * a result collector for rxfunc and an audio source for txfunc.
 *
 * Every test program is one C file with a table of test functions passed to
 * run_tests(). Each test runs in a forked child, so a failed CHECK (which
 * exits) or a crash ends only that test; the parent prints "N passed, N failed".
 *
 * Environment (set by CMake): MIMI_SERVER is the mimi-server binary,
 * MIMIIO_TESTDATA the directory of the test recording.
 */
#ifndef MIMIIO_TEST_HARNESS_H
#define MIMIIO_TEST_HARNESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "mimiio.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- assertions and the runner ---- */

/* Prints where and what failed, then ends the current test (its child process). */
#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            check_failed(__FILE__, __LINE__, #cond, NULL);                     \
    } while (0)

/* Like CHECK for two integers, printing both values on failure. */
#define CHECK_INT(actual, expected)                                            \
    do {                                                                       \
        long long check_a_ = (long long)(actual);                              \
        long long check_e_ = (long long)(expected);                            \
        if (check_a_ != check_e_)                                              \
            check_failed_int(__FILE__, __LINE__, #actual, check_a_, check_e_); \
    } while (0)

void check_failed(const char *file, int line, const char *what, const char *detail);
void check_failed_int(const char *file, int line, const char *what, long long actual,
                      long long expected);

typedef struct {
    const char *name;
    void (*run)(void);
} test_case;

/* Runs each test in its own child process with a time limit of `seconds`;
 * prints one line per test and the summary. Test names given as arguments
 * select a subset. Returns the exit status for main. */
int run_tests(const test_case *tests, size_t count, unsigned seconds, int argc, char **argv);

/* ---- time ---- */

/* Milliseconds on a monotonic clock. */
long long now_ms(void);

/* Sleeps for `ms` milliseconds. */
void sleep_ms(long ms);

/* ---- files ---- */

/* A new empty directory under $TMPDIR (or /tmp); the path is malloc'd. */
char *make_temp_dir(void);

/* Removes the files directly inside `dir` and then `dir` itself. */
void remove_temp_dir(char *dir);

/* Reads a whole file into malloc'd memory; NULL when it cannot be read. */
unsigned char *read_file(const char *path, size_t *size);

/* Reads a file of the test data directory ($MIMIIO_TESTDATA); fails the test
 * when it is missing. */
unsigned char *read_testdata(const char *name, size_t *size);

/* ---- the local server ---- */

typedef struct {
    pid_t pid;
    int port;
    int stdout_fd; /* kept open so the server never writes into a closed pipe */
} mimi_server;

/* Starts $MIMI_SERVER --port 0 followed by `extra_args` (NULL-terminated, may be
 * NULL) and waits for its "listening on 127.0.0.1:PORT" line. Fails the test
 * when the server does not come up. */
void server_start(mimi_server *server, const char *const *extra_args);

/* SIGTERM, then waits for the process. */
void server_stop(mimi_server *server);

/* ---- a gate a callback can wait at until the test opens it ---- */

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool entered; /* a thread is (or was) waiting at the gate */
    bool open;
} gate;

void gate_init(gate *g);
void gate_destroy(gate *g);
/* Marks the gate as entered and blocks until it is opened. */
void gate_pass(gate *g);
/* Waits up to `timeout_ms` for a thread to enter; true when one did. */
bool gate_wait_entered(gate *g, long timeout_ms);
void gate_open(gate *g);

/* ---- rxfunc: collects every message ---- */

typedef struct {
    pthread_mutex_t lock;
    char **messages;
    size_t count;
    size_t capacity;
    long calls;
    /* When set, the first call waits here (to hold the receiving side busy). */
    gate *hold_first;
} results;

void results_init(results *r);
void results_free(results *r);
/* The rxfunc to pass to mimi_open with a `results *` as userdata. */
void results_rxfunc(const char *result, size_t len, int *rxfunc_error, void *userdata);
long results_calls(results *r);
/* Number of messages whose "status" is `status`. */
size_t results_with_status(results *r, const char *status);
/* Copies message `index` (a copy the caller frees); NULL when out of range. */
char *results_message(results *r, size_t index);
/* Copies the recog-finished message; NULL when there is none (or several). */
char *results_finished(results *r);

/* Copies the string value of "key" in a flat JSON text into `out`; false when
 * absent. Enough for the server's compact messages, not a JSON parser. */
bool json_string_field(const char *json, const char *key, char *out, size_t size);
/* The integer value of "key"; false when absent. */
bool json_int_field(const char *json, const char *key, long long *value);

/* ---- txfunc: serves a buffer in fixed chunks ---- */

typedef struct {
    pthread_mutex_t lock;
    const unsigned char *data;
    size_t size;
    size_t pos;
    size_t chunk;     /* bytes per call, at most 262144 */
    long delay_ms;    /* pause inside each call, to supply audio slowly */
    bool endless;     /* start over at the end instead of sending recog-break */
    size_t force_len; /* when non-zero, report this length regardless (bad input) */
    long calls;
    bool break_sent;
    /* When set, the call after the first one waits here (holds sending busy). */
    gate *hold_second;
} audio_source;

void audio_source_init(audio_source *s, const unsigned char *data, size_t size, size_t chunk);
void audio_source_destroy(audio_source *s);
/* The txfunc to pass to mimi_open with an `audio_source *` as userdata. */
void audio_txfunc(char *buffer, size_t *len, bool *recog_break, int *txfunc_error,
                  void *userdata);
long audio_calls(audio_source *s);
bool audio_break_sent(audio_source *s);

/* ---- one whole session ---- */

typedef struct {
    /* in */
    int port;
    MIMIIO_AUDIO_FORMAT format;
    int rate;
    int channels;
    const MIMIIO_HTTP_REQUEST_HEADER *headers;
    int header_count;
    audio_source *source;
    results *collected;
    long timeout_ms; /* for the wait loop; 0 means 20 s */
    /* out */
    int open_error;
    int start_result;
    int error;                           /* mimi_error after the wait */
    MIMIIO_STREAM_STATE state_after_break; /* first state other than BOTH seen after
                                              recog-break; BOTH if none was seen */
    MIMIIO_STREAM_STATE final_state;     /* after the wait loop */
} session;

/* Fills the inputs with 16 kHz mono PCM defaults. */
void session_init(session *s, int port, audio_source *source, results *collected);

/* Opens, starts, waits with mimi_is_active and closes. Fails the test when the
 * open or start fails or the wait exceeds the timeout; returns mimi_error. */
int run_session(session *s);

/* The path of the saved PCM of the session that sent recog-finished, inside
 * `dir` (malloc'd); fails the test when there is no such message. */
char *saved_audio_path(results *r, const char *dir);

/* Fails the test unless the PCM the server saved for the session that sent
 * recog-finished (inside `dir`) equals `expected`, byte for byte. */
void check_saved_audio(results *r, const char *dir, const unsigned char *expected, size_t size);

/* Callbacks for sessions that must never start: each ends the session with -1
 * if it is called after all. */
void refusing_txfunc(char *buffer, size_t *len, bool *recog_break, int *txfunc_error,
                     void *userdata);
void refusing_rxfunc(const char *result, size_t len, int *rxfunc_error, void *userdata);

#ifdef __cplusplus
}
#endif

#endif
