/*
 * The example program mimiio_file ($MIMIIO_FILE_EXAMPLE) run as a user would:
 * results on stdout one per line, exit 0; errors as "error: TEXT (N)" on
 * stderr with a non-zero exit.
 */
#define _DEFAULT_SOURCE

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "mimiio.h"

typedef struct {
    int exit_status; /* -1 when it did not exit normally */
    char *out;       /* everything it wrote to stdout */
    char *err;       /* everything it wrote to stderr */
} run_result;

/* Runs the example with `args` (NULL-terminated), collecting its output in
 * files so that neither pipe can fill up and block it. */
static void run_example(const char *const *args, run_result *result)
{
    const char *bin = getenv("MIMIIO_FILE_EXAMPLE");
    char *dir = make_temp_dir();
    char out_path[4096], err_path[4096];
    const char *argv[32];
    size_t argc = 0, size;
    int status;
    pid_t pid;

    if (bin == NULL)
        check_failed(__FILE__, __LINE__, "MIMIIO_FILE_EXAMPLE", "not set");
    argv[argc++] = bin;
    while (args[argc - 1] != NULL && argc < 31) {
        argv[argc] = args[argc - 1];
        argc++;
    }
    argv[argc] = NULL;
    snprintf(out_path, sizeof out_path, "%s/stdout", dir);
    snprintf(err_path, sizeof err_path, "%s/stderr", dir);

    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

        dup2(out, STDOUT_FILENO);
        dup2(err, STDERR_FILENO);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    CHECK(waitpid(pid, &status, 0) == pid);
    result->exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;

    result->out = (char *)read_file(out_path, &size);
    CHECK(result->out != NULL);
    result->out = realloc(result->out, size + 1);
    result->out[size] = '\0';
    result->err = (char *)read_file(err_path, &size);
    CHECK(result->err != NULL);
    result->err = realloc(result->err, size + 1);
    result->err[size] = '\0';
    remove_temp_dir(dir);
}

static void run_result_free(run_result *result)
{
    free(result->out);
    free(result->err);
}

/* Counts stdout lines and checks each is one server message, the last one the
 * final result. */
static void check_result_lines(const char *out)
{
    const char *line = out;
    const char *last = NULL;
    size_t lines = 0;
    char status[64];

    while (*line != '\0') {
        const char *end = strchr(line, '\n');

        CHECK(end != NULL);
        CHECK(line[0] == '{' && end[-1] == '}');
        last = line;
        lines++;
        line = end + 1;
    }
    CHECK(lines >= 2);
    CHECK(json_string_field(last, "status", status, sizeof status));
    CHECK(strcmp(status, "recog-finished") == 0);
}

static void pcm_file_prints_results_and_exits_0(void)
{
    char port[16], input[4096];
    const char *args[] = {"-p", port, "-i", input, "--format", "MIMIIO_RAW_PCM", NULL};
    mimi_server server;
    run_result result;

    server_start(&server, NULL);
    snprintf(port, sizeof port, "%d", server.port);
    snprintf(input, sizeof input, "%s/speech-16k-mono.raw", getenv("MIMIIO_TESTDATA"));
    run_example(args, &result);

    CHECK_INT(result.exit_status, 0);
    check_result_lines(result.out);
    CHECK(strstr(result.out, "\"format\":\"pcm\"") != NULL);
    CHECK_INT(strlen(result.err), 0);
    run_result_free(&result);
    server_stop(&server);
}

static void default_format_is_flac_0(void)
{
    char port[16], input[4096];
    const char *args[] = {"--host", "127.0.0.1", "--port", port, "--input", input, NULL};
    mimi_server server;
    run_result result;

    server_start(&server, NULL);
    snprintf(port, sizeof port, "%d", server.port);
    snprintf(input, sizeof input, "%s/speech-16k-mono.raw", getenv("MIMIIO_TESTDATA"));
    run_example(args, &result);

    CHECK_INT(result.exit_status, 0);
    check_result_lines(result.out);
    CHECK(strstr(result.out, "\"format\":\"flac\"") != NULL);
    run_result_free(&result);
    server_stop(&server);
}

static void flac_file_passes_through(void)
{
    char port[16], input[4096];
    const char *args[] = {"-p", port, "-i", input, "--format", "MIMIIO_FLAC_PASS_THROUGH",
                          "-l", "en", "-x", "asr", "--lid_options", "ja,en", NULL};
    mimi_server server;
    run_result result;

    server_start(&server, NULL);
    snprintf(port, sizeof port, "%d", server.port);
    snprintf(input, sizeof input, "%s/speech-16k-mono.flac", getenv("MIMIIO_TESTDATA"));
    run_example(args, &result);

    CHECK_INT(result.exit_status, 0);
    check_result_lines(result.out);
    /* 66082 samples of the recording, decoded by the server. */
    CHECK(strstr(result.out, "\"samples\":66082") != NULL);
    run_result_free(&result);
    server_stop(&server);
}

static void refused_connection_prints_704(void)
{
    struct sockaddr_in addr;
    socklen_t size = sizeof addr;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    char port[16], input[4096], expected[256];
    const char *args[] = {"-p", port, "-i", input, NULL};
    run_result result;

    /* Bound but not listening: connections to it are refused. */
    CHECK(fd >= 0);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0);
    CHECK(getsockname(fd, (struct sockaddr *)&addr, &size) == 0);
    snprintf(port, sizeof port, "%d", ntohs(addr.sin_port));
    snprintf(input, sizeof input, "%s/speech-16k-mono.raw", getenv("MIMIIO_TESTDATA"));
    run_example(args, &result);

    CHECK(result.exit_status != 0 && result.exit_status != -1);
    snprintf(expected, sizeof expected, "error: %s (704)\n", mimi_strerror(704));
    if (strcmp(result.err, expected) != 0)
        check_failed(__FILE__, __LINE__, "stderr", result.err);
    CHECK_INT(strlen(result.out), 0);
    run_result_free(&result);
    close(fd);
}

static void help_exits_0(void)
{
    const char *args[] = {"--help", NULL};
    run_result result;

    run_example(args, &result);
    CHECK_INT(result.exit_status, 0);
    CHECK(strstr(result.out, "--input") != NULL);
    CHECK(strstr(result.out, "MIMIIO_LOG_STDERR") != NULL);
    run_result_free(&result);
}

static void missing_input_is_a_usage_error(void)
{
    const char *args[] = {"-p", "8101", NULL};
    run_result result;

    run_example(args, &result);
    CHECK_INT(result.exit_status, 2);
    CHECK(strstr(result.err, "Usage:") != NULL);
    run_result_free(&result);
}

int main(int argc, char **argv)
{
    static const test_case tests[] = {
        {"pcm_file_prints_results_and_exits_0", pcm_file_prints_results_and_exits_0},
        {"default_format_is_flac_0", default_format_is_flac_0},
        {"flac_file_passes_through", flac_file_passes_through},
        {"refused_connection_prints_704", refused_connection_prints_704},
        {"help_exits_0", help_exits_0},
        {"missing_input_is_a_usage_error", missing_input_is_a_usage_error},
    };

    return run_tests(tests, sizeof tests / sizeof tests[0], 30, argc, argv);
}
