/*
 * wss:// with an access token: streaming over TLS, strict certificate checks
 * (each failure with its exact 600s number), the token check (806), and the
 * token never appearing in either side's log.
 *
 * The certificates come from make-certs.sh, run at test time by the tls_certs
 * CTest fixture into $MIMIIO_TEST_CERTS. The library reads MIMIIO_CA_FILE and
 * OpenSSL's SSL_CERT_FILE / SSL_CERT_DIR at each mimi_open, so every test sets
 * them itself in its forked child.
 */
#define _DEFAULT_SOURCE /* setenv, unsetenv */

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "mimiio.h"

#define RAW_NAME "speech-16k-mono.raw"
#define PCM_CHUNK 3200 /* 0.1 s of 16 kHz mono */

/* What the servers require, and a token they refuse; both distinctive enough to
 * be searched for in logs. */
#define TOKEN "tok-7f3c91e2-mimiio-secret"
#define OTHER_TOKEN "tok-0b5d44a8-refused-secret"

/* ---- certificates and trust ---- */

/* The path of a file made by make-certs.sh, in `out`; fails when it is missing. */
static void cert_file(char *out, size_t size, const char *name)
{
    const char *dir = getenv("MIMIIO_TEST_CERTS");

    if (dir == NULL || dir[0] == '\0')
        check_failed(__FILE__, __LINE__, "MIMIIO_TEST_CERTS", "not set");
    snprintf(out, size, "%s/%s", dir, name);
    if (access(out, R_OK) != 0)
        check_failed(__FILE__, __LINE__, "certificate file missing (run make-certs.sh)", out);
}

/* Trusts the system store plus `ca_path` as MIMIIO_CA_FILE (none when NULL);
 * SSL_CERT_FILE and SSL_CERT_DIR are unset so nothing else is trusted. */
static void trust(const char *ca_path)
{
    unsetenv("SSL_CERT_FILE");
    unsetenv("SSL_CERT_DIR");
    if (ca_path == NULL)
        unsetenv("MIMIIO_CA_FILE");
    else
        CHECK(setenv("MIMIIO_CA_FILE", ca_path, 1) == 0);
}

/* Trusts the system store plus the test CA. */
static void trust_test_ca(void)
{
    char ca[4096];

    cert_file(ca, sizeof ca, "ca.pem");
    trust(ca);
}

/* ---- servers ---- */

/* Starts a TLS-only server presenting `name`.pem (key `name`.key) that requires
 * TOKEN; with `save_dir` not NULL it saves each session's audio there. */
static void start_tls_server(mimi_server *server, const char *name, const char *save_dir)
{
    char cert[4096], key[4096], file[64];
    const char *args[] = {"--tls-cert", cert, "--tls-key", key, "--token", TOKEN,
                          NULL,         NULL, NULL};

    snprintf(file, sizeof file, "%s.pem", name);
    cert_file(cert, sizeof cert, file);
    snprintf(file, sizeof file, "%s.key", name);
    cert_file(key, sizeof key, file);
    if (save_dir != NULL) {
        args[6] = "--save-audio";
        args[7] = save_dir;
    }
    server_start(server, args);
}

/* Starts a server with `--fault mode` and no TLS options. */
static void start_fault_server(mimi_server *server, const char *mode)
{
    const char *args[] = {"--fault", mode, NULL};

    server_start(server, args);
}

/* ---- the client ---- */

/* mimi_open on host:port with `token`; returns the error number it reported,
 * having checked that the handle exists exactly when it is 0 (and closed it). */
static int open_error(const char *host, int port, const char *token)
{
    int errorno = -12345;
    MIMI_IO *mio = mimi_open(host, port, NULL, NULL, NULL, NULL, MIMIIO_RAW_PCM, 16000, 1, NULL,
                             0, token, MIMIIO_LOG_ERROR, &errorno);

    if (errorno == 0)
        CHECK(mio != NULL);
    else
        CHECK(mio == NULL);
    mimi_close(mio);
    return errorno;
}

