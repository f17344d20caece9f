/* echo.h: serving one client of the echo protocol. */
#ifndef ECHO_H
#define ECHO_H

/* Echoes fd's bytes back upper-cased until the client half-closes or fails.
 * Does not close fd: the caller owns it. */
void serve_echo(int fd);

#endif
