/// CgiResponse: turns what a script printed into an HttpResponse. A CGI
/// script's stdout and a FastCGI application's STDOUT stream carry the same
/// thing, a CGI response (RFC 3875 section 6), so both go through here.
#pragma once

#include <string>

#include "http/HttpResponse.h"

class StaticFiles;

/// Fills resp from output: the header block's Status, Location and other
/// fields, then the rest as the body (output is consumed). A local
/// redirect (section 6.2.2) is answered with that file, by files.
/// Returns false, with resp untouched, for output that has no valid
/// header block: the caller answers 502.
bool makeCgiResponse(std::string &output, StaticFiles &files,
                     const std::string &index, HttpResponse &resp);