/* What one session over wss ended with. No CHECK inside, so it can run while
 * stderr goes to a log file. */
typedef struct {
    int open_error;
    int start_result;
    int error; /* mimi_error once inactive */
    MIMIIO_STREAM_STATE final_state;
    bool timed_out;
} outcome;

/* Streams `source` in `format` (16 kHz mono) to host:port with `token`. */
static outcome wss_session(const char *host, int port, const char *token,
                           MIMIIO_AUDIO_FORMAT format, int loglevel, audio_source *source,
                           results *collected)
{
    outcome out = {-12345, -12345, -12345, MIMIIO_STREAM_WAIT, false};
    long long deadline;
    MIMI_IO *mio;

    mio = mimi_open(host, port, audio_txfunc, results_rxfunc, source, collected, format, 16000, 1,
                    NULL, 0, token, loglevel, &out.open_error);
    if (mio == NULL)
        return out;
    out.start_result = mimi_start(mio);

    deadline = now_ms() + 20000;
    while (out.start_result == 0 && mimi_is_active(mio)) {
        if (now_ms() > deadline) {
            out.timed_out = true;
            break;
        }
        sleep_ms(1);
    }
    out.error = mimi_error(mio);
    out.final_state = mimi_stream_state(mio);
    mimi_close(mio);
    return out;
}

/* The checks of a session that ended normally. */
static void check_normal_end(const outcome *out)
{
    CHECK_INT(out->open_error, 0);
    CHECK_INT(out->start_result, 0);
    CHECK(!out->timed_out);
    CHECK_INT(out->error, 0);
    CHECK_INT(out->final_state, MIMIIO_STREAM_CLOSED);
}

/* ---- streaming over wss ---- */

/* Streams the recording over wss to `host` and compares what the server saved
 * with it byte for byte. */
static void stream_bit_exact(const char *host, MIMIIO_AUDIO_FORMAT format, const char *codec)
{
    char *dir = make_temp_dir();
    mimi_server server;
    unsigned char *raw;
    size_t raw_size;
    audio_source source;
    results collected;
    outcome out;
    char *finished;
    char reported[32];

    trust_test_ca();
    start_tls_server(&server, "server", dir);
    raw = read_testdata(RAW_NAME, &raw_size);
    audio_source_init(&source, raw, raw_size, PCM_CHUNK);
    results_init(&collected);

    out = wss_session(host, server.port, TOKEN, format, MIMIIO_LOG_ERROR, &source, &collected);

    check_normal_end(&out);
    CHECK(results_with_status(&collected, "recog-in-progress") >= 1);
    CHECK_INT(results_with_status(&collected, "recog-finished"), 1);
    finished = results_finished(&collected);
    CHECK(finished != NULL);
    CHECK(json_string_field(finished, "format", reported, sizeof reported));
    if (strcmp(reported, codec) != 0)
        check_failed(__FILE__, __LINE__, "reported format", reported);

    check_saved_audio(&collected, dir, raw, raw_size);

    free(finished);
    results_free(&collected);
    audio_source_destroy(&source);
    free(raw);
    server_stop(&server);
    remove_temp_dir(dir);
}

static void raw_pcm_over_wss_arrives_bit_exact(void)
{
    stream_bit_exact("localhost", MIMIIO_RAW_PCM, "pcm");
}

static void flac_5_over_wss_arrives_bit_exact(void)
{
    stream_bit_exact("localhost", MIMIIO_FLAC_5, "flac");
}

/* The certificate's IP address SAN is checked against a numeric host. */
static void raw_pcm_over_wss_to_ip_address_arrives_bit_exact(void)
{
    stream_bit_exact("127.0.0.1", MIMIIO_RAW_PCM, "pcm");
}

static void flac_5_over_wss_to_ip_address_arrives_bit_exact(void)
{
    stream_bit_exact("127.0.0.1", MIMIIO_FLAC_5, "flac");
}

