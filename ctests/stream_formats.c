/*
 * Every way of sending audio delivers the recording bit-exactly: the server
 * (run with --save-audio) decodes what arrived and writes the PCM, which must
 * equal testdata/speech-16k-mono.raw byte for byte.
 */
#define _DEFAULT_SOURCE

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "mimiio.h"

#define RAW_NAME "speech-16k-mono.raw"
#define FLAC_NAME "speech-16k-mono.flac"

/* 0.1 s of 16 kHz mono audio per txfunc call, as a microphone loop would. */
#define PCM_CHUNK 3200
/* FLAC files are passed through in arbitrary pieces. */
#define FILE_CHUNK 4096

typedef struct {
    MIMIIO_AUDIO_FORMAT format;
    const char *input; /* test data file txfunc serves */
    size_t chunk;
    int rate;
    int channels;
    const char *codec; /* what the server must report having received */
} stream_case;

/* KNOWN LIBRARY RACE (fails rarely, about 1 session in 200-2000): the sending
 * thread clears its flag only after queuing recog-break; when the server's
 * answer and close arrive first, the state reads SEND (3) after the break. */
static void check_state_after_break(MIMIIO_STREAM_STATE state)
{
    if (state != MIMIIO_STREAM_RECV && state != MIMIIO_STREAM_CLOSED)
        check_failed_int(__FILE__, __LINE__, "state after recog-break (RECV=4, CLOSED=1)", state,
                         MIMIIO_STREAM_RECV);
}

/* The server reports the X-Mimi-Content-Type it parsed in each result. */
static void check_reported_format(results *r, const stream_case *c)
{
    char *finished = results_finished(r);
    char codec[32];
    long long rate = 0, channels = 0;

    CHECK(finished != NULL);
    CHECK(json_string_field(finished, "format", codec, sizeof codec));
    if (strcmp(codec, c->codec) != 0)
        check_failed(__FILE__, __LINE__, "reported format", codec);
    CHECK(json_int_field(finished, "rate", &rate));
    CHECK_INT(rate, c->rate);
    CHECK(json_int_field(finished, "channels", &channels));
    CHECK_INT(channels, c->channels);
    free(finished);
}

static void stream_and_compare(const stream_case *c)
{
    char *dir = make_temp_dir();
    const char *args[] = {"--save-audio", NULL, NULL};
    mimi_server server;
    unsigned char *raw, *input;
    size_t raw_size, input_size;
    audio_source source;
    results collected;
    session s;

    args[1] = dir;
    server_start(&server, args);
    raw = read_testdata(RAW_NAME, &raw_size);
    input = read_testdata(c->input, &input_size);
    audio_source_init(&source, input, input_size, c->chunk);
    results_init(&collected);
    session_init(&s, server.port, &source, &collected);
    s.format = c->format;
    s.rate = c->rate;
    s.channels = c->channels;

    CHECK_INT(run_session(&s), 0);

    CHECK(results_with_status(&collected, "recog-in-progress") >= 1);
    CHECK_INT(results_with_status(&collected, "recog-finished"), 1);
    check_state_after_break(s.state_after_break);
    CHECK_INT(s.final_state, MIMIIO_STREAM_CLOSED);
    check_reported_format(&collected, c);

    check_saved_audio(&collected, dir, raw, raw_size);

    results_free(&collected);
    audio_source_destroy(&source);
    free(input);
    free(raw);
    server_stop(&server);
    remove_temp_dir(dir);
}

static void raw_pcm_arrives_bit_exact(void)
{
    stream_case c = {MIMIIO_RAW_PCM, RAW_NAME, PCM_CHUNK, 16000, 1, "pcm"};

    stream_and_compare(&c);
}

static void flac_0_arrives_bit_exact(void)
{
    stream_case c = {MIMIIO_FLAC_0, RAW_NAME, PCM_CHUNK, 16000, 1, "flac"};

    stream_and_compare(&c);
}

static void flac_5_arrives_bit_exact(void)
{
    stream_case c = {MIMIIO_FLAC_5, RAW_NAME, PCM_CHUNK, 16000, 1, "flac"};

    stream_and_compare(&c);
}

static void flac_8_arrives_bit_exact(void)
{
    stream_case c = {MIMIIO_FLAC_8, RAW_NAME, PCM_CHUNK, 16000, 1, "flac"};

    stream_and_compare(&c);
}

static void flac_pass_through_arrives_bit_exact(void)
{
    stream_case c = {MIMIIO_FLAC_PASS_THROUGH, FLAC_NAME, FILE_CHUNK, 16000, 1, "flac"};

    stream_and_compare(&c);
}

/* The same bytes declared as 8 kHz stereo: the server must be told so, and
 * still store exactly these bytes. */
static void pcm_content_type_carries_rate_and_channels(void)
{
    stream_case c = {MIMIIO_RAW_PCM, RAW_NAME, PCM_CHUNK, 8000, 2, "pcm"};

    stream_and_compare(&c);
}

/* As above through the encoder: 22050 Hz stereo FLAC decodes to the same bytes. */
static void flac_content_type_carries_rate_and_channels(void)
{
    stream_case c = {MIMIIO_FLAC_5, RAW_NAME, PCM_CHUNK, 22050, 2, "flac"};

    stream_and_compare(&c);
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        {"raw_pcm_arrives_bit_exact", raw_pcm_arrives_bit_exact},
        {"flac_0_arrives_bit_exact", flac_0_arrives_bit_exact},
        {"flac_5_arrives_bit_exact", flac_5_arrives_bit_exact},
        {"flac_8_arrives_bit_exact", flac_8_arrives_bit_exact},
        {"flac_pass_through_arrives_bit_exact", flac_pass_through_arrives_bit_exact},
        {"pcm_content_type_carries_rate_and_channels",
         pcm_content_type_carries_rate_and_channels},
        {"flac_content_type_carries_rate_and_channels",
         flac_content_type_carries_rate_and_channels},
    };

    return run_tests(tests, sizeof tests / sizeof tests[0], 60, argc, argv);
}
