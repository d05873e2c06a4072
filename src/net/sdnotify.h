/* sdnotify: the service manager's readiness protocol (sd_notify(3)) without libsystemd: one datagram of
 * "KEY=VALUE\n…" lines to the AF_UNIX socket named by $NOTIFY_SOCKET (a path, or '@' for the abstract namespace).
 * Not here: the watchdog, file-descriptor passing, or any decision about when to be ready (cmd_serve decides). */
#ifndef SYNCHUB_SDNOTIFY_H
#define SYNCHUB_SDNOTIFY_H

/* Send `state` (e.g. "READY=1\nSTATUS=serving") to $NOTIFY_SOCKET. Returns 1 when sent, 0 when there is no
 * NOTIFY_SOCKET (not started by a service manager: nothing to do), -1 when it could not be sent (a bad address or
 * a failing socket; the caller logs it). Reads the environment only; any thread. */
int sdnotify_send(const char *state);

#endif
