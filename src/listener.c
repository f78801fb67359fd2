/* SPDX-License-Identifier: MIT
 *
 * Listening sockets and accepting. Debian's libwebsockets is built without
 * SMP (LWS_MAX_SMP 1) and sets SO_REUSEPORT only for SMP contexts, so
 * waypointd opens one SO_REUSEPORT socket per service thread itself, watches
 * it on that thread's event loop (loop.c), and adopts every accepted
 * connection into the thread's vhost, where lws does TLS, HTTP/1.1, HTTP/2
 * and WebSocket. listener_accept runs on the owning service thread.
 *
 * SO_REUSEPORT would also let a second waypointd (any process of the same
 * user) join the port and take half of its connections, so listener_open
 * first binds a probe without it, which fails while anyone listens there,
 * and takes a lock named after the address against a second waypointd
 * starting in the same instant.
 */
#include "listener.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "log.h"
#include "metrics.h"
#include "vhost.h"

/* Connections taken per readiness event, so one busy listener cannot starve
 * the rest of the loop. */
#define ACCEPT_BATCH 64
#define LISTEN_BACKLOG 4096

static int bind_one(const struct addrinfo *ai, int *fd_out, char *err, size_t errlen)
{
    int one = 1, fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        goto fail;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) || bind(fd, ai->ai_addr, ai->ai_addrlen) ||
        listen(fd, LISTEN_BACKLOG))
        goto fail;
    *fd_out = fd;
    return 0;
fail:
    snprintf(err, errlen, "cannot listen: %s", strerror(errno));
    if (fd >= 0)
        close(fd);
    return -errno;
}

/* Without SO_REUSEPORT, bind fails with EADDRINUSE while any socket listens
 * on the address, SO_REUSEPORT or not; SO_REUSEADDR still lets it past
 * connections in TIME_WAIT, as the real sockets are. The probe only binds:
 * it never listens, so it takes no connection, and the real sockets (with
 * SO_REUSEADDR) can bind beside it. */
static int probe_bind(const struct addrinfo *ai, int *fd_out, char *err, size_t errlen)
{
    int one = 1, fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
        bind(fd, ai->ai_addr, ai->ai_addrlen)) {
        int rc = -errno;

        snprintf(err, errlen, "cannot listen: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return rc;
    }
    *fd_out = fd;
    return 0;
}

/* Two waypointd starting together could both pass the probe before either
 * listens. An abstract Unix socket named after the address is a lock the
 * kernel drops with the process (and, like the port, per network
 * namespace); the second to bind the name is refused. */
static int lock_take(const struct addrinfo *ai, int port, int *fd_out, char *err, size_t errlen)
{
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    char host[NI_MAXHOST];
    int fd, n, rc = 0;

    if (getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof(host), NULL, 0, NI_NUMERICHOST))
        snprintf(host, sizeof(host), "?");
    /* sun_path[0] stays NUL: the abstract namespace, no file to clean up. */
    n = snprintf(un.sun_path + 1, sizeof(un.sun_path) - 1, "waypointd-listen %s %d", host, port);
    if (n < 0 || (size_t)n >= sizeof(un.sun_path) - 1)
        n = (int)sizeof(un.sun_path) - 2;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&un, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n))) {
        rc = -errno;
        snprintf(err, errlen, "cannot listen: %s%s", strerror(errno),
                 errno == EADDRINUSE ? " (another waypointd is starting there)" : "");
        if (fd >= 0)
            close(fd);
        return rc;
    }
    *fd_out = fd;
    return 0;
}

static int port_of(int fd)
{
    struct sockaddr_storage ss = {0};
    socklen_t len = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &len))
        return -errno;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void set_port(struct addrinfo *ai, int port)
{
    if (ai->ai_family == AF_INET6)
        ((struct sockaddr_in6 *)ai->ai_addr)->sin6_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in *)ai->ai_addr)->sin_port = htons((uint16_t)port);
}

int listener_open(const char *host, int port, int n, int *fds, int *lock_fd, int *bound_port, char *err,
                  size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    char service[8];
    int rc, i = 0, probe = -1;

    *lock_fd = -1;
    snprintf(service, sizeof(service), "%d", port);
    rc = getaddrinfo(host, service, &hints, &ai);
    if (rc) {
        snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(rc));
        return -EINVAL;
    }
    /* Port 0: the probe picks the port, and holds it until the real
     * sockets share it. */
    rc = probe_bind(ai, &probe, err, errlen);
    if (!rc) {
        int bound = port_of(probe);

        if (bound < 0) {
            rc = bound;
            snprintf(err, errlen, "cannot listen: %s", strerror(-rc));
        } else {
            *bound_port = bound;
            set_port(ai, bound);
            rc = lock_take(ai, bound, lock_fd, err, errlen);
        }
    }
    while (!rc && i < n && !(rc = bind_one(ai, &fds[i], err, errlen)))
        i++; /* fds[0..i) are open */
    freeaddrinfo(ai);
    if (probe >= 0)
        close(probe);
    if (rc) {
        while (i-- > 0)
            close(fds[i]);
        if (*lock_fd >= 0)
            close(*lock_fd);
        *lock_fd = -1;
    }
    return rc;
}

/* Out of descriptors: accept with the spare and close at once, so the
 * client sees a closed connection instead of a listener that spins. */
static void shed_one(int lfd, int *spare_fd)
{
    if (*spare_fd < 0)
        return;
    close(*spare_fd);
    *spare_fd = accept(lfd, NULL, NULL);
    if (*spare_fd >= 0)
        close(*spare_fd);
    *spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    log_warn("%s: out of file descriptors, refused a connection", __func__);
}

void listener_accept(int lfd, int *spare_fd, struct lws_vhost *vh)
{
    const struct vhost_state *conf = lws_vhost_user(vh);
    unsigned int user_timeout_ms = (unsigned int)conf->shared->ws_hangup_secs * 1000U;
    int one = 1;

    for (int i = 0; i < ACCEPT_BATCH; i++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE)
                shed_one(lfd, spare_fd);
            else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                log_error("%s: accept: %s", __func__, strerror(errno));
            return;
        }
        /* lws sets TCP_NODELAY only on sockets its own listener accepts:
         * without it, Nagle holds every answer written in two pieces (an
         * HTTP/2 HEADERS then DATA frame, a WebSocket frame after another)
         * until the peer's delayed ACK, 40 ms later. */
        if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)))
            log_warn("%s: TCP_NODELAY: %s", __func__, strerror(errno));
        /* A WebSocket that carries changes is not pinged (sweep.c): a dead
         * peer there is found by the kernel, which drops a connection whose
         * data stays unacknowledged this long (docs/live.md, "Liveness"). */
        if (setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof(user_timeout_ms)))
            log_warn("%s: TCP_USER_TIMEOUT: %s", __func__, strerror(errno));
        /* lws closes fd itself when adoption fails. */
        /* A client that closed before its TLS handshake (a health check,
         * a port scan) fails adoption too: routine, so not a warning. */
        if (!lws_adopt_socket_vhost(vh, fd))
            log_debug("%s: could not adopt a connection", __func__);
        else /* http.c counts it down when lws destroys it */
            metrics_gauge_add(conf->metrics, METRICS_CONNECTIONS, 1);
    }
    /* More may be waiting: the loop reports the socket ready again. */
}
