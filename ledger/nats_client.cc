#include "ledger/nats_client.h"

#include <algorithm>
#include <thread>

namespace taskledger::nats {

Connection::~Connection() {
  jsCtx_Destroy(js);
  natsConnection_Destroy(connection);
  natsOptions_Destroy(options);
}

Result<std::unique_ptr<Connection>> Connect(const std::vector<std::string>& servers, std::chrono::milliseconds patience) {
  if (servers.empty()) return Status::InvalidArgument("no NATS server given");
  auto nats = std::make_unique<Connection>();
  std::vector<const char*> urls;
  for (const std::string& url : servers) urls.push_back(url.c_str());
  natsStatus s = natsOptions_Create(&nats->options);
  if (s == NATS_OK) s = natsOptions_SetServers(nats->options, urls.data(), static_cast<int>(urls.size()));
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(nats->options, 50);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(nats->options, -1);
  if (s == NATS_OK) s = natsOptions_SetTimeout(nats->options, 2000);
  if (s == NATS_OK) s = natsOptions_SetName(nats->options, "taskledger");
  if (s != NATS_OK) return Status::Internal("NATS options: " + ErrorText(s));

  Patience tries(patience);
  while ((s = natsConnection_Connect(&nats->connection, nats->options)) != NATS_OK) {
    if (!tries.Again()) return Status::Busy("cannot connect to NATS at " + servers.front() + ": " + ErrorText(s));
  }
  jsOptions js_options;
  jsOptions_Init(&js_options);
  s = natsConnection_JetStream(&nats->js, nats->connection, &js_options);
  if (s != NATS_OK) return Status::Internal("JetStream context: " + ErrorText(s));
  return nats;
}

Result<std::unique_ptr<Connection>> ConnectForReplicas(const std::vector<std::string>& servers, int replicas,
                                                       std::chrono::milliseconds patience) {
  if (replicas != 1 && replicas != 3) {
    return Status::InvalidArgument("replicas must be 1 or 3, not " + std::to_string(replicas));
  }
  return Connect(servers, patience);
}

jsStreamConfig FileStreamConfig(const std::string& name, const char** subject, int replicas) {
  jsStreamConfig config;
  jsStreamConfig_Init(&config);
  config.Name = name.c_str();
  config.Subjects = subject;
  config.SubjectsLen = 1;
  config.Storage = js_FileStorage;
  config.Replicas = replicas;
  return config;
}

namespace {

// Whether the stream that exists has `config`'s subject, replicas and storage. Servers that
// create one stream at once (every taskledger server of a fresh cluster does) may be told
// that its name is in use although their configurations are the same: it is looked at.
Result<bool> SameStream(Connection& nats, const jsStreamConfig& config, const jsOptions& call) {
  jsStreamInfo* info = nullptr;
  jsErrCode js_error = static_cast<jsErrCode>(0);
  const natsStatus s = js_GetStreamInfo(&info, nats.js, config.Name, const_cast<jsOptions*>(&call), &js_error);
  if (s != NATS_OK) return Status::Busy("cannot read stream " + std::string(config.Name) + ": " + ErrorText(s, js_error));
  const jsStreamConfig* have = info->Config;
  const bool same = have != nullptr && have->Replicas == config.Replicas && have->Storage == config.Storage &&
                    have->SubjectsLen == 1 && config.SubjectsLen == 1 &&
                    std::string(have->Subjects[0]) == config.Subjects[0];
  jsStreamInfo_Destroy(info);
  return same;
}

}  // namespace

Status AddStream(Connection& nats, jsStreamConfig& config, std::chrono::milliseconds patience) {
  Patience tries(patience);
  for (;;) {
    jsOptions call = tries.RequestOptions();
    jsStreamInfo* info = nullptr;
    jsErrCode js_error = static_cast<jsErrCode>(0);
    // Creating a stream that exists with the same configuration succeeds and changes nothing.
    natsStatus s = js_AddStream(&info, nats.js, &config, &call, &js_error);
    jsStreamInfo_Destroy(info);
    if (s == NATS_OK) return Status::Ok();
    if (js_error == JSStreamNameExistErr) {
      Result<bool> same = SameStream(nats, config, call);
      if (same.ok() && *same) return Status::Ok();
      if (!same.ok()) {
        if (!tries.Again()) return same.status();
        continue;
      }
      return Status::InvalidArgument("stream " + std::string(config.Name) + " exists with another configuration (not " +
                                     std::to_string(config.Replicas) + " replicas of subject " + config.Subjects[0] +
                                     ", file storage)");
    }
    if (Final(s, js_error) || !tries.Again()) {
      return Status::Busy("cannot create stream " + std::string(config.Name) + ": " + ErrorText(s, js_error));
    }
  }
}

std::string ErrorText(natsStatus s, jsErrCode js_error) {
  std::string text = natsStatus_GetText(s);
  natsStatus last = NATS_OK;
  const char* detail = nats_GetLastError(&last);
  if (detail != nullptr && *detail != '\0' && text.find(detail) == std::string::npos) text += std::string(": ") + detail;
  if (js_error != 0) text += " (JetStream error " + std::to_string(static_cast<int>(js_error)) + ")";
  return text;
}

bool Final(natsStatus s, jsErrCode js_error) {
  return s == NATS_CONNECTION_CLOSED || s == NATS_MAX_PAYLOAD || s == NATS_INVALID_ARG ||
         js_error == JSStreamNotFoundErr || js_error == JSStreamNameExistErr || js_error == JSNoMessageFoundErr ||
         js_error == JSStreamWrongLastSequenceErr;
}

Patience::Patience(std::chrono::milliseconds patience) : deadline_(std::chrono::steady_clock::now() + patience) {}

int64_t Patience::RequestWaitMs() const {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - std::chrono::steady_clock::now());
  return std::clamp<int64_t>(left.count(), 100, 2000);
}

jsOptions Patience::RequestOptions() const {
  jsOptions options;
  jsOptions_Init(&options);
  options.Wait = RequestWaitMs();
  return options;
}

bool Patience::Again() {
  if (std::chrono::steady_clock::now() + wait_ >= deadline_) return false;
  std::this_thread::sleep_for(wait_);
  wait_ = std::min(wait_ * 2, std::chrono::milliseconds(200));
  return true;
}

}  // namespace taskledger::nats
