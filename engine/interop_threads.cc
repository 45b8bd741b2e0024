#include "engine/interop_threads.h"

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <mutex>

#include "absl/strings/str_cat.h"

namespace kiln::engine {
namespace {

std::mutex mu;
int sized_to = 0;  // guarded by mu: the size Kiln set, 0 before

}  // namespace

std::string RequestInterOpThreads(int requested) {
  std::lock_guard<std::mutex> lock(mu);
  if (requested > 0 && sized_to == 0) {
    try {
      // Throws once the pool has started (something forked before any
      // model asked for a size).
      at::set_num_interop_threads(requested);
      sized_to = requested;
      return absl::StrCat("inter-op pool: ", requested,
                          " thread(s) (process-wide, sized by this model)");
    } catch (const c10::Error& e) {
      return absl::StrCat("inter-op pool: ", requested,
                          " thread(s) requested, but LibTorch's pool had already started: ",
                          e.what_without_backtrace());
    }
  }
  if (sized_to > 0) {
    return absl::StrCat("inter-op pool: ", sized_to, " thread(s) (process-wide",
                        requested > 0 && requested != sized_to
                            ? absl::StrCat("; ", requested, " requested here, already sized)")
                            : ")");
  }
  // Not asking LibTorch for its size: at::get_num_interop_threads() would
  // start the pool, one thread per core, for models that never fork.
  return "inter-op pool: LibTorch's default (one thread per core, started on first fork)";
}

}  // namespace kiln::engine
