#include "server/grpc/stream_infer_reactor.h"

#include "server/grpc/infer_dispatch.h"

namespace kiln::server {

StreamInferReactor::StreamInferReactor(const ModelRepository* repository)
    : repository_(repository) {
  StartNextRead();
}

void StreamInferReactor::StartNextRead() {
  reading_ = std::make_unique<Call>();
  StartRead(&reading_->request);
}

void StreamInferReactor::OnReadDone(bool ok) {
  if (!ok) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      reads_done_ = true;
    }
    Advance();
    return;
  }
  std::shared_ptr<Call> call(std::move(reading_));
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++in_flight_;
  }
  // Keep reading while this request runs: requests on a stream overlap.
  StartNextRead();
  DispatchInfer(*repository_, &call->request,
                call->response.mutable_infer_response(),
                [this, call](absl::Status status) {
                  if (!status.ok()) {
                    call->response.Clear();
                    call->response.set_error_message(
                        std::string(status.message()));
                  }
                  Complete(call);
                });
}

void StreamInferReactor::Complete(std::shared_ptr<Call> call) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    --in_flight_;
    to_write_.push_back(std::move(call));
  }
  Advance();
}

void StreamInferReactor::OnWriteDone(bool ok) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    to_write_.pop_front();
    // A failed write means the stream is broken: drop what is left to say.
    if (!ok) to_write_.clear();
  }
  Advance();
}

void StreamInferReactor::Advance() {
  const inference::ModelStreamInferResponse* next = nullptr;
  bool finish = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (finished_ || writing_) return;
    if (!to_write_.empty()) {
      writing_ = true;
      next = &to_write_.front()->response;
    } else if (reads_done_ && in_flight_ == 0) {
      finished_ = true;
      finish = true;
    }
  }
  if (next != nullptr) StartWrite(next);
  if (finish) Finish(grpc::Status::OK);
}

void StreamInferReactor::OnDone() { delete this; }

}  // namespace kiln::server
