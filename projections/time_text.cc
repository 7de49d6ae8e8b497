#include "projections/time_text.h"

#include <cctype>
#include <cstdio>
#include <ctime>
#include <limits>

#include "projections/event.h"
#include "projections/limits.h"

namespace taskledger {
namespace {

// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm): exact for all years
// 1970..9999 without the C library's time zone state.
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2);
}

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }
unsigned DaysInMonth(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

// Reads exactly `n` digits at `*pos`.
bool ReadDigits(std::string_view s, size_t* pos, int n, int64_t* out) {
  if (*pos + n > s.size()) return false;
  int64_t v = 0;
  for (int i = 0; i < n; ++i) {
    const char c = s[*pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *pos += n;
  *out = v;
  return true;
}

Status BadTime(std::string_view text) {
  return Status::InvalidArgument("bad time '" + std::string(text) +
                                 "': expected RFC 3339 (2026-11-28T10:02:00Z) or a relative time (-5m)");
}

}  // namespace

Result<int64_t> ParseDuration(std::string_view text) {
  const auto bad = [&](std::string_view why) {
    return Status::InvalidArgument("bad duration '" + std::string(text) + "': " + std::string(why) +
                                   " (examples: 1500ms, 30s, 5m, 2h)");
  };
  if (text.empty()) return bad("empty");
  if (text[0] == '-') return bad("negative");
  size_t pos = 0;
  int64_t total = 0;
  while (pos < text.size()) {
    if (!std::isdigit(static_cast<unsigned char>(text[pos]))) return bad("expected a number");
    int64_t value = 0;
    while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
      if (__builtin_mul_overflow(value, 10, &value) || __builtin_add_overflow(value, text[pos] - '0', &value)) {
        return bad("too long");
      }
      ++pos;
    }
    // A decimal fraction (`1.5s`, as FormatDuration writes it), to nanosecond precision.
    int64_t fraction = 0, fraction_scale = 1;
    if (pos < text.size() && text[pos] == '.') {
      ++pos;
      if (pos >= text.size() || !std::isdigit(static_cast<unsigned char>(text[pos]))) return bad("expected digits after '.'");
      while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
        if (fraction_scale < kNanosPerSecond) {
          fraction = fraction * 10 + (text[pos] - '0');
          fraction_scale *= 10;
        }
        ++pos;
      }
    }
    const size_t unit_start = pos;
    while (pos < text.size() && std::isalpha(static_cast<unsigned char>(text[pos]))) ++pos;
    const std::string_view unit = text.substr(unit_start, pos - unit_start);
    int64_t scale;
    if (unit == "ns") scale = 1;
    else if (unit == "us") scale = 1000;
    else if (unit == "ms") scale = kNanosPerMilli;
    else if (unit == "s") scale = kNanosPerSecond;
    else if (unit == "m") scale = 60 * kNanosPerSecond;
    else if (unit == "h") scale = 3600 * kNanosPerSecond;
    else if (unit == "d") scale = 86400 * kNanosPerSecond;
    else if (unit.empty()) return bad("missing unit");
    else return bad("unknown unit '" + std::string(unit) + "'");
    int64_t part;
    if (__builtin_mul_overflow(value, scale, &part) || __builtin_add_overflow(total, part, &total)) {
      return bad("too long");
    }
    // fraction < fraction_scale <= 1e9 and scale <= 1 day in ns: the product fits easily
    // in 128 bits; divide first where it is exact enough.
    const __int128 fractional = static_cast<__int128>(fraction) * scale / fraction_scale;
    if (__builtin_add_overflow(total, static_cast<int64_t>(fractional), &total)) return bad("too long");
  }
  if (total > kMaxDurationNs) return bad("longer than a year");
  return total;
}

