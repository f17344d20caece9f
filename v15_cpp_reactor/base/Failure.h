/// Failure: the one way the server words a failed system call for a
/// caller that reports it later ("bind 127.0.0.1:80: Permission denied").
/// The messages are part of the command-line contract: tests read them.
#pragma once

#include <string>

/// "what: " and errno's text. Call it right after the call that failed,
/// before anything else can change errno.
std::string failure(const std::string &what);
