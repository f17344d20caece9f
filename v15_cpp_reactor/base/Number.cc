#include "base/Number.h"

#include <cerrno>
#include <cstdlib>

bool parseNumber(const std::string &text, long long min, long long max,
                 long long &out)
{
    // Digits only: strtoll alone also takes leading spaces and a sign, and
    // "+80" or " 80" would pass for a port.
    if (text.empty() || text.find_first_not_of("0123456789") != text.npos)
        return false;
    errno = 0;
    long long n = std::strtoll(text.c_str(), nullptr, 10); // ERANGE: too big
    if (errno != 0 || n < min || n > max)
        return false;
    out = n;
    return true;
}