/* OpenSSL's own variable for the trust store works in place of MIMIIO_CA_FILE. */
static void ssl_cert_file_is_honoured(void)
{
    char ca[4096];
    mimi_server server;

    cert_file(ca, sizeof ca, "ca.pem");
    trust(NULL);
    CHECK(setenv("SSL_CERT_FILE", ca, 1) == 0);
    start_tls_server(&server, "server", NULL);

    CHECK_INT(open_error("localhost", server.port, TOKEN), 0);

    server_stop(&server);
}

/* ---- the token ---- */

static void wrong_token_is_806(void)
{
    mimi_server server;

    trust_test_ca();
    start_tls_server(&server, "server", NULL);

    CHECK_INT(open_error("localhost", server.port, OTHER_TOKEN), 806);

    server_stop(&server);
}

/* A NULL token means a plain ws:// request, which a TLS-only server drops. */
static void plain_request_to_tls_server_is_705(void)
{
    mimi_server server;

    trust_test_ca();
    start_tls_server(&server, "server", NULL);

    CHECK_INT(open_error("localhost", server.port, NULL), 705);

    server_stop(&server);
}

/* ---- certificate checks ---- */

/* Opens to a TLS server presenting `cert_name` at `host`; returns the number. */
static int open_error_with_cert(const char *cert_name, const char *host)
{
    mimi_server server;
    int errorno;

    start_tls_server(&server, cert_name, NULL);
    errorno = open_error(host, server.port, TOKEN);
    server_stop(&server);
    return errorno;
}

/* Signed by the second CA, trusted by nobody: only the system store is used. */
static void untrusted_issuer_is_605(void)
{
    trust(NULL);

    CHECK_INT(open_error_with_cert("untrusted", "localhost"), 605);
}

/* Trusting the test CA does not extend to another CA's certificates. */
static void issuer_outside_ca_file_is_605(void)
{
    trust_test_ca();

    CHECK_INT(open_error_with_cert("untrusted", "localhost"), 605);
}

/* Signed by the trusted CA for the right names, but valid only in 2020. */
static void expired_certificate_is_605(void)
{
    trust_test_ca();

    CHECK_INT(open_error_with_cert("expired", "localhost"), 605);
}

static void self_signed_certificate_is_605(void)
{
    trust_test_ca();

    CHECK_INT(open_error_with_cert("selfsigned", "localhost"), 605);
}

/* Signed by the trusted CA for the right names, but only for client
 * authentication: OpenSSL's verify code 26 (invalid purpose), an unusable
 * certificate. */
static void certificate_not_for_servers_is_602(void)
{
    trust_test_ca();

    CHECK_INT(open_error_with_cert("clientonly", "localhost"), 602);
}

/* A valid chain issued for other.example only. */
static void certificate_for_another_name_is_603(void)
{
    trust_test_ca();

    CHECK_INT(open_error_with_cert("other", "localhost"), 603);
}

/* The same certificate has no IP address SAN either. */
static void certificate_without_the_ip_address_is_603(void)
{
    trust_test_ca();

    CHECK_INT(open_error_with_cert("other", "127.0.0.1"), 603);
}

/* ---- the client's TLS context ---- */

static void missing_ca_file_is_601(void)
{
    char *dir = make_temp_dir();
    char path[4096];

    snprintf(path, sizeof path, "%s/no-such-ca.pem", dir);
    trust(path);

    CHECK_INT(open_error_with_cert("server", "localhost"), 601);

    remove_temp_dir(dir);
}

/* A path that exists but cannot be read as a file (root reads any mode, so a
 * directory stands in for an unreadable file). */
static void ca_file_that_is_a_directory_is_601(void)
{
    char *dir = make_temp_dir();

    trust(dir);

    CHECK_INT(open_error_with_cert("server", "localhost"), 601);

    remove_temp_dir(dir);
}

