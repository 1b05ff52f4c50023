/*
 * The numbers mimi_error reports when a started session ends (SPEC section 5):
 * one test per cause, each against a mimi-server fault mode or a callback that
 * asks for the error.
 *
 * Every test checks the same contract around the number: it is already in
 * place the moment mimi_is_active turns false (read once, right after the wait
 * loop), the state is then CLOSED, and mimi_close returns promptly (the bound
 * is a hang guard, not a benchmark).
 */
#define _DEFAULT_SOURCE

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "mimiio.h"

#define RAW_NAME "speech-16k-mono.raw"
#define PCM_CHUNK 3200     /* 0.1 s of 16 kHz mono */
#define MAX_CHUNK 262144   /* the library's txfunc buffer */
#define CLOSE_LIMIT_MS 3000
#define WAIT_LIMIT_MS 20000

typedef struct {
    int error; /* mimi_error, read once right after mimi_is_active turned false */
    MIMIIO_STREAM_STATE state;
    long long active_ms; /* from mimi_start until mimi_is_active turned false */
    long long close_ms;  /* how long mimi_close took */
} outcome;

/* Opens a PCM session to 127.0.0.1:port, starts it, waits until it is no
 * longer active, records what the contract says must hold, and closes it. */
static void stream_format_to_end(int port, MIMIIO_AUDIO_FORMAT format, MIMIIO_TX_FUNC tx,
                                 void *tx_data, MIMIIO_RX_FUNC rx, void *rx_data, outcome *out)
{
    int errorno = -12345;
    long long started, deadline;
    MIMI_IO *mio = mimi_open("127.0.0.1", port, tx, rx, tx_data, rx_data, format, 16000, 1, NULL,
                             0, NULL, MIMIIO_LOG_ERROR, &errorno);

    CHECK_INT(errorno, 0);
    CHECK(mio != NULL);
    started = now_ms();
    deadline = started + WAIT_LIMIT_MS;
    CHECK_INT(mimi_start(mio), 0);

    while (mimi_is_active(mio)) {
        if (now_ms() > deadline)
            check_failed(__FILE__, __LINE__, "stream_to_end", "session still active");
        sleep_ms(1);
    }
    out->error = mimi_error(mio);
    out->state = mimi_stream_state(mio);
    out->active_ms = now_ms() - started;

    started = now_ms();
    mimi_close(mio);
    out->close_ms = now_ms() - started;
}

/* The same with raw PCM, which most tests send. */
static void stream_to_end(int port, MIMIIO_TX_FUNC tx, void *tx_data, MIMIIO_RX_FUNC rx,
                          void *rx_data, outcome *out)
{
    stream_format_to_end(port, MIMIIO_RAW_PCM, tx, tx_data, rx, rx_data, out);
}

/* The contract around every number; the number itself is checked by the
 * caller, so that a failure names the test's own line. */
static void check_ended_cleanly(const outcome *out)
{
    CHECK_INT(out->state, MIMIIO_STREAM_CLOSED);
    CHECK(out->close_ms < CLOSE_LIMIT_MS);
}

/* Audio that keeps coming at about real time and never ends with recog-break,
 * so the session ends only through the fault. */
static void endless_source_init(audio_source *source, const unsigned char *raw, size_t size)
{
    audio_source_init(source, raw, size, PCM_CHUNK);
    source->endless = true;
    source->delay_ms = 10;
}

/* Streams against `--fault mode` and returns the outcome. */
static void fault_session(const char *mode, outcome *out)
{
    const char *args[] = {"--fault", NULL, NULL};
    mimi_server server;
    unsigned char *raw;
    size_t raw_size;
    audio_source source;
    results collected;

    args[1] = mode;
    server_start(&server, args);
    raw = read_testdata(RAW_NAME, &raw_size);
    endless_source_init(&source, raw, raw_size);
    results_init(&collected);

    stream_to_end(server.port, audio_txfunc, &source, results_rxfunc, &collected, out);

    results_free(&collected);
    audio_source_destroy(&source);
    free(raw);
    server_stop(&server);
}

