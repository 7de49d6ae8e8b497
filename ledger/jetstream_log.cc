#include "ledger/jetstream_log.h"

#include <utility>

#include "ledger/nats_client.h"

namespace taskledger {

using nats::ErrorText;
using nats::Final;
using nats::Patience;

JetStreamLog::JetStreamLog(JetStreamLogOptions options, std::unique_ptr<nats::Connection> nats)
    : options_(std::move(options)), nats_(std::move(nats)) {}

JetStreamLog::~JetStreamLog() = default;

Result<std::unique_ptr<JetStreamLog>> JetStreamLog::Open(const JetStreamLogOptions& options) {
  if (options.stream.empty() || options.subject.empty()) {
    return Status::InvalidArgument("a JetStream log needs a stream name and a subject");
  }
  Result<std::unique_ptr<nats::Connection>> nats =
      nats::ConnectForReplicas(options.servers, options.replicas, options.patience);
  if (!nats.ok()) return nats.status();
  std::unique_ptr<JetStreamLog> log(new JetStreamLog(options, std::move(nats).value()));
  TL_RETURN_IF_ERROR(log->CreateStream());
  return log;
}

Status JetStreamLog::CreateStream() {
  const char* subject[] = {options_.subject.c_str()};
  jsStreamConfig config = nats::FileStreamConfig(options_.stream, subject, options_.replicas);
  // The log is append-only: nobody may remove a commit group from it.
  config.DenyDelete = true;
  config.DenyPurge = true;

  TL_RETURN_IF_ERROR(nats::AddStream(*nats_, config, options_.patience));

  Result<StreamState> state = State(/*need_leader=*/false, /*just_created=*/true);
  if (!state.ok()) return state.status();
  Patience patience(options_.patience);
  if (state->last_seq == 0) {
    // Creators racing here write one header: the message id makes the stream drop repeats.
    jsPubOptions publish;
    jsPubOptions_Init(&publish);
    publish.MsgId = "taskledger-header";
    for (;;) {
      publish.MaxWait = patience.RequestWaitMs();
      jsPubAck* ack = nullptr;
      jsErrCode js_error = static_cast<jsErrCode>(0);
      natsStatus s = js_Publish(&ack, nats_->js, options_.subject.c_str(), kJetStreamLogHeader.data(),
                                static_cast<int>(kJetStreamLogHeader.size()), &publish, &js_error);
      jsPubAck_Destroy(ack);
      if (s == NATS_OK) break;
      if (Final(s, js_error) || !patience.Again()) {
        return Status::Busy("cannot write the header of stream " + options_.stream + ": " + ErrorText(s, js_error));
      }
    }
  }
  Result<std::string> header = MessageAt(1, /*just_created=*/true);
  if (!header.ok()) return header.status();
  if (*header != kJetStreamLogHeader) {
    return Status::DataLoss("stream " + options_.stream + " is not a taskledger log: its first message is not the header");
  }
  return Status::Ok();
}

Result<uint64_t> JetStreamLog::Append(std::string_view group, uint64_t after) {
  if (after < 1) return Status::InvalidArgument("an append goes after the header: after must be >= 1");
  jsPubOptions publish;
  jsPubOptions_Init(&publish);
  publish.ExpectLastSeq = after;
  Patience patience(options_.patience);
  for (;;) {
    publish.MaxWait = patience.RequestWaitMs();
    jsPubAck* ack = nullptr;
    jsErrCode js_error = static_cast<jsErrCode>(0);
    natsStatus s = js_Publish(&ack, nats_->js, options_.subject.c_str(), group.data(), static_cast<int>(group.size()),
                              &publish, &js_error);
    if (s == NATS_OK) {
      const uint64_t seq = ack->Sequence;
      jsPubAck_Destroy(ack);
      if (seq != after + 1) {
        return Status::Internal("stream " + options_.stream + " stored an append after " + std::to_string(after) +
                                " at " + std::to_string(seq));
      }
      return seq;
    }
    if (js_error == JSStreamWrongLastSequenceErr) {
      // Something is at after + 1: this append's earlier try, or another writer's group.
      Result<std::string> there = MessageAt(after + 1);
      if (!there.ok() && !there.status().IsNotFound()) {
        // It may be this append's own earlier try: unknown, not refused.
        return Status::Busy("append after " + std::to_string(after) + " to stream " + options_.stream +
                            ": outcome unknown: " + there.status().message());
      }
      if (there.ok() && *there == group) return after + 1;
      Result<uint64_t> last = LastSeq();
      return Status::Refused("fenced: stream " + options_.stream + " has moved past " + std::to_string(after) +
                             (last.ok() ? " to " + std::to_string(*last) : std::string()) +
                             "; another writer appended first");
    }
    if (s == NATS_MAX_PAYLOAD) {
      return Status::InvalidArgument("a commit group of " + std::to_string(group.size()) +
                                     " bytes is larger than the server's max payload");
    }
    if (Final(s, js_error) || !patience.Again()) {
      return Status::Busy("append after " + std::to_string(after) + " to stream " + options_.stream +
                          ": outcome unknown: " + ErrorText(s, js_error));
    }
  }
}

Result<JetStreamLog::StreamState> JetStreamLog::State(bool need_leader, bool just_created) {
  Patience patience(options_.patience);
  for (;;) {
    jsOptions call = patience.RequestOptions();
    jsStreamInfo* info = nullptr;
    jsErrCode js_error = static_cast<jsErrCode>(0);
    natsStatus s = js_GetStreamInfo(&info, nats_->js, options_.stream.c_str(), &call, &js_error);
    StreamState state;
    if (s == NATS_OK) {
      state.last_seq = info->State.LastSeq;
      if (info->Cluster != nullptr && info->Cluster->Leader != nullptr) state.leader = info->Cluster->Leader;
    }
    jsStreamInfo_Destroy(info);
    // A stream between leaders answers without one: wait for the election.
    if (s == NATS_OK && (!need_leader || !state.leader.empty())) return state;
    // Seen in a CI rehearsal: three servers creating the stream at once, one of them
    // answered 10059 just after its create had succeeded (the stream's assignment had
    // not reached the server that took the info request).
    const bool not_there_yet = just_created && js_error == JSStreamNotFoundErr;
    if ((Final(s, js_error) && !not_there_yet) || !patience.Again()) {
      return Status::Busy("cannot read the state of stream " + options_.stream +
                          (s == NATS_OK ? ": it has no leader" : ": " + ErrorText(s, js_error)));
    }
  }
}

Result<uint64_t> JetStreamLog::LastSeq() {
  Result<StreamState> state = State(/*need_leader=*/false);
  if (!state.ok()) return state.status();
  return state->last_seq;
}

Result<std::string> JetStreamLog::Leader() {
  Result<StreamState> state = State(/*need_leader=*/true);
  if (!state.ok()) return state.status();
  return state->leader;
}

Result<std::string> JetStreamLog::MessageAt(uint64_t seq, bool just_created) {
  Patience patience(options_.patience);
  for (;;) {
    jsOptions call = patience.RequestOptions();
    natsMsg* message = nullptr;
    jsErrCode js_error = static_cast<jsErrCode>(0);
    natsStatus s = js_GetMsg(&message, nats_->js, options_.stream.c_str(), seq, &call, &js_error);
    if (s == NATS_OK) {
      std::string bytes(natsMsg_GetData(message), static_cast<size_t>(natsMsg_GetDataLength(message)));
      natsMsg_Destroy(message);
      return bytes;
    }
    if (js_error == JSNoMessageFoundErr) {
      return Status::NotFound("stream " + options_.stream + " has no message " + std::to_string(seq));
    }
    const bool not_there_yet = just_created && js_error == JSStreamNotFoundErr;
    if ((Final(s, js_error) && !not_there_yet) || !patience.Again()) {
      return Status::Busy("cannot read message " + std::to_string(seq) + " of stream " + options_.stream + ": " +
                          ErrorText(s, js_error));
    }
  }
}

Status JetStreamLog::ReadFrom(uint64_t from, const std::function<Status(uint64_t, std::string_view)>& each) {
  if (from < kFirstGroupSeq) return Status::InvalidArgument("commit groups start at " + std::to_string(kFirstGroupSeq));
  Result<uint64_t> last = LastSeq();
  if (!last.ok()) return last.status();
  for (uint64_t seq = from; seq <= *last; ++seq) {
    Result<std::string> group = MessageAt(seq);
    // The stream denies deletes and purges: a hole is a lost commit group.
    if (group.status().IsNotFound()) return Status::DataLoss(group.status().message());
    if (!group.ok()) return group.status();
    TL_RETURN_IF_ERROR(each(seq, *group));
  }
  return Status::Ok();
}

}  // namespace taskledger
