// Errors by which the scheduler turns a request away (queue full, queue
// timeout) rather than the model failing it. They are ordinary Unavailable
// statuses with Triton's messages; a payload marks them so the statistics
// can count them as REJECTED without matching message text.
#ifndef KILN_SERVER_SCHEDULER_REJECTION_H_
#define KILN_SERVER_SCHEDULER_REJECTION_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace kiln::server {

// Unavailable with `message`, marked as a scheduler rejection.
absl::Status RejectedError(absl::string_view message);

// True for a status made by RejectedError (the mark survives copies, not a
// new Status built from the code and message).
bool IsRejected(const absl::Status& status);

}  // namespace kiln::server

#endif  // KILN_SERVER_SCHEDULER_REJECTION_H_
