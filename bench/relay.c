// A bare TCP relay for bench/uploads.sh: the cheapest proxy there can be
// between a client and ingest, to measure what any hop in the middle costs
// on this machine, next to the gateway (which adds HTTP parsing, token
// checks and rate limits to the same two socket copies).
//
//   relay MODE LISTEN_PORT UPSTREAM_PORT      (both on 127.0.0.1)
//
// MODE is `copy` (read(2)/write(2) through one 1 MiB buffer per direction,
// what a user-space proxy does) or `splice` (splice(2) through a pipe: the
// bytes stay in the kernel). Each accepted connection gets an upstream
// connection and one thread per direction; when one side ends its stream
// the relay ends the other side's, so HTTP keep-alive and early answers pass
// through untouched. A benchmark tool only: no limits, no timeouts.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { BUFFER = 1 << 20 };

static int use_splice;
static int upstream_port;

struct direction {
    int from, to;
};

static void copy_stream(int from, int to) {
    char *buffer = malloc(BUFFER);
    if (!buffer) return;
    for (;;) {
        ssize_t got = read(from, buffer, BUFFER);
        if (got <= 0) break;
        for (char *p = buffer; got > 0;) {
            ssize_t sent = write(to, p, (size_t)got);
            if (sent <= 0) goto done;
            p += sent;
            got -= sent;
        }
    }
done:
    free(buffer);
}

static void splice_stream(int from, int to) {
    int pipe_fds[2];
    if (pipe(pipe_fds) != 0) return;
    fcntl(pipe_fds[1], F_SETPIPE_SZ, BUFFER);
    for (;;) {
        ssize_t got = splice(from, NULL, pipe_fds[1], NULL, BUFFER, SPLICE_F_MOVE | SPLICE_F_MORE);
        if (got <= 0) break;
        while (got > 0) {
            ssize_t sent = splice(pipe_fds[0], NULL, to, NULL, (size_t)got, SPLICE_F_MOVE | SPLICE_F_MORE);
            if (sent <= 0) goto done;
            got -= sent;
        }
    }
done:
    close(pipe_fds[0]);
    close(pipe_fds[1]);
}

static void *pump(void *arg) {
    struct direction d = *(struct direction *)arg;
    free(arg);
    if (use_splice) splice_stream(d.from, d.to);
    else copy_stream(d.from, d.to);
    shutdown(d.to, SHUT_WR);
    return NULL;
}

static struct sockaddr_in loopback(int port) {
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return address;
}

static int start_pump(pthread_t *thread, int from, int to) {
    struct direction *d = malloc(sizeof *d);
    if (!d) return -1;
    *d = (struct direction){from, to};
    if (pthread_create(thread, NULL, pump, d) != 0) { free(d); return -1; }
    return 0;
}

static void *serve(void *arg) {
    int client = (int)(long)arg;
    int upstream = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = loopback(upstream_port);
    if (upstream >= 0 && connect(upstream, (struct sockaddr *)&address, sizeof address) == 0) {
        pthread_t up, down;
        if (start_pump(&up, client, upstream) == 0) {
            if (start_pump(&down, upstream, client) == 0) pthread_join(down, NULL);
            else shutdown(client, SHUT_RDWR);
            pthread_join(up, NULL);
        }
    }
    if (upstream >= 0) close(upstream);
    close(client);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 4 || (strcmp(argv[1], "copy") != 0 && strcmp(argv[1], "splice") != 0)) {
        fprintf(stderr, "usage: %s copy|splice LISTEN_PORT UPSTREAM_PORT\n", argv[0]);
        return 2;
    }
    use_splice = strcmp(argv[1], "splice") == 0;
    upstream_port = atoi(argv[3]);
    int listener = socket(AF_INET, SOCK_STREAM, 0), on = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    struct sockaddr_in address = loopback(atoi(argv[2]));
    if (bind(listener, (struct sockaddr *)&address, sizeof address) != 0 || listen(listener, 512) != 0) {
        perror("relay: listen");
        return 1;
    }
    for (;;) {
        int client = accept(listener, NULL, NULL);
        if (client < 0) continue;
        pthread_t thread;
        if (pthread_create(&thread, NULL, serve, (void *)(long)client) != 0) { close(client); continue; }
        pthread_detach(thread);
    }
}
