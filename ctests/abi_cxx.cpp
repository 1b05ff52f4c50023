// ABI checks from C++: the header must compile as C++ (extern "C" guard) and
// show the same layout, enum values and signatures as from C. Layout and
// values are checked both at compile time and at run time, so a mismatch is
// visible either as a build error or as a failed test.
#include <cstddef>
#include <cstring>

#include "harness.h"
#include "mimiio.h"

static_assert(sizeof(MIMIIO_HTTP_REQUEST_HEADER) == 2048, "header struct size");
static_assert(offsetof(MIMIIO_HTTP_REQUEST_HEADER, key) == 0, "key offset");
static_assert(offsetof(MIMIIO_HTTP_REQUEST_HEADER, value) == 1024, "value offset");
static_assert(sizeof(MIMIIO_AUDIO_FORMAT) == sizeof(int), "format enum size");
static_assert(MIMIIO_STREAM_RECV == 4 && MIMIIO_FLAC_PASS_THROUGH == 10, "enum values");

// The SPEC's signatures; a mismatching declaration does not compile in C++.
typedef void (*spec_tx_fn)(char *buffer, size_t *len, bool *recog_break, int *txfunc_error,
                           void *userdata_for_tx);
typedef void (*spec_rx_fn)(const char *result, size_t len, int *rxfunc_error,
                           void *userdata_for_rx);
typedef MIMI_IO *(*spec_open_fn)(const char *mimi_host, int mimi_port, spec_tx_fn on_tx_callback,
                                 spec_rx_fn on_rx_callback, void *userdata_for_tx,
                                 void *userdata_for_rx, MIMIIO_AUDIO_FORMAT format,
                                 int samplingrate, int channels,
                                 const MIMIIO_HTTP_REQUEST_HEADER *extra_request_headers,
                                 int custom_request_headers_len, const char *access_token,
                                 int loglevel, int *errorno);
typedef int (*spec_start_fn)(MIMI_IO *mio);
typedef bool (*spec_is_active_fn)(MIMI_IO *mio);
typedef MIMIIO_STREAM_STATE (*spec_stream_state_fn)(MIMI_IO *mio);
typedef void (*spec_close_fn)(MIMI_IO *mio);
typedef int (*spec_error_fn)(MIMI_IO *mio);
typedef const char *(*spec_strerror_fn)(int errorno);
typedef const char *(*spec_version_fn)(void);

static void header_struct_is_2048_bytes()
{
    CHECK_INT(sizeof(MIMIIO_HTTP_REQUEST_HEADER), 2048);
}

static void header_key_is_at_offset_0()
{
    CHECK_INT(offsetof(MIMIIO_HTTP_REQUEST_HEADER, key), 0);
    CHECK_INT(sizeof(MIMIIO_HTTP_REQUEST_HEADER().key), 1024);
}

static void header_value_is_at_offset_1024()
{
    CHECK_INT(offsetof(MIMIIO_HTTP_REQUEST_HEADER, value), 1024);
    CHECK_INT(sizeof(MIMIIO_HTTP_REQUEST_HEADER().value), 1024);
}

static void stream_states_are_numbered_0_to_4()
{
    CHECK_INT(MIMIIO_STREAM_WAIT, 0);
    CHECK_INT(MIMIIO_STREAM_CLOSED, 1);
    CHECK_INT(MIMIIO_STREAM_BOTH, 2);
    CHECK_INT(MIMIIO_STREAM_SEND, 3);
    CHECK_INT(MIMIIO_STREAM_RECV, 4);
}

static void audio_formats_are_pcm_0_flac_n_plus_1_pass_through_10()
{
    CHECK_INT(MIMIIO_RAW_PCM, 0);
    CHECK_INT(MIMIIO_FLAC_0, 1);
    CHECK_INT(MIMIIO_FLAC_1, 2);
    CHECK_INT(MIMIIO_FLAC_2, 3);
    CHECK_INT(MIMIIO_FLAC_3, 4);
    CHECK_INT(MIMIIO_FLAC_4, 5);
    CHECK_INT(MIMIIO_FLAC_5, 6);
    CHECK_INT(MIMIIO_FLAC_6, 7);
    CHECK_INT(MIMIIO_FLAC_7, 8);
    CHECK_INT(MIMIIO_FLAC_8, 9);
    CHECK_INT(MIMIIO_FLAC_PASS_THROUGH, 10);
}

static void log_levels_are_syslog_priorities()
{
    CHECK_INT(MIMIIO_LOG_ERROR, 3);
    CHECK_INT(MIMIIO_LOG_WARNING, 4);
    CHECK_INT(MIMIIO_LOG_INFO, 6);
    CHECK_INT(MIMIIO_LOG_DEBUG, 7);
    CHECK_INT(MIMIIO_LOG_TRACE, 9);
}

static void enums_are_int_sized()
{
    CHECK_INT(sizeof(MIMIIO_AUDIO_FORMAT), sizeof(int));
    CHECK_INT(sizeof(MIMIIO_STREAM_STATE), sizeof(int));
}

static void handle_is_struct_mimi_io_s()
{
    struct mimi_io_s *spelled_out = nullptr;
    MIMI_IO *typedefed = spelled_out;

    CHECK(typedefed == nullptr);
}

static void functions_have_spec_signatures()
{
    spec_open_fn open_fn = mimi_open;
    spec_start_fn start_fn = mimi_start;
    spec_is_active_fn is_active_fn = mimi_is_active;
    spec_stream_state_fn stream_state_fn = mimi_stream_state;
    spec_close_fn close_fn = mimi_close;
    spec_error_fn error_fn = mimi_error;
    spec_strerror_fn strerror_fn = mimi_strerror;
    spec_version_fn version_fn = mimi_version;

    CHECK(open_fn != nullptr);
    CHECK(start_fn != nullptr);
    CHECK(is_active_fn != nullptr);
    CHECK(stream_state_fn != nullptr);
    CHECK(close_fn != nullptr);
    CHECK(error_fn != nullptr);
    CHECK(strerror_fn != nullptr);
    CHECK(version_fn != nullptr);
}

static void version_is_3_x()
{
    const char *version = mimi_version();

    CHECK(version != nullptr);
    CHECK(std::strncmp(version, "3.", 2) == 0);
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        {"header_struct_is_2048_bytes", header_struct_is_2048_bytes},
        {"header_key_is_at_offset_0", header_key_is_at_offset_0},
        {"header_value_is_at_offset_1024", header_value_is_at_offset_1024},
        {"stream_states_are_numbered_0_to_4", stream_states_are_numbered_0_to_4},
        {"audio_formats_are_pcm_0_flac_n_plus_1_pass_through_10",
         audio_formats_are_pcm_0_flac_n_plus_1_pass_through_10},
        {"log_levels_are_syslog_priorities", log_levels_are_syslog_priorities},
        {"enums_are_int_sized", enums_are_int_sized},
        {"handle_is_struct_mimi_io_s", handle_is_struct_mimi_io_s},
        {"functions_have_spec_signatures", functions_have_spec_signatures},
        {"version_is_3_x", version_is_3_x},
    };

    return run_tests(tests, sizeof tests / sizeof tests[0], 10, argc, argv);
}