Result<int64_t> ParseTime(std::string_view text, int64_t now_ns) {
  if (!text.empty() && text[0] == '-') {
    Result<int64_t> ago = ParseDuration(text.substr(1));
    if (!ago.ok()) return BadTime(text);
    if (*ago > now_ns) return Status::InvalidArgument("time '" + std::string(text) + "' is before 1970");
    return now_ns - *ago;
  }
  size_t pos = 0;
  int64_t year, month, day, hour = 0, minute = 0, second = 0, frac_ns = 0;
  if (!ReadDigits(text, &pos, 4, &year) || pos >= text.size() || text[pos++] != '-' ||
      !ReadDigits(text, &pos, 2, &month) || pos >= text.size() || text[pos++] != '-' ||
      !ReadDigits(text, &pos, 2, &day)) {
    return BadTime(text);
  }
  if (year < 1970 || year > 9999) {
    return Status::InvalidArgument("time '" + std::string(text) + "' is outside the years 1970..9999");
  }
  if (month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, static_cast<unsigned>(month))) {
    return BadTime(text);
  }
  int64_t offset_s = 0;
  if (pos < text.size()) {
    if (text[pos] != 'T' && text[pos] != 't' && text[pos] != ' ') return BadTime(text);
    ++pos;
    if (!ReadDigits(text, &pos, 2, &hour) || pos >= text.size() || text[pos++] != ':' ||
        !ReadDigits(text, &pos, 2, &minute)) {
      return BadTime(text);
    }
    if (pos < text.size() && text[pos] == ':') {
      ++pos;
      if (!ReadDigits(text, &pos, 2, &second)) return BadTime(text);
      if (pos < text.size() && text[pos] == '.') {
        ++pos;
        int digits = 0;
        while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
          if (digits < 9) frac_ns = frac_ns * 10 + (text[pos] - '0');
          ++digits;
          ++pos;
        }
        if (digits == 0) return BadTime(text);
        for (int i = std::min(digits, 9); i < 9; ++i) frac_ns *= 10;
      }
    }
    if (hour > 23 || minute > 59 || second > 60) return BadTime(text);
    if (pos >= text.size()) return BadTime(text);  // a time of day needs its offset
    if (text[pos] == 'Z' || text[pos] == 'z') {
      ++pos;
    } else if (text[pos] == '+' || text[pos] == '-') {
      const int sign = text[pos] == '-' ? -1 : 1;
      ++pos;
      int64_t oh, om;
      if (!ReadDigits(text, &pos, 2, &oh) || pos >= text.size() || text[pos++] != ':' ||
          !ReadDigits(text, &pos, 2, &om) || oh > 23 || om > 59) {
        return BadTime(text);
      }
      offset_s = sign * (oh * 3600 + om * 60);
    } else {
      return BadTime(text);
    }
    if (pos != text.size()) return BadTime(text);
  }
  const int64_t days = DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  const int64_t seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset_s;
  if (seconds < 0) return Status::InvalidArgument("time '" + std::string(text) + "' is before 1970");
  int64_t ns;
  if (__builtin_mul_overflow(seconds, kNanosPerSecond, &ns) || __builtin_add_overflow(ns, frac_ns, &ns)) {
    // Ledger time is int64 nanoseconds since 1970: it ends in April 2262.
    return Status::InvalidArgument("time '" + std::string(text) + "' is after 2262-04-11, the end of ledger time");
  }
  return ns;
}

std::string FormatTime(int64_t ns) {
  if (ns < 0) ns = 0;
  const int64_t seconds = ns / kNanosPerSecond;
  const int64_t millis = (ns % kNanosPerSecond) / kNanosPerMilli;
  int64_t y;
  unsigned m, d;
  CivilFromDays(seconds / 86400, &y, &m, &d);
  const int64_t sod = seconds % 86400;
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ", static_cast<long long>(y), m, d,
                static_cast<long long>(sod / 3600), static_cast<long long>(sod / 60 % 60),
                static_cast<long long>(sod % 60), static_cast<long long>(millis));
  return buf;
}

std::string FormatDuration(int64_t ns) {
  std::string sign;
  if (ns < 0) {
    sign = "-";
    ns = ns == std::numeric_limits<int64_t>::min() ? std::numeric_limits<int64_t>::max() : -ns;
  }
  char buf[48];
  if (ns < kNanosPerMilli) {
    std::snprintf(buf, sizeof(buf), "%lldus", static_cast<long long>(ns / 1000));
  } else if (ns < kNanosPerSecond) {
    std::snprintf(buf, sizeof(buf), "%lldms", static_cast<long long>(ns / kNanosPerMilli));
  } else if (ns < 60 * kNanosPerSecond) {
    const int64_t tenths = ns / (kNanosPerSecond / 10);
    if (tenths % 10 == 0) std::snprintf(buf, sizeof(buf), "%llds", static_cast<long long>(tenths / 10));
    else std::snprintf(buf, sizeof(buf), "%lld.%llds", static_cast<long long>(tenths / 10), static_cast<long long>(tenths % 10));
  } else if (ns < 3600 * kNanosPerSecond) {
    const int64_t s = ns / kNanosPerSecond;
    if (s % 60 == 0) std::snprintf(buf, sizeof(buf), "%lldm", static_cast<long long>(s / 60));
    else std::snprintf(buf, sizeof(buf), "%lldm%llds", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  } else {
    const int64_t m = ns / (60 * kNanosPerSecond);
    if (m % 60 == 0) std::snprintf(buf, sizeof(buf), "%lldh", static_cast<long long>(m / 60));
    else std::snprintf(buf, sizeof(buf), "%lldh%lldm", static_cast<long long>(m / 60), static_cast<long long>(m % 60));
  }
  return sign + buf;
}

}  // namespace taskledger
