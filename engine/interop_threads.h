// LibTorch's inter-op thread pool (TorchScript's fork/wait and async work):
// one per process, sized once. LibTorch 2.x starts it, on first use, with
// one thread per core; Triton's INTER_OP_THREAD_COUNT (KILN_INTER_OP_THREADS)
// sizes it instead. Intra-op threads are per executing thread (model.cc).
#ifndef KILN_ENGINE_INTEROP_THREADS_H_
#define KILN_ENGINE_INTEROP_THREADS_H_

#include <string>

namespace kiln::engine {

// Asks for `requested` inter-op threads (0: LibTorch's default). The first
// request > 0 in the process sizes the pool, if the pool has not started;
// later requests cannot change it. Returns one line for the load log saying
// what the process has: "inter-op pool: 2 thread(s) (process-wide, sized by
// this model)", "inter-op pool: 2 thread(s) (process-wide; 4 requested here,
// already sized)", or "inter-op pool: LibTorch's default (one thread per
// core, started on first fork)". Thread safe.
std::string RequestInterOpThreads(int requested);

}  // namespace kiln::engine

#endif  // KILN_ENGINE_INTEROP_THREADS_H_
