/* Helpers shared by the C tests; see harness.h. */
#define _DEFAULT_SOURCE /* mkdtemp, strdup, nanosleep under -std=c99 */

#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- assertions and the runner ---- */

void check_failed(const char *file, int line, const char *what, const char *detail)
{
    fprintf(stderr, "%s:%d: check failed: %s%s%s\n", file, line, what, detail ? ": " : "",
            detail ? detail : "");
    fflush(NULL);
    /* _exit: the library's threads may still run; nothing of this child is
     * worth tearing down cleanly. */
    _exit(1);
}

void check_failed_int(const char *file, int line, const char *what, long long actual,
                      long long expected)
{
    char detail[96];

    snprintf(detail, sizeof detail, "got %lld, expected %lld", actual, expected);
    check_failed(file, line, what, detail);
}

static bool selected(const char *name, int argc, char **argv)
{
    int i;

    if (argc < 2)
        return true;
    for (i = 1; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return true;
    return false;
}

int run_tests(const test_case *tests, size_t count, unsigned seconds, int argc, char **argv)
{
    size_t i, passed = 0, failed = 0;

    for (i = 0; i < count; i++) {
        pid_t pid;
        int status;

        if (!selected(tests[i].name, argc, argv))
            continue;
        fflush(NULL);
        pid = fork();
        if (pid < 0) {
            perror("fork");
            return 2;
        }
        if (pid == 0) {
            /* SIGALRM's default action ends a hanging test. */
            alarm(seconds);
            tests[i].run();
            fflush(NULL);
            _exit(0);
        }
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            printf("ok   %s\n", tests[i].name);
            passed++;
        } else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) {
            printf("FAIL %s (timed out after %u s)\n", tests[i].name, seconds);
            failed++;
        } else if (WIFSIGNALED(status)) {
            printf("FAIL %s (killed by signal %d)\n", tests[i].name, WTERMSIG(status));
            failed++;
        } else {
            printf("FAIL %s\n", tests[i].name);
            failed++;
        }
    }
    printf("%zu passed, %zu failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}

/* ---- time ---- */

long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sleep_ms(long ms)
{
    struct timespec ts;

    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* ---- files ---- */

char *make_temp_dir(void)
{
    const char *base = getenv("TMPDIR");
    size_t size;
    char *path;

    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    size = strlen(base) + sizeof "/mimiio-test-XXXXXX";
    path = malloc(size);
    CHECK(path != NULL);
    snprintf(path, size, "%s/mimiio-test-XXXXXX", base);
    CHECK(mkdtemp(path) != NULL);
    return path;
}

void remove_temp_dir(char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *entry;

    if (d != NULL) {
        while ((entry = readdir(d)) != NULL) {
            char path[4096];

            if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof path, "%s/%s", dir, entry->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
    free(dir);
}

unsigned char *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    unsigned char *data = NULL;
    size_t used = 0, capacity = 0;

    if (f == NULL)
        return NULL;
    for (;;) {
        size_t n;

        if (used == capacity) {
            unsigned char *bigger;

            capacity = capacity ? capacity * 2 : 65536;
            bigger = realloc(data, capacity);
            if (bigger == NULL) {
                free(data);
                fclose(f);
                return NULL;
            }
            data = bigger;
        }
        n = fread(data + used, 1, capacity - used, f);
        used += n;
        if (n == 0)
            break;
    }
    if (ferror(f)) {
        free(data);
        fclose(f);
        return NULL;
    }
    fclose(f);
    *size = used;
    return data;
}

unsigned char *read_testdata(const char *name, size_t *size)
{
    const char *dir = getenv("MIMIIO_TESTDATA");
    char path[4096];
    unsigned char *data;

    if (dir == NULL)
        check_failed(__FILE__, __LINE__, "MIMIIO_TESTDATA", "not set");
    snprintf(path, sizeof path, "%s/%s", dir, name);
    data = read_file(path, size);
    if (data == NULL)
        check_failed(__FILE__, __LINE__, "cannot read test data", path);
    return data;
}

/* ---- the local server ---- */

/* Reads one line from `fd` within `timeout_ms`; false on timeout or EOF. */
static bool read_line(int fd, char *line, size_t size, long timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    size_t used = 0;

    while (used + 1 < size) {
        struct pollfd p;
        long long left = deadline - now_ms();
        char c;

        if (left <= 0)
            return false;
        p.fd = fd;
        p.events = POLLIN;
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        /* One byte at a time: nothing past the first line is consumed. */
        if (read(fd, &c, 1) != 1)
            return false;
        if (c == '\n')
            break;
        line[used++] = c;
    }
    line[used] = '\0';
    return true;
}

void server_start(mimi_server *server, const char *const *extra_args)
{
    const char *bin = getenv("MIMI_SERVER");
    const char *argv[32];
    size_t argc = 0, i;
    pid_t parent = getpid();
    char line[256];
    const char *prefix = "listening on ";
    const char *colon;
    int fds[2];

    if (bin == NULL)
        check_failed(__FILE__, __LINE__, "MIMI_SERVER", "not set");
    argv[argc++] = bin;
    argv[argc++] = "--port";
    argv[argc++] = "0";
    for (i = 0; extra_args != NULL && extra_args[i] != NULL && argc < 31; i++)
        argv[argc++] = extra_args[i];
    argv[argc] = NULL;

    CHECK(pipe(fds) == 0);
    server->pid = fork();
    CHECK(server->pid >= 0);
    if (server->pid == 0) {
        /* The server must not outlive a test that failed before stopping it. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(126);
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execv(bin, (char *const *)argv);
        fprintf(stderr, "cannot run %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    server->stdout_fd = fds[0];

    if (!read_line(server->stdout_fd, line, sizeof line, 15000))
        check_failed(__FILE__, __LINE__, "server_start", "no \"listening on\" line");
    colon = strrchr(line, ':');
    if (strncmp(line, prefix, strlen(prefix)) != 0 || colon == NULL)
        check_failed(__FILE__, __LINE__, "server_start: unexpected first line", line);
    server->port = atoi(colon + 1);
    CHECK(server->port > 0 && server->port < 65536);
}

void server_stop(mimi_server *server)
{
    long long deadline = now_ms() + 5000;
    int status;

    kill(server->pid, SIGTERM);
    while (waitpid(server->pid, &status, WNOHANG) == 0) {
        if (now_ms() > deadline) {
            kill(server->pid, SIGKILL);
            waitpid(server->pid, &status, 0);
            break;
        }
        sleep_ms(10);
    }
    close(server->stdout_fd);
    server->pid = -1;
}

/* ---- gate ---- */

void gate_init(gate *g)
{
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->cond, NULL);
    g->entered = false;
    g->open = false;
}

void gate_destroy(gate *g)
{
    pthread_cond_destroy(&g->cond);
    pthread_mutex_destroy(&g->lock);
}

void gate_pass(gate *g)
{
    pthread_mutex_lock(&g->lock);
    g->entered = true;
    pthread_cond_broadcast(&g->cond);
    while (!g->open)
        pthread_cond_wait(&g->cond, &g->lock);
    pthread_mutex_unlock(&g->lock);
}

bool gate_wait_entered(gate *g, long timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    bool entered;

    /* Polling keeps this free of pthread_cond_timedwait clock details. */
    for (;;) {
        pthread_mutex_lock(&g->lock);
        entered = g->entered;
        pthread_mutex_unlock(&g->lock);
        if (entered || now_ms() > deadline)
            return entered;
        sleep_ms(1);
    }
}

void gate_open(gate *g)
{
    pthread_mutex_lock(&g->lock);
    g->open = true;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

/* ---- rxfunc ---- */

void results_init(results *r)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->lock, NULL);
}

void results_free(results *r)
{
    size_t i;

    for (i = 0; i < r->count; i++)
        free(r->messages[i]);
    free(r->messages);
    pthread_mutex_destroy(&r->lock);
}

void results_rxfunc(const char *result, size_t len, int *rxfunc_error, void *userdata)
{
    results *r = userdata;
    char *copy = malloc(len + 1);
    long call;
    gate *hold;

    (void)rxfunc_error;
    pthread_mutex_lock(&r->lock);
    call = r->calls++;
    hold = r->hold_first;
    pthread_mutex_unlock(&r->lock);
    if (call == 0 && hold != NULL)
        gate_pass(hold);

    if (copy == NULL)
        return;
    memcpy(copy, result, len);
    copy[len] = '\0';
    pthread_mutex_lock(&r->lock);
    if (r->count == r->capacity) {
        size_t capacity = r->capacity ? r->capacity * 2 : 16;
        char **bigger = realloc(r->messages, capacity * sizeof *bigger);

        if (bigger == NULL) {
            pthread_mutex_unlock(&r->lock);
            free(copy);
            return;
        }
        r->messages = bigger;
        r->capacity = capacity;
    }
    r->messages[r->count++] = copy;
    pthread_mutex_unlock(&r->lock);
}

long results_calls(results *r)
{
    long calls;

    pthread_mutex_lock(&r->lock);
    calls = r->calls;
    pthread_mutex_unlock(&r->lock);
    return calls;
}

size_t results_with_status(results *r, const char *status)
{
    size_t i, found = 0;
    char value[64];

    pthread_mutex_lock(&r->lock);
    for (i = 0; i < r->count; i++)
        if (json_string_field(r->messages[i], "status", value, sizeof value) &&
            strcmp(value, status) == 0)
            found++;
    pthread_mutex_unlock(&r->lock);
    return found;
}

char *results_message(results *r, size_t index)
{
    char *copy = NULL;

    pthread_mutex_lock(&r->lock);
    if (index < r->count)
        copy = strdup(r->messages[index]);
    pthread_mutex_unlock(&r->lock);
    return copy;
}

char *results_finished(results *r)
{
    size_t i;
    char *found = NULL;
    int matches = 0;
    char value[64];

    pthread_mutex_lock(&r->lock);
    for (i = 0; i < r->count; i++)
        if (json_string_field(r->messages[i], "status", value, sizeof value) &&
            strcmp(value, "recog-finished") == 0) {
            matches++;
            found = r->messages[i];
        }
    found = matches == 1 ? strdup(found) : NULL;
    pthread_mutex_unlock(&r->lock);
    return found;
}

/* Points just past `"key":` (and any spaces), or NULL. */
static const char *json_value(const char *json, const char *key)
{
    size_t key_len = strlen(key);
    const char *p = json;

    while ((p = strchr(p, '"')) != NULL) {
        const char *after = p + 1 + key_len;

        if (strncmp(p + 1, key, key_len) == 0 && *after == '"') {
            after++;
            while (*after == ' ')
                after++;
            if (*after == ':') {
                after++;
                while (*after == ' ')
                    after++;
                return after;
            }
        }
        p++;
    }
    return NULL;
}

bool json_string_field(const char *json, const char *key, char *out, size_t size)
{
    const char *p = json_value(json, key);
    size_t used = 0;

    if (p == NULL || *p != '"' || size == 0)
        return false;
    for (p++; *p != '\0' && *p != '"'; p++) {
        /* Escapes are kept as they are: session ids and statuses have none. */
        if (*p == '\\' && p[1] != '\0') {
            if (used + 1 < size)
                out[used++] = *p;
            p++;
        }
        if (used + 1 < size)
            out[used++] = *p;
    }
    out[used] = '\0';
    return *p == '"';
}

bool json_int_field(const char *json, const char *key, long long *value)
{
    const char *p = json_value(json, key);
    char *end;

    if (p == NULL)
        return false;
    errno = 0;
    *value = strtoll(p, &end, 10);
    return end != p && errno == 0;
}

/* ---- txfunc ---- */

void audio_source_init(audio_source *s, const unsigned char *data, size_t size, size_t chunk)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    s->data = data;
    s->size = size;
    s->chunk = chunk;
}

void audio_source_destroy(audio_source *s)
{
    pthread_mutex_destroy(&s->lock);
}

void audio_txfunc(char *buffer, size_t *len, bool *recog_break, int *txfunc_error,
                  void *userdata)
{
    audio_source *s = userdata;
    long call, delay;
    gate *hold;
    size_t n;

    (void)txfunc_error;
    pthread_mutex_lock(&s->lock);
    call = s->calls++;
    hold = s->hold_second;
    delay = s->delay_ms;
    pthread_mutex_unlock(&s->lock);
    if (call == 1 && hold != NULL)
        gate_pass(hold);
    if (delay > 0)
        sleep_ms(delay);

    pthread_mutex_lock(&s->lock);
    if (s->force_len != 0) {
        *len = s->force_len;
        pthread_mutex_unlock(&s->lock);
        return;
    }
    n = s->size - s->pos < s->chunk ? s->size - s->pos : s->chunk;
    if (n > 0)
        memcpy(buffer, s->data + s->pos, n);
    s->pos += n;
    *len = n;
    if (s->pos == s->size) {
        if (s->endless) {
            s->pos = 0;
        } else {
            *recog_break = true;
            s->break_sent = true;
        }
    }
    pthread_mutex_unlock(&s->lock);
}

long audio_calls(audio_source *s)
{
    long calls;

    pthread_mutex_lock(&s->lock);
    calls = s->calls;
    pthread_mutex_unlock(&s->lock);
    return calls;
}

bool audio_break_sent(audio_source *s)
{
    bool sent;

    pthread_mutex_lock(&s->lock);
    sent = s->break_sent;
    pthread_mutex_unlock(&s->lock);
    return sent;
}

/* ---- one whole session ---- */

void session_init(session *s, int port, audio_source *source, results *collected)
{
    memset(s, 0, sizeof *s);
    s->port = port;
    s->format = MIMIIO_RAW_PCM;
    s->rate = 16000;
    s->channels = 1;
    s->source = source;
    s->collected = collected;
    s->open_error = -1;
    s->state_after_break = MIMIIO_STREAM_BOTH;
    s->final_state = MIMIIO_STREAM_BOTH;
}

int run_session(session *s)
{
    long timeout = s->timeout_ms > 0 ? s->timeout_ms : 20000;
    long long deadline;
    bool seen_after_break = false;
    MIMI_IO *mio;

    mio = mimi_open("127.0.0.1", s->port, audio_txfunc, results_rxfunc, s->source, s->collected,
                    s->format, s->rate, s->channels, s->headers, s->header_count, NULL,
                    MIMIIO_LOG_ERROR, &s->open_error);
    CHECK_INT(s->open_error, 0);
    CHECK(mio != NULL);
    s->start_result = mimi_start(mio);
    CHECK_INT(s->start_result, 0);

    deadline = now_ms() + timeout;
    while (mimi_is_active(mio)) {
        /* The sending thread still runs for a moment after txfunc returned the
         * break, so BOTH is skipped; the next state must be RECV or CLOSED. */
        if (!seen_after_break && audio_break_sent(s->source)) {
            MIMIIO_STREAM_STATE state = mimi_stream_state(mio);

            if (state != MIMIIO_STREAM_BOTH) {
                s->state_after_break = state;
                seen_after_break = true;
            }
        }
        if (now_ms() > deadline)
            check_failed(__FILE__, __LINE__, "run_session", "session still active at timeout");
        sleep_ms(1);
    }
    s->error = mimi_error(mio);
    s->final_state = mimi_stream_state(mio);
    if (!seen_after_break && audio_break_sent(s->source))
        s->state_after_break = s->final_state;
    mimi_close(mio);
    return s->error;
}

char *saved_audio_path(results *r, const char *dir)
{
    char *finished = results_finished(r);
    char id[256];
    char *path;
    size_t size;

    if (finished == NULL)
        check_failed(__FILE__, __LINE__, "saved_audio_path", "no single recog-finished message");
    if (!json_string_field(finished, "session_id", id, sizeof id) || id[0] == '\0')
        check_failed(__FILE__, __LINE__, "recog-finished without session_id", finished);
    free(finished);
    size = strlen(dir) + strlen(id) + sizeof "/.pcm";
    path = malloc(size);
    CHECK(path != NULL);
    snprintf(path, size, "%s/%s.pcm", dir, id);
    return path;
}

void check_saved_audio(results *r, const char *dir, const unsigned char *expected, size_t size)
{
    char *path = saved_audio_path(r, dir);
    size_t saved_size = 0;
    unsigned char *saved = read_file(path, &saved_size);

    if (saved == NULL)
        check_failed(__FILE__, __LINE__, "server saved no audio", path);
    CHECK_INT(saved_size, size);
    CHECK(memcmp(saved, expected, size) == 0);
    free(saved);
    free(path);
}

void refusing_txfunc(char *buffer, size_t *len, bool *recog_break, int *txfunc_error,
                     void *userdata)
{
    (void)buffer;
    (void)len;
    (void)recog_break;
    (void)userdata;
    *txfunc_error = -1;
}

void refusing_rxfunc(const char *result, size_t len, int *rxfunc_error, void *userdata)
{
    (void)result;
    (void)len;
    (void)userdata;
    *rxfunc_error = -1;
}
