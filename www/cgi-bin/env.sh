#!/bin/sh
# A CGI program (RFC 3875): prints the meta-variables it was given, one
# NAME=value per line, sorted, then an empty line and the request body.
# Only variables that are set are printed, so a missing one shows as missing.
PATH=/usr/bin:/bin
export PATH

printf 'Content-Type: text/plain\n\n'

# No eval and no indirect expansion: env prints NAME=value, grep keeps ours.
env | LC_ALL=C grep -E '^(AUTH_TYPE|CONTENT_LENGTH|CONTENT_TYPE|DOCUMENT_ROOT|GATEWAY_INTERFACE|PATH_INFO|PATH_TRANSLATED|QUERY_STRING|REDIRECT_STATUS|REMOTE_ADDR|REMOTE_HOST|REMOTE_USER|REQUEST_METHOD|REQUEST_URI|SCRIPT_FILENAME|SCRIPT_NAME|SERVER_NAME|SERVER_PORT|SERVER_PROTOCOL|SERVER_SOFTWARE|HTTP_[A-Z0-9_]+)=' |
    LC_ALL=C sort

# The body is exactly CONTENT_LENGTH bytes (section 4.2); anything that is
# not a plain decimal number is treated as no body.
printf '\n'
case ${CONTENT_LENGTH:-} in
'' | *[!0-9]*) ;;
*[1-9]*) head -c "$CONTENT_LENGTH" ;;
esac
