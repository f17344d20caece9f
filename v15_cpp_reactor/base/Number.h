/// Number: a whole decimal number read strictly, for ports, sizes and
/// seconds in the configuration file, the flags and fastcgi_pass.
#pragma once

#include <string>

/// Parses a whole decimal number, digits only, within [min, max] into out.
bool parseNumber(const std::string &text, long long min, long long max,
                 long long &out);