static void ca_file_without_certificates_is_601(void)
{
    char *dir = make_temp_dir();
    char path[4096];
    FILE *f;

    snprintf(path, sizeof path, "%s/not-a-ca.pem", dir);
    f = fopen(path, "w");
    CHECK(f != NULL);
    fputs("this is not a certificate\n", f);
    CHECK(fclose(f) == 0);
    trust(path);

    CHECK_INT(open_error_with_cert("server", "localhost"), 601);

    remove_temp_dir(dir);
}

/* ---- servers that do not complete TLS ---- */

/* A plain HTTP server answers the ClientHello with text. */
static void server_answering_http_text_is_605(void)
{
    mimi_server server;

    trust_test_ca();
    start_fault_server(&server, "http-text");

    CHECK_INT(open_error("localhost", server.port, TOKEN), 605);

    server_stop(&server);
}

static void peer_closing_in_tls_handshake_is_604(void)
{
    mimi_server server;

    trust_test_ca();
    start_fault_server(&server, "tls-close-in-handshake");

    CHECK_INT(open_error("localhost", server.port, TOKEN), 604);

    server_stop(&server);
}

/* ---- the token stays out of the logs ---- */

/* Sends stderr to a new file at `path`; returns the old stderr for restore_stderr. */
static int redirect_stderr(const char *path)
{
    int saved, fd;

    fflush(stderr);
    saved = dup(STDERR_FILENO);
    CHECK(saved >= 0);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    CHECK(dup2(fd, STDERR_FILENO) == STDERR_FILENO);
    close(fd);
    return saved;
}

static void restore_stderr(int saved)
{
    fflush(stderr);
    CHECK(dup2(saved, STDERR_FILENO) == STDERR_FILENO);
    close(saved);
}

/* Reads `dir`/`name` as a string (malloc'd); it must exist and not be empty. */
static char *read_log(const char *dir, const char *name)
{
    char path[4096];
    unsigned char *data, *text;
    size_t size = 0;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    data = read_file(path, &size);
    if (data == NULL)
        check_failed(__FILE__, __LINE__, "log file missing", path);
    if (size == 0)
        check_failed(__FILE__, __LINE__, "log file empty", path);
    text = realloc(data, size + 1);
    CHECK(text != NULL);
    text[size] = '\0';
    /* A NUL inside the log would hide what follows it from strstr. */
    CHECK(strlen((char *)text) == size);
    return (char *)text;
}

/* Waits until the file at `path` contains `text`, at most `timeout_ms`. */
static void wait_for_text(const char *path, const char *text, long timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;

    for (;;) {
        size_t size = 0;
        unsigned char *data = read_file(path, &size);
        char *copy = data == NULL ? NULL : realloc(data, size + 1);
        bool found = false;

        if (copy != NULL) {
            copy[size] = '\0';
            found = strstr(copy, text) != NULL;
        } else {
            free(data);
        }
        free(copy);
        if (found)
            return;
        if (now_ms() > deadline)
            check_failed(__FILE__, __LINE__, "no server log line with", text);
        sleep_ms(5);
    }
}

static void check_no_token(const char *log, const char *what)
{
    if (strstr(log, TOKEN) != NULL || strstr(log, OTHER_TOKEN) != NULL)
        check_failed(__FILE__, __LINE__, "a token appears in the log", what);
}

/* Runs one session with `token` against a server requiring TOKEN, the library
 * logging at TRACE to stderr, and checks both logs: not empty, no token. Returns
 * the session's outcome; `server_end` is the end= the server's line must carry. */