/* Starts the server with its stderr (the per-session log lines) going to
 * `log_path` instead of the test's own stderr. */
static void server_start_logged(mimi_server *server, const char *const *args,
                                const char *log_path)
{
    int saved, fd;

    fflush(stderr);
    saved = dup(STDERR_FILENO);
    fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(saved >= 0 && fd >= 0);
    CHECK(dup2(fd, STDERR_FILENO) == STDERR_FILENO);
    close(fd);
    server_start(server, args);
    CHECK(dup2(saved, STDERR_FILENO) == STDERR_FILENO);
    close(saved);
}

/* Waits for a server started with --max-sessions to exit by itself and
 * returns its exit status; the server must not be stopped afterwards. */
static int server_wait_exit(mimi_server *server, long timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    int status = 0;
    pid_t done;

    while ((done = waitpid(server->pid, &status, WNOHANG)) == 0) {
        if (now_ms() > deadline) {
            kill(server->pid, SIGKILL);
            waitpid(server->pid, &status, 0);
            check_failed(__FILE__, __LINE__, "server_wait_exit", "server still running");
        }
        sleep_ms(5);
    }
    CHECK(done == server->pid);
    close(server->stdout_fd);
    server->pid = -1;
    CHECK(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* The whole log as a NUL-terminated string (malloc'd). */
static char *read_log(const char *path)
{
    size_t size = 0;
    unsigned char *data = read_file(path, &size);
    char *text;

    if (data == NULL)
        check_failed(__FILE__, __LINE__, "cannot read server log", path);
    text = realloc(data, size + 1);
    CHECK(text != NULL);
    text[size] = '\0';
    return text;
}

/* The value of `name=` in a log line as a number; -1 when absent. */
static long log_number(const char *line, const char *name)
{
    char key[64];
    const char *p;

    snprintf(key, sizeof key, " %s=", name);
    p = strstr(line, key);
    return p == NULL ? -1 : strtol(p + strlen(key), NULL, 10);
}

/* The path of the only .pcm file in `dir` (malloc'd). */
static char *only_saved_audio(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *entry;
    char *found = NULL;
    int count = 0;

    CHECK(d != NULL);
    while ((entry = readdir(d)) != NULL) {
        size_t n = strlen(entry->d_name);

        if (n > 4 && strcmp(entry->d_name + n - 4, ".pcm") == 0) {
            size_t size = strlen(dir) + n + 2;

            free(found);
            found = malloc(size);
            CHECK(found != NULL);
            snprintf(found, size, "%s/%s", dir, entry->d_name);
            count++;
        }
    }
    closedir(d);
    CHECK_INT(count, 1);
    return found;
}

/* `size` bytes of the recording repeated, for chunks larger than it. */
static unsigned char *tiled_recording(size_t size)
{
    size_t raw_size, pos;
    unsigned char *raw = read_testdata(RAW_NAME, &raw_size);
    unsigned char *tiled = malloc(size);

    CHECK(tiled != NULL);
    for (pos = 0; pos < size; pos += raw_size)
        memcpy(tiled + pos, raw, size - pos < raw_size ? size - pos : raw_size);
    free(raw);
    return tiled;
}

/* ---- server faults ---- */

static void silent_server_is_830(void)
{
    outcome out;

    setenv("MIMIIO_RECV_TIMEOUT_MS", "1000", 1);
    setenv("MIMI_SERVER_HOLD_SECS", "10", 1);
    fault_session("silent", &out);
    CHECK_INT(out.error, 830);
    check_ended_cleanly(&out);
    /* Not before the receive timeout: the silence itself ended the session. */
    CHECK(out.active_ms >= 900);
}

static void drop_mid_stream_is_791(void)
{
    outcome out;

    fault_session("drop-mid-stream", &out);
    CHECK_INT(out.error, 791);
    check_ended_cleanly(&out);
}

static void close_1001_is_1001(void)
{
    outcome out;

    fault_session("close-1001", &out);
    CHECK_INT(out.error, 1001);
    check_ended_cleanly(&out);
}

static void close_1011_is_1011(void)
{
    outcome out;

    fault_session("close-1011", &out);
    CHECK_INT(out.error, 1011);
    check_ended_cleanly(&out);
}

static void close_4001_is_4001(void)
{
    outcome out;

    fault_session("close-4001", &out);
    CHECK_INT(out.error, 4001);
    check_ended_cleanly(&out);
}

static void close_4999_is_4999(void)
{
    outcome out;

    fault_session("close-4999", &out);
    CHECK_INT(out.error, 4999);
    check_ended_cleanly(&out);
}

static void close_without_status_is_904(void)
{
    outcome out;

    fault_session("close-no-status", &out);
    CHECK_INT(out.error, 904);
    check_ended_cleanly(&out);
}

static void empty_text_message_is_906(void)
{
    outcome out;

    fault_session("empty-text", &out);
    CHECK_INT(out.error, 906);
    check_ended_cleanly(&out);
}

static void empty_binary_message_is_907(void)
{
    outcome out;

    fault_session("empty-binary", &out);
    CHECK_INT(out.error, 907);
    check_ended_cleanly(&out);
}

static void reserved_opcode_is_890(void)
{
    outcome out;

    fault_session("reserved-opcode", &out);
    CHECK_INT(out.error, 890);
    check_ended_cleanly(&out);
}

static void reserved_bits_is_890(void)
{
    outcome out;

    fault_session("reserved-bits", &out);
    CHECK_INT(out.error, 890);
    check_ended_cleanly(&out);
}

static void masked_server_frame_is_890(void)
{
    outcome out;

    fault_session("masked-frame", &out);
    CHECK_INT(out.error, 890);
    check_ended_cleanly(&out);
}

static void message_over_16_mib_is_810(void)
{
    outcome out;

    fault_session("oversize", &out);
    CHECK_INT(out.error, 810);
    check_ended_cleanly(&out);
}

static void frame_cut_by_end_of_stream_is_811(void)
{
    outcome out;

    fault_session("cut-frame", &out);
    CHECK_INT(out.error, 811);
    check_ended_cleanly(&out);
}

/* The server stops reading with a 4 KiB receive buffer while txfunc supplies
 * full chunks without pause: the socket buffers fill, a send stops making
 * progress, and the send timeout (far shorter than the receive timeout, which
 * would otherwise give 830) ends the session. */
static void send_blocked_past_send_timeout_is_790(void)
{
    const char *args[] = {"--fault", "stop-reading", NULL};
    mimi_server server;
    unsigned char *chunk = tiled_recording(MAX_CHUNK);
    audio_source source;
    results collected;
    outcome out;

    setenv("MIMIIO_SEND_TIMEOUT_MS", "1000", 1);
    setenv("MIMIIO_RECV_TIMEOUT_MS", "20000", 1);
    /* The server lets go after 8 s (it would answer 791), far after the 790. */
    setenv("MIMI_SERVER_HOLD_SECS", "8", 1);
    server_start(&server, args);
    audio_source_init(&source, chunk, MAX_CHUNK, MAX_CHUNK);
    source.endless = true;
    results_init(&collected);

    stream_to_end(server.port, audio_txfunc, &source, results_rxfunc, &collected, &out);
    CHECK_INT(out.error, 790);
    check_ended_cleanly(&out);

    results_free(&collected);
    audio_source_destroy(&source);
    free(chunk);
    server_stop(&server);
}

/* The server pings before every result: the library answers each ping, none
 * reaches rxfunc, and every result does. */
static void pings_are_answered_and_never_delivered(void)
{
    const char *args[] = {"--fault", "ping-between", "--max-sessions", "1", NULL};
    char *dir = make_temp_dir();
    char log_path[4096];
    mimi_server server;
    unsigned char *raw;
    size_t raw_size, i;
    audio_source source;
    results collected;
    outcome out;
    long whole_seconds;
    char *log;

    snprintf(log_path, sizeof log_path, "%s/server.log", dir);
    server_start_logged(&server, args, log_path);
    raw = read_testdata(RAW_NAME, &raw_size);
    audio_source_init(&source, raw, raw_size, PCM_CHUNK);
    results_init(&collected);

    stream_to_end(server.port, audio_txfunc, &source, results_rxfunc, &collected, &out);
    CHECK_INT(out.error, 0);
    check_ended_cleanly(&out);

    /* One progress message per whole second of audio, then recog-finished. */
    whole_seconds = (long)(raw_size / 2 / 16000);
    CHECK(whole_seconds > 0);
    CHECK_INT(results_with_status(&collected, "recog-in-progress"), whole_seconds);
    CHECK_INT(results_with_status(&collected, "recog-finished"), 1);
    CHECK_INT(results_calls(&collected), whole_seconds + 1);
    for (i = 0; i < (size_t)whole_seconds + 1; i++) {
        char *message = results_message(&collected, i);

        CHECK(message != NULL);
        CHECK(message[0] == '{');
        CHECK(strstr(message, "mimi-ping") == NULL);
        free(message);
    }

    CHECK_INT(server_wait_exit(&server, 10000), 0);
    log = read_log(log_path);
    CHECK(strstr(log, "end=recog-finished") != NULL);
    CHECK_INT(log_number(log, "pings"), whole_seconds + 1);
    CHECK_INT(log_number(log, "pongs"), whole_seconds + 1);

    free(log);
    results_free(&collected);
    audio_source_destroy(&source);
    free(raw);
    remove_temp_dir(dir);
}

/* ---- errors the callbacks ask for ---- */

typedef struct {
    const unsigned char *data;
    size_t chunk;
    long good_calls; /* calls that supply `chunk` bytes before the bad one */
    size_t bad_len;  /* then *len (when non-zero) ... */
    int bad_error;   /* ... or *txfunc_error (when non-zero) */
    long calls;      /* only the sending thread touches this before mimi_close */
} scripted_source;

static void scripted_txfunc(char *buffer, size_t *len, bool *recog_break, int *txfunc_error,
                            void *userdata)
{
    scripted_source *s = userdata;
    long call = s->calls++;

    (void)recog_break;
    if (call < s->good_calls) {
        memcpy(buffer, s->data + (size_t)call * s->chunk, s->chunk);
        *len = s->chunk;
        return;
    }
    /* Bytes nobody may receive: the chunk is refused as a whole. */
    memset(buffer, 0x55, MAX_CHUNK);
    if (s->bad_len != 0)
        *len = s->bad_len;
    if (s->bad_error != 0)
        *txfunc_error = s->bad_error;
}

/* -5 from txfunc ends the session with -5, and the connection really ends:
 * the server (limited to one session) logs the client's close and exits
 * before mimi_close is called. */
static void txfunc_error_is_passed_through_and_connection_ends(void)
{
    const char *args[] = {"--max-sessions", "1", NULL};
    char *dir = make_temp_dir();
    char log_path[4096];
    mimi_server server;
    unsigned char *raw;
    size_t raw_size;
    scripted_source source;
    results collected;
    int errorno = -12345;
    long long started, deadline;
    int error;
    char *log;
    MIMI_IO *mio;

    snprintf(log_path, sizeof log_path, "%s/server.log", dir);
    server_start_logged(&server, args, log_path);
    raw = read_testdata(RAW_NAME, &raw_size);
    memset(&source, 0, sizeof source);
    source.data = raw;
    source.chunk = PCM_CHUNK;
    source.good_calls = 3;
    source.bad_error = -5;
    results_init(&collected);

    mio = mimi_open("127.0.0.1", server.port, scripted_txfunc, results_rxfunc, &source,
                    &collected, MIMIIO_RAW_PCM, 16000, 1, NULL, 0, NULL, MIMIIO_LOG_ERROR,
                    &errorno);
    CHECK_INT(errorno, 0);
    CHECK(mio != NULL);
    CHECK_INT(mimi_start(mio), 0);
    deadline = now_ms() + WAIT_LIMIT_MS;
    while (mimi_is_active(mio)) {
        CHECK(now_ms() < deadline);
        sleep_ms(1);
    }
    error = mimi_error(mio);
    CHECK_INT(error, -5);
    CHECK_INT(mimi_stream_state(mio), MIMIIO_STREAM_CLOSED);

    CHECK_INT(server_wait_exit(&server, 10000), 0);
    log = read_log(log_path);
    if (strstr(log, "end=client-close") == NULL)
        check_failed(__FILE__, __LINE__, "server log has no end=client-close", log);

    started = now_ms();
    mimi_close(mio);
    CHECK(now_ms() - started < CLOSE_LIMIT_MS);
    CHECK_INT(source.calls, 4);

    free(log);
    results_free(&collected);
    free(raw);
    remove_temp_dir(dir);
}

static void rx_error_on_first_result(const char *result, size_t len, int *rxfunc_error,
                                     void *userdata)
{
    results *r = userdata;

    results_rxfunc(result, len, rxfunc_error, r);
    *rxfunc_error = -7;
}

/* The first result (after one second of audio) makes rxfunc set -7. */
static void rxfunc_error_is_passed_through(void)
{
    mimi_server server;
    unsigned char *raw;
    size_t raw_size;
    audio_source source;
    results collected;
    outcome out;

    server_start(&server, NULL);
    raw = read_testdata(RAW_NAME, &raw_size);
    endless_source_init(&source, raw, raw_size);
    source.chunk = 32000;
    results_init(&collected);

    stream_to_end(server.port, audio_txfunc, &source, rx_error_on_first_result, &collected,
                  &out);
    CHECK_INT(out.error, -7);
    check_ended_cleanly(&out);
    CHECK_INT(results_calls(&collected), 1);

    results_free(&collected);
    audio_source_destroy(&source);
    free(raw);
    server_stop(&server);
}

/* Two good chunks, then len = 262145: 903, and the server saves exactly the
 * two good chunks (none of the oversized one's bytes). */
static void len_262145_is_903_and_nothing_of_it_is_sent(void)
{
    const char *args[] = {"--save-audio", NULL, "--max-sessions", "1", NULL};
    char *dir = make_temp_dir();
    mimi_server server;
    unsigned char *raw, *saved;
    size_t raw_size, saved_size = 0;
    scripted_source source;
    results collected;
    outcome out;
    char *path;

    args[1] = dir;
    server_start(&server, args);
    raw = read_testdata(RAW_NAME, &raw_size);
    memset(&source, 0, sizeof source);
    source.data = raw;
    source.chunk = PCM_CHUNK;
    source.good_calls = 2;
    source.bad_len = MAX_CHUNK + 1;
    results_init(&collected);

    stream_to_end(server.port, scripted_txfunc, &source, results_rxfunc, &collected, &out);
    CHECK_INT(out.error, 903);
    check_ended_cleanly(&out);
    CHECK_INT(source.calls, 3);

    CHECK_INT(server_wait_exit(&server, 10000), 0);
    path = only_saved_audio(dir);
    saved = read_file(path, &saved_size);
    CHECK(saved != NULL);
    CHECK_INT(saved_size, 2 * PCM_CHUNK);
    CHECK(memcmp(saved, raw, 2 * PCM_CHUNK) == 0);

    free(saved);
    free(path);
    results_free(&collected);
    free(raw);
    remove_temp_dir(dir);
}

/* Chunks of exactly 262144 bytes are allowed and arrive bit-exact. */
static void len_262144_streams_bit_exact(void)
{
    const char *args[] = {"--save-audio", NULL, NULL};
    char *dir = make_temp_dir();
    const size_t size = 3 * MAX_CHUNK;
    unsigned char *audio = tiled_recording(size);
    mimi_server server;
    audio_source source;
    results collected;
    outcome out;

    args[1] = dir;
    server_start(&server, args);
    audio_source_init(&source, audio, size, MAX_CHUNK);
    results_init(&collected);

    stream_to_end(server.port, audio_txfunc, &source, results_rxfunc, &collected, &out);
    CHECK_INT(out.error, 0);
    check_ended_cleanly(&out);
    CHECK_INT(audio_calls(&source), 3);
    CHECK_INT(results_with_status(&collected, "recog-finished"), 1);

    check_saved_audio(&collected, dir, audio, size);

    results_free(&collected);
    audio_source_destroy(&source);
    free(audio);
    server_stop(&server);
    remove_temp_dir(dir);
}

/*
 * libFLAC failing while it encodes. Nothing a caller sends can make libFLAC fail
 * mid-stream, so the library's test hook MIMIIO_TEST_FAIL_ENCODER=1 makes its
 * write callback report an error for the first audio frame; the library's own
 * error path then gives 502.
 */
static void flac_encoder_failing_while_streaming_is_502(void)
{
    mimi_server server;
    unsigned char *raw;
    size_t raw_size;
    audio_source source;
    results collected;
    outcome out;

    setenv("MIMIIO_TEST_FAIL_ENCODER", "1", 1);
    server_start(&server, NULL);
    raw = read_testdata(RAW_NAME, &raw_size);
    endless_source_init(&source, raw, raw_size);
    results_init(&collected);

    stream_format_to_end(server.port, MIMIIO_FLAC_5, audio_txfunc, &source, results_rxfunc,
                         &collected, &out);
    CHECK_INT(out.error, 502);
    check_ended_cleanly(&out);

    results_free(&collected);
    audio_source_destroy(&source);
    free(raw);
    server_stop(&server);
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        {"flac_encoder_failing_while_streaming_is_502",
         flac_encoder_failing_while_streaming_is_502},
        {"silent_server_is_830", silent_server_is_830},
        {"drop_mid_stream_is_791", drop_mid_stream_is_791},
        {"close_1001_is_1001", close_1001_is_1001},
        {"close_1011_is_1011", close_1011_is_1011},
        {"close_4001_is_4001", close_4001_is_4001},
        {"close_4999_is_4999", close_4999_is_4999},
        {"close_without_status_is_904", close_without_status_is_904},
        {"empty_text_message_is_906", empty_text_message_is_906},
        {"empty_binary_message_is_907", empty_binary_message_is_907},
        {"reserved_opcode_is_890", reserved_opcode_is_890},
        {"reserved_bits_is_890", reserved_bits_is_890},
        {"masked_server_frame_is_890", masked_server_frame_is_890},
        {"message_over_16_mib_is_810", message_over_16_mib_is_810},
        {"frame_cut_by_end_of_stream_is_811", frame_cut_by_end_of_stream_is_811},
        {"send_blocked_past_send_timeout_is_790", send_blocked_past_send_timeout_is_790},
        {"pings_are_answered_and_never_delivered", pings_are_answered_and_never_delivered},
        {"txfunc_error_is_passed_through_and_connection_ends",
         txfunc_error_is_passed_through_and_connection_ends},
        {"rxfunc_error_is_passed_through", rxfunc_error_is_passed_through},
        {"len_262145_is_903_and_nothing_of_it_is_sent",
         len_262145_is_903_and_nothing_of_it_is_sent},
        {"len_262144_streams_bit_exact", len_262144_streams_bit_exact},
    };

    return run_tests(tests, sizeof tests / sizeof tests[0], 45, argc, argv);
}
