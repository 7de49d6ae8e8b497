#include "tools/cli/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <nlohmann/json.hpp>

namespace taskledger::cli {
namespace {

// `%*`: the message as a JSON string (quoted and escaped), so that a message holding
// quotes, newlines or bytes that are not UTF-8 still makes one valid JSON line.
class JsonMessage : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    const std::string text =
        nlohmann::json(std::string(msg.payload.data(), msg.payload.size()))
            .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    dest.append(text.data(), text.data() + text.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonMessage>(); }
};

}  // namespace

Status SetUpLogging(const std::string& level_name, const std::string& format) {
  const spdlog::level::level_enum level = spdlog::level::from_str(level_name);
  if (level == spdlog::level::off && level_name != "off") {
    return Status::InvalidArgument("--log-level: unknown level '" + level_name + "'");
  }
  if (format != "text" && format != "json") {
    return Status::InvalidArgument("--log-format: unknown format '" + format + "' (text or json)");
  }
  auto logger = spdlog::stderr_color_mt("taskledger");
  if (format == "json") {
    auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    formatter->add_flag<JsonMessage>('*').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","pid":%P,"thread":%t,"msg":%*})");
    logger->set_formatter(std::move(formatter));
  }
  spdlog::set_default_logger(std::move(logger));
  spdlog::set_level(level);
  return Status::Ok();
}

}  // namespace taskledger::cli
