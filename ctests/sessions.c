/*
 * Session lifecycle: several sessions in one process, one after another and at
 * once; closing mid-stream; and each of the five stream states.
 *
 * States that exist only for a moment are made to last: a callback waits at a
 * gate (see harness.h) while the test reads the state, so every state check
 * below is deterministic rather than a race with the library's threads.
 */
#define _DEFAULT_SOURCE

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "mimiio.h"

#define RAW_NAME "speech-16k-mono.raw"
#define PCM_CHUNK 3200 /* 0.1 s of 16 kHz mono */
#define CONCURRENT 8

/* Polls the state until it leaves BOTH or `timeout_ms` passes; returns it. */
static MIMIIO_STREAM_STATE state_after_both(MIMI_IO *mio, long timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    MIMIIO_STREAM_STATE state;

    while ((state = mimi_stream_state(mio)) == MIMIIO_STREAM_BOTH && now_ms() < deadline)
        sleep_ms(1);
    return state;
}

static void wait_inactive(MIMI_IO *mio, long timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;

    while (mimi_is_active(mio)) {
        if (now_ms() > deadline)
            check_failed(__FILE__, __LINE__, "wait_inactive", "session still active");
        sleep_ms(2);
    }
}

static MIMI_IO *open_pcm(int port, audio_source *source, results *collected)
{
    int errorno = -12345;
    MIMI_IO *mio = mimi_open("127.0.0.1", port, audio_txfunc, results_rxfunc, source,
                             collected, MIMIIO_RAW_PCM, 16000, 1, NULL, 0, NULL,
                             MIMIIO_LOG_ERROR, &errorno);

    CHECK_INT(errorno, 0);
    CHECK(mio != NULL);
    return mio;
}

/* One complete session of the recording; checks the saved audio and returns
 * the session id (malloc'd). */
typedef struct {
    int port;
    const char *dir;
    const unsigned char *raw;
    size_t raw_size;
    MIMIIO_AUDIO_FORMAT format;
    char *session_id;
} bit_exact_job;

static void *run_bit_exact(void *arg)
{
    bit_exact_job *job = arg;
    audio_source source;
    results collected;
    session s;
    char *finished;
    char id[256];

    audio_source_init(&source, job->raw, job->raw_size, PCM_CHUNK);
    results_init(&collected);
    session_init(&s, job->port, &source, &collected);
    s.format = job->format;
    s.timeout_ms = 60000;

    CHECK_INT(run_session(&s), 0);
    CHECK_INT(results_with_status(&collected, "recog-finished"), 1);
    CHECK_INT(s.final_state, MIMIIO_STREAM_CLOSED);

    check_saved_audio(&collected, job->dir, job->raw, job->raw_size);

    finished = results_finished(&collected);
    CHECK(json_string_field(finished, "session_id", id, sizeof id));
    job->session_id = strdup(id);
    free(finished);
    results_free(&collected);
    audio_source_destroy(&source);
    return NULL;
}

static void check_ids_distinct(bit_exact_job *jobs, size_t count)
{
    size_t i, j;

    for (i = 0; i < count; i++)
        for (j = i + 1; j < count; j++)
            if (strcmp(jobs[i].session_id, jobs[j].session_id) == 0)
                check_failed(__FILE__, __LINE__, "session ids must differ", jobs[i].session_id);
}

static void three_sequential_sessions_each_bit_exact(void)
{
    char *dir = make_temp_dir();
    const char *args[] = {"--save-audio", NULL, NULL};
    mimi_server server;
    bit_exact_job jobs[3];
    unsigned char *raw;
    size_t raw_size, i;

    args[1] = dir;
    server_start(&server, args);
    raw = read_testdata(RAW_NAME, &raw_size);
    for (i = 0; i < 3; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        jobs[i].port = server.port;
        jobs[i].dir = dir;
        jobs[i].raw = raw;
        jobs[i].raw_size = raw_size;
        jobs[i].format = MIMIIO_FLAC_0;
        run_bit_exact(&jobs[i]);
    }
    check_ids_distinct(jobs, 3);

    for (i = 0; i < 3; i++)
        free(jobs[i].session_id);
    free(raw);
    server_stop(&server);
    remove_temp_dir(dir);
}