static outcome logged_session(const char *token, const char *server_end)
{
    char *dir = make_temp_dir();
    char path[4096];
    mimi_server server;
    unsigned char *raw;
    size_t raw_size;
    audio_source source;
    results collected;
    outcome out;
    char *client_log, *server_log;
    int saved;

    trust_test_ca();
    CHECK(setenv("MIMIIO_LOG_STDERR", "1", 1) == 0);
    raw = read_testdata(RAW_NAME, &raw_size);
    audio_source_init(&source, raw, raw_size, PCM_CHUNK);
    results_init(&collected);

    /* The server keeps the stderr it started with; the library writes to the
     * test's stderr from mimi_open on. */
    snprintf(path, sizeof path, "%s/server.log", dir);
    saved = redirect_stderr(path);
    start_tls_server(&server, "server", NULL);
    restore_stderr(saved);
    snprintf(path, sizeof path, "%s/client.log", dir);
    saved = redirect_stderr(path);
    out = wss_session("localhost", server.port, token, MIMIIO_FLAC_5, MIMIIO_LOG_TRACE, &source,
                      &collected);
    restore_stderr(saved);
    /* The server writes its line after the client has gone: wait for it, as
     * SIGTERM could come first. */
    snprintf(path, sizeof path, "%s/server.log", dir);
    wait_for_text(path, server_end, 5000);
    server_stop(&server);

    client_log = read_log(dir, "client.log");
    check_no_token(client_log, "library (MIMIIO_LOG_TRACE)");
    /* syslog's copy on stderr names the ident and pid. */
    CHECK(strstr(client_log, "mimiio[") != NULL);
    server_log = read_log(dir, "server.log");
    check_no_token(server_log, "mimi-server");

    free(server_log);
    free(client_log);
    results_free(&collected);
    audio_source_destroy(&source);
    free(raw);
    remove_temp_dir(dir);
    return out;
}

static void token_absent_from_logs_of_a_wss_session(void)
{
    outcome out = logged_session(TOKEN, " end=recog-finished");

    check_normal_end(&out);
}

static void token_absent_from_logs_of_a_refused_token(void)
{
    outcome out = logged_session(OTHER_TOKEN, " end=http-401");

    CHECK_INT(out.open_error, 806);
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        {"raw_pcm_over_wss_arrives_bit_exact", raw_pcm_over_wss_arrives_bit_exact},
        {"flac_5_over_wss_arrives_bit_exact", flac_5_over_wss_arrives_bit_exact},
        {"raw_pcm_over_wss_to_ip_address_arrives_bit_exact",
         raw_pcm_over_wss_to_ip_address_arrives_bit_exact},
        {"flac_5_over_wss_to_ip_address_arrives_bit_exact",
         flac_5_over_wss_to_ip_address_arrives_bit_exact},
        {"ssl_cert_file_is_honoured", ssl_cert_file_is_honoured},
        {"wrong_token_is_806", wrong_token_is_806},
        {"plain_request_to_tls_server_is_705", plain_request_to_tls_server_is_705},
        {"untrusted_issuer_is_605", untrusted_issuer_is_605},
        {"issuer_outside_ca_file_is_605", issuer_outside_ca_file_is_605},
        {"expired_certificate_is_605", expired_certificate_is_605},
        {"self_signed_certificate_is_605", self_signed_certificate_is_605},
        {"certificate_not_for_servers_is_602", certificate_not_for_servers_is_602},
        {"certificate_for_another_name_is_603", certificate_for_another_name_is_603},
        {"certificate_without_the_ip_address_is_603", certificate_without_the_ip_address_is_603},
        {"missing_ca_file_is_601", missing_ca_file_is_601},
        {"ca_file_that_is_a_directory_is_601", ca_file_that_is_a_directory_is_601},
        {"ca_file_without_certificates_is_601", ca_file_without_certificates_is_601},
        {"server_answering_http_text_is_605", server_answering_http_text_is_605},
        {"peer_closing_in_tls_handshake_is_604", peer_closing_in_tls_handshake_is_604},
        {"token_absent_from_logs_of_a_wss_session", token_absent_from_logs_of_a_wss_session},
        {"token_absent_from_logs_of_a_refused_token", token_absent_from_logs_of_a_refused_token},
    };

    return run_tests(tests, sizeof tests / sizeof tests[0], 60, argc, argv);
}
