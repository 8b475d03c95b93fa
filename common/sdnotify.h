/* systemd's readiness protocol without libsystemd: one datagram of "KEY=VALUE" lines to the
 * AF_UNIX socket named by $NOTIFY_SOCKET (sd_notify(3)). Not under systemd, nothing is sent. */
#ifndef PK_SDNOTIFY_H
#define PK_SDNOTIFY_H

/* Sends `state` ("READY=1", "STOPPING=1", ...) as one datagram to $NOTIFY_SOCKET; a leading '@'
 * names an abstract socket. Returns 0 when sent or when the variable is unset or empty, else a
 * negative errno (-EAFNOSUPPORT for an address that is neither a path nor '@'). */
int sdnotify_send(const char *state);

/* Sends "RELOADING=1" with "MONOTONIC_USEC=" the CLOCK_MONOTONIC time, as Type=notify-reload
 * wants before a reload; send "READY=1" when it is done. Returns as sdnotify_send. */
int sdnotify_reloading(void);

#endif