static void eight_concurrent_sessions_each_bit_exact(void)
{
    char *dir = make_temp_dir();
    const char *args[] = {"--save-audio", NULL, "--max-sessions", "8", NULL};
    mimi_server server;
    bit_exact_job jobs[CONCURRENT];
    pthread_t threads[CONCURRENT];
    unsigned char *raw;
    size_t raw_size, i;

    args[1] = dir;
    server_start(&server, args);
    raw = read_testdata(RAW_NAME, &raw_size);
    for (i = 0; i < CONCURRENT; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        jobs[i].port = server.port;
        jobs[i].dir = dir;
        jobs[i].raw = raw;
        jobs[i].raw_size = raw_size;
        /* Half encode, half send PCM: both paths run side by side. */
        jobs[i].format = i % 2 == 0 ? MIMIIO_RAW_PCM : MIMIIO_FLAC_5;
        CHECK(pthread_create(&threads[i], NULL, run_bit_exact, &jobs[i]) == 0);
    }
    for (i = 0; i < CONCURRENT; i++)
        CHECK(pthread_join(threads[i], NULL) == 0);
    check_ids_distinct(jobs, CONCURRENT);

    for (i = 0; i < CONCURRENT; i++)
        free(jobs[i].session_id);
    free(raw);
    server_stop(&server);
    remove_temp_dir(dir);
}

static void close_mid_stream_stops_callbacks(void)
{
    mimi_server server;
    unsigned char *raw;
    size_t raw_size;
    audio_source source;
    results collected;
    long long deadline, started;
    long calls_after_close;
    MIMI_IO *mio;

    server_start(&server, NULL);
    raw = read_testdata(RAW_NAME, &raw_size);
    /* Audio keeps coming slowly and never ends with recog-break. */
    audio_source_init(&source, raw, raw_size, PCM_CHUNK);
    source.endless = true;
    source.delay_ms = 20;
    results_init(&collected);
    mio = open_pcm(server.port, &source, &collected);
    CHECK_INT(mimi_start(mio), 0);

    deadline = now_ms() + 15000;
    while (results_calls(&collected) < 1 || audio_calls(&source) < 5) {
        CHECK(now_ms() < deadline);
        sleep_ms(5);
    }
    CHECK_INT(mimi_stream_state(mio), MIMIIO_STREAM_BOTH);

    started = now_ms();
    mimi_close(mio);
    /* Bounded by the closing handshake's 1 s plus a callback's 20 ms. */
    CHECK(now_ms() - started < 5000);

    calls_after_close = audio_calls(&source) + results_calls(&collected);
    sleep_ms(500);
    CHECK_INT(audio_calls(&source) + results_calls(&collected), calls_after_close);

    results_free(&collected);
    audio_source_destroy(&source);
    free(raw);
    server_stop(&server);
}

static void state_is_wait_after_open(void)
{
    mimi_server server;
    audio_source source;
    results collected;
    MIMI_IO *mio;

    server_start(&server, NULL);
    audio_source_init(&source, NULL, 0, PCM_CHUNK);
    results_init(&collected);
    mio = open_pcm(server.port, &source, &collected);

    CHECK_INT(mimi_stream_state(mio), MIMIIO_STREAM_WAIT);
    CHECK(mimi_is_active(mio) == false);
    CHECK_INT(mimi_error(mio), 0);
    CHECK_INT(audio_calls(&source), 0);

    mimi_close(mio);
    results_free(&collected);
    audio_source_destroy(&source);
    server_stop(&server);
}

/* txfunc is held inside its second call, so sending is certainly running;
 * the server has no reason to stop before recog-break, so receiving runs too. */
static void state_is_both_while_streaming(void)
{
    mimi_server server;
    unsigned char *raw;
    size_t raw_size;
    audio_source source;
    results collected;
    gate hold;
    MIMI_IO *mio;

    server_start(&server, NULL);
    raw = read_testdata(RAW_NAME, &raw_size);
    gate_init(&hold);
    audio_source_init(&source, raw, raw_size, PCM_CHUNK);
    source.hold_second = &hold;
    results_init(&collected);
    mio = open_pcm(server.port, &source, &collected);
    CHECK_INT(mimi_start(mio), 0);

    CHECK(gate_wait_entered(&hold, 10000));
    CHECK_INT(mimi_stream_state(mio), MIMIIO_STREAM_BOTH);
    CHECK(mimi_is_active(mio));
    gate_open(&hold);

    wait_inactive(mio, 20000);
    CHECK_INT(mimi_error(mio), 0);
    mimi_close(mio);
    results_free(&collected);
    audio_source_destroy(&source);
    gate_destroy(&hold);
    free(raw);
    server_stop(&server);
}

