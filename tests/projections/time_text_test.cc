// Durations and times as people write them (DESIGN §6).
#include "projections/time_text.h"

#include <gtest/gtest.h>

#include <string>

#include "projections/limits.h"
#include "test_util.h"

namespace taskledger {
namespace {

using test::kMin;
using test::kMs;
using test::kSec;
using test::kT0;

constexpr int64_t kHour = 60 * kMin;
constexpr int64_t kDay = 24 * kHour;

int64_t DurationOrDie(std::string_view text) {
  const Result<int64_t> d = ParseDuration(text);
  EXPECT_TRUE(d.ok()) << text << ": " << d.status().ToString();
  return d.ok() ? *d : -1;
}

void ExpectBadDuration(std::string_view text, std::string_view why) {
  const Result<int64_t> d = ParseDuration(text);
  ASSERT_FALSE(d.ok()) << "'" << text << "' parsed as " << (d.ok() ? *d : 0);
  EXPECT_EQ(d.status().code(), Code::kInvalidArgument) << text;
  EXPECT_NE(d.status().message().find(why), std::string::npos) << d.status().message();
  EXPECT_EQ(d.status().message().find('\n'), std::string::npos);
}

TEST(ParseDurationTest, ParsesTheDocumentedForms) {
  EXPECT_EQ(DurationOrDie("1500ms"), 1500 * kMs);
  EXPECT_EQ(DurationOrDie("30s"), 30 * kSec);
  EXPECT_EQ(DurationOrDie("5m"), 5 * kMin);
  EXPECT_EQ(DurationOrDie("2h"), 2 * kHour);
  EXPECT_EQ(DurationOrDie("1m30s"), 90 * kSec);
  EXPECT_EQ(DurationOrDie("1h2m3s4ms"), kHour + 2 * kMin + 3 * kSec + 4 * kMs);
  EXPECT_EQ(DurationOrDie("250ns"), 250);
  EXPECT_EQ(DurationOrDie("7us"), 7000);
  EXPECT_EQ(DurationOrDie("2d"), 2 * kDay);
  EXPECT_EQ(DurationOrDie("0s"), 0);
  EXPECT_EQ(DurationOrDie("366d"), kMaxDurationNs);  // the limit itself
}

TEST(ParseDurationTest, RefusesBadDurations) {
  ExpectBadDuration("", "empty");
  ExpectBadDuration("-5s", "negative");
  ExpectBadDuration("30", "missing unit");
  ExpectBadDuration("1m30", "missing unit");
  ExpectBadDuration("5y", "unknown unit 'y'");
  ExpectBadDuration("5sec", "unknown unit 'sec'");
  ExpectBadDuration("5S", "unknown unit");
  ExpectBadDuration("s", "expected a number");
  ExpectBadDuration("1.s", "expected digits after '.'");
  ExpectBadDuration(".5s", "expected a number");
  ExpectBadDuration(" 5s", "expected a number");
  ExpectBadDuration("5s ", "expected a number");
  ExpectBadDuration("99999999999999999999s", "too long");  // overflows while reading the number
  ExpectBadDuration("9999999999h", "too long");            // overflows when scaled
  ExpectBadDuration("9223372036854775807ns1ns", "too long");  // overflows when summed
  ExpectBadDuration("367d", "longer than a year");
  ExpectBadDuration("8785h", "longer than a year");
}

TEST(ParseDurationTest, ReadsDecimalFractionsAsFormatDurationWritesThem) {
  EXPECT_EQ(*ParseDuration("1.5s"), 1500 * kMs);
  EXPECT_EQ(*ParseDuration("0.25m"), 15 * kSec);
  EXPECT_EQ(*ParseDuration("1.000000001s"), kSec + 1);
  for (int64_t ns : {1500 * kMs, 250 * kMs, 90 * kSec, 2 * kHour + 3 * kMin, 2500 * kMs}) {
    EXPECT_EQ(*ParseDuration(FormatDuration(ns)), ns) << FormatDuration(ns);
  }
}

TEST(FormatDurationTest, ShortestExactEnoughForm) {
  EXPECT_EQ(FormatDuration(1500 * kMs), "1.5s");
  EXPECT_EQ(FormatDuration(250 * kMs), "250ms");
  EXPECT_EQ(FormatDuration(5 * kMin), "5m");
  EXPECT_EQ(FormatDuration(2 * kHour + 3 * kMin), "2h3m");
  EXPECT_EQ(FormatDuration(90 * kSec), "1m30s");
  EXPECT_EQ(FormatDuration(30 * kSec), "30s");
  EXPECT_EQ(FormatDuration(-2 * kSec), "-2s");
  EXPECT_EQ(FormatDuration(INT64_MIN).front(), '-');
  // The whole-unit forms read back.
  for (int64_t d : {250 * kMs, 30 * kSec, 5 * kMin, 90 * kSec, 2 * kHour, 2 * kHour + 3 * kMin}) {
    EXPECT_EQ(DurationOrDie(FormatDuration(d)), d) << FormatDuration(d);
  }
}

int64_t TimeOrDie(std::string_view text, int64_t now = kT0) {
  const Result<int64_t> t = ParseTime(text, now);
  EXPECT_TRUE(t.ok()) << text << ": " << t.status().ToString();
  return t.ok() ? *t : -1;
}

void ExpectBadTime(std::string_view text, int64_t now = kT0) {
  const Result<int64_t> t = ParseTime(text, now);
  ASSERT_FALSE(t.ok()) << "'" << text << "' parsed as " << (t.ok() ? FormatTime(*t) : "");
  EXPECT_EQ(t.status().code(), Code::kInvalidArgument) << text;
  EXPECT_NE(t.status().message().find(std::string(text)), std::string::npos) << t.status().message();
}

TEST(ParseTimeTest, ParsesRfc3339InUtc) {
  EXPECT_EQ(TimeOrDie("2023-11-14T22:13:20Z"), kT0);
  EXPECT_EQ(TimeOrDie("2023-11-14t22:13:20z"), kT0);
  EXPECT_EQ(TimeOrDie("2023-11-14 22:13:20Z"), kT0);
  EXPECT_EQ(TimeOrDie("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(TimeOrDie("1970-01-01"), 0);
  EXPECT_EQ(TimeOrDie("2023-11-14"), kT0 - (22 * kHour + 13 * kMin + 20 * kSec));
  EXPECT_EQ(TimeOrDie("2000-03-01T00:00:00Z") - TimeOrDie("2000-02-28T00:00:00Z"), 2 * kDay);  // 2000 is leap
  EXPECT_EQ(TimeOrDie("2024-02-29T12:00:00Z") + kDay, TimeOrDie("2024-03-01T12:00:00Z"));
  EXPECT_EQ(TimeOrDie("2026-11-28T10:02:00Z"), 1795860120 * kSec);
}

TEST(ParseTimeTest, ParsesOffsets) {
  EXPECT_EQ(TimeOrDie("2023-11-14T23:13:20+01:00"), kT0);
  EXPECT_EQ(TimeOrDie("2023-11-14T17:43:20-04:30"), kT0);
  EXPECT_EQ(TimeOrDie("2023-11-15T00:13:20+02:00"), kT0);  // across midnight
  EXPECT_EQ(TimeOrDie("2023-11-14T22:13:20+00:00"), kT0);
  EXPECT_EQ(TimeOrDie("2023-11-14T22:13:20-00:00"), kT0);
}

TEST(ParseTimeTest, ParsesFractions) {
  EXPECT_EQ(TimeOrDie("2023-11-14T22:13:20.5Z"), kT0 + 500 * kMs);
  EXPECT_EQ(TimeOrDie("2023-11-14T22:13:20.123Z"), kT0 + 123 * kMs);
  EXPECT_EQ(TimeOrDie("2023-11-14T22:13:20.000000001Z"), kT0 + 1);
  EXPECT_EQ(TimeOrDie("2023-11-14T22:13:20.1234567891Z"), kT0 + 123456789);  // beyond ns: truncated
  EXPECT_EQ(TimeOrDie("2023-11-14T23:13:20.25+01:00"), kT0 + 250 * kMs);
}

TEST(ParseTimeTest, ParsesRelativeTimesBeforeNow) {
  EXPECT_EQ(TimeOrDie("-5m", kT0), kT0 - 5 * kMin);
  EXPECT_EQ(TimeOrDie("-1h30m", kT0), kT0 - 90 * kMin);
  EXPECT_EQ(TimeOrDie("-1500ms", kT0), kT0 - 1500 * kMs);
  EXPECT_EQ(TimeOrDie("-0s", kT0), kT0);
  ExpectBadTime("-5", kT0);
  ExpectBadTime("-", kT0);
  ExpectBadTime("--5m", kT0);
  ExpectBadTime("-5m", 4 * kMin);  // before 1970
}

TEST(ParseTimeTest, RefusesTimesBefore1970) {
  ExpectBadTime("1969-12-31T23:59:59Z");
  ExpectBadTime("1969-12-31");
  ExpectBadTime("0001-01-01T00:00:00Z");
  ExpectBadTime("1970-01-01T00:30:00+01:00");  // 1969 in UTC
}

TEST(ParseTimeTest, RefusesYearsPast9999) {
  ExpectBadTime("10000-01-01T00:00:00Z");
  ExpectBadTime("99999-01-01");
}

TEST(ParseTimeTest, RefusesBadMonthsAndDays) {
  for (const char* text : {"2023-00-10T00:00:00Z", "2023-13-10T00:00:00Z", "2023-01-00T00:00:00Z",
                           "2023-01-32T00:00:00Z", "2023-02-29T00:00:00Z", "2100-02-29", "2023-04-31",
                           "2023-06-31", "2023-1-05", "2023-01-5"}) {
    ExpectBadTime(text);
  }
  TimeOrDie("2024-02-29");
  TimeOrDie("2000-02-29");
}

TEST(ParseTimeTest, RefusesGarbage) {
  for (const char* text :
       {"", "now", "yesterday", "2023", "2023-11", "2023/11/14", "2023-11-14T", "2023-11-14T22:13:20",
        "2023-11-14T22Z", "2023-11-14T24:00:00Z", "2023-11-14T22:60:00Z", "2023-11-14T22:13:61Z",
        "2023-11-14T22:13:20.Z", "2023-11-14T22:13:20+1:00", "2023-11-14T22:13:20+01", "2023-11-14T22:13:20+24:00",
        "2023-11-14T22:13:20Zjunk", "2023-11-14junk", "+5m", "5m", "2023-11-14T22:13:20 Z", "abcd-ef-ghT00:00:00Z"}) {
    ExpectBadTime(text);
  }
}

TEST(ParseTimeTest, EveryAcceptedYearIsRepresentedExactly) {
  // The header promises years 1970..9999. A time is int64 ns since 1970, which ends in
  // April 2262: a later year must be refused, never wrapped into some other moment.
  for (const char* text : {"2262-04-11T23:47:16Z", "2262-04-12T00:00:00Z", "2300-01-01T00:00:00Z",
                           "5000-06-15T12:00:00Z", "9999-12-31T23:59:59Z"}) {
    const Result<int64_t> t = ParseTime(text, kT0);
    if (!t.ok()) {
      EXPECT_EQ(t.status().code(), Code::kInvalidArgument) << text;
      continue;
    }
    EXPECT_GT(*t, kT0) << text << " parsed as " << *t;
    EXPECT_EQ(FormatTime(*t), std::string(text).substr(0, 19) + ".000Z") << text << " parsed as " << *t;
  }
}

TEST(FormatTimeTest, FormatsUtcWithMilliseconds) {
  EXPECT_EQ(FormatTime(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatTime(kT0), "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(FormatTime(kT0 + 123'456'789), "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(FormatTime(-5), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatTime(TimeOrDie("2024-02-29T23:59:59.999Z")), "2024-02-29T23:59:59.999Z");
}

TEST(FormatTimeTest, RoundTripsThroughParseTime) {
  // Milliseconds survive exactly; every instant to the ms from 1970 to 2262.
  uint64_t x = 12345;
  for (int i = 0; i < 2000; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    const int64_t ms = static_cast<int64_t>((x >> 11) % (9'200'000'000'000'000LL / kMs));
    const int64_t t = ms * kMs;
    const std::string text = FormatTime(t);
    EXPECT_EQ(TimeOrDie(text), t) << text;
  }
  for (int64_t t : {int64_t{0}, kT0, kT0 + 1 * kMs, kT0 + 999 * kMs}) EXPECT_EQ(TimeOrDie(FormatTime(t)), t);
  // Below the ms it is truncated, and reads back as the truncated time.
  EXPECT_EQ(TimeOrDie(FormatTime(kT0 + 1'999'999)), kT0 + 1 * kMs);
}

}  // namespace
}  // namespace taskledger
