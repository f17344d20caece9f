/* daemon.h: running in the background (-d) and the pidfile (-P). */
#ifndef DAEMON_H
#define DAEMON_H

/* Detaches from the terminal. Only the daemon returns, with stdout and stderr
 * writing into a pipe to the launcher: whatever startup prints (the ready
 * line, or why it failed) reaches the user's terminal. The launcher never
 * returns: when the pipe closes it exits 0 if the ready line came through,
 * 1 if not. */
void daemonize(void);

/* Startup is over: stdout and stderr go to /dev/null (stdin already does),
 * which closes the pipe and lets the launcher exit. */
void daemon_ready(void);

/* Creates and locks the pidfile, or exits 1 if another process holds it.
 * The lock lasts as long as this process (and its daemon) lives; any exit()
 * of the process that wrote its pid removes the file. */
void pidfile_lock(const char *path);

/* Writes our pid into the locked pidfile; call it after daemonize(). */
void pidfile_write(void);

#endif