/* All audio and recog-break go in the first txfunc call, so sending ends at
 * once; rxfunc is held inside its first call, so receiving cannot end. The
 * short poll only waits for the sending thread's own bookkeeping. */
static void state_is_recv_after_recog_break_while_results_pending(void)
{
    mimi_server server;
    unsigned char *raw;
    size_t raw_size;
    audio_source source;
    results collected;
    gate hold;
    MIMI_IO *mio;

    server_start(&server, NULL);
    raw = read_testdata(RAW_NAME, &raw_size);
    CHECK(raw_size <= 262144);
    gate_init(&hold);
    audio_source_init(&source, raw, raw_size, 262144);
    results_init(&collected);
    collected.hold_first = &hold;
    mio = open_pcm(server.port, &source, &collected);
    CHECK_INT(mimi_start(mio), 0);

    CHECK(gate_wait_entered(&hold, 10000));
    CHECK(audio_break_sent(&source));
    CHECK_INT(state_after_both(mio, 2000), MIMIIO_STREAM_RECV);
    CHECK(mimi_is_active(mio));
    gate_open(&hold);

    wait_inactive(mio, 20000);
    CHECK_INT(mimi_error(mio), 0);
    CHECK_INT(audio_calls(&source), 1);
    CHECK_INT(results_with_status(&collected, "recog-finished"), 1);
    mimi_close(mio);
    results_free(&collected);
    audio_source_destroy(&source);
    gate_destroy(&hold);
    free(raw);
    server_stop(&server);
}

/* The server closes with 4001 after the first audio frame, which ends the
 * receiving side, while txfunc is held inside its second call, which keeps
 * the sending side running. */
static void state_is_send_when_receiving_ends_first(void)
{
    const char *args[] = {"--fault", "close-4001", NULL};
    mimi_server server;
    unsigned char *raw;
    size_t raw_size;
    audio_source source;
    results collected;
    gate hold;
    MIMI_IO *mio;

    server_start(&server, args);
    raw = read_testdata(RAW_NAME, &raw_size);
    gate_init(&hold);
    audio_source_init(&source, raw, raw_size, PCM_CHUNK);
    source.hold_second = &hold;
    results_init(&collected);
    mio = open_pcm(server.port, &source, &collected);
    CHECK_INT(mimi_start(mio), 0);

    CHECK(gate_wait_entered(&hold, 10000));
    CHECK_INT(state_after_both(mio, 10000), MIMIIO_STREAM_SEND);
    CHECK(mimi_is_active(mio));
    gate_open(&hold);

    wait_inactive(mio, 10000);
    CHECK_INT(mimi_error(mio), 4001);
    CHECK_INT(mimi_stream_state(mio), MIMIIO_STREAM_CLOSED);
    mimi_close(mio);
    results_free(&collected);
    audio_source_destroy(&source);
    gate_destroy(&hold);
    free(raw);
    server_stop(&server);
}

static void state_is_closed_at_end(void)
{
    mimi_server server;
    unsigned char *raw;
    size_t raw_size;
    audio_source source;
    results collected;
    session s;

    server_start(&server, NULL);
    raw = read_testdata(RAW_NAME, &raw_size);
    audio_source_init(&source, raw, raw_size, PCM_CHUNK);
    results_init(&collected);
    session_init(&s, server.port, &source, &collected);

    CHECK_INT(run_session(&s), 0);
    CHECK_INT(s.final_state, MIMIIO_STREAM_CLOSED);

    results_free(&collected);
    audio_source_destroy(&source);
    free(raw);
    server_stop(&server);
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        {"three_sequential_sessions_each_bit_exact", three_sequential_sessions_each_bit_exact},
        {"eight_concurrent_sessions_each_bit_exact", eight_concurrent_sessions_each_bit_exact},
        {"close_mid_stream_stops_callbacks", close_mid_stream_stops_callbacks},
        {"state_is_wait_after_open", state_is_wait_after_open},
        {"state_is_both_while_streaming", state_is_both_while_streaming},
        {"state_is_recv_after_recog_break_while_results_pending",
         state_is_recv_after_recog_break_while_results_pending},
        {"state_is_send_when_receiving_ends_first", state_is_send_when_receiving_ends_first},
        {"state_is_closed_at_end", state_is_closed_at_end},
    };

    return run_tests(tests, sizeof tests / sizeof tests[0], 60, argc, argv);
}
