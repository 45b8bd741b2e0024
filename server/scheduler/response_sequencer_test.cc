#include "server/scheduler/response_sequencer.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace kiln::server {
namespace {

TEST(ResponseSequencerTest, CompletionsRunInTicketOrder) {
  ResponseSequencer sequencer;
  std::vector<uint64_t> tickets;
  for (int i = 0; i < 4; ++i) tickets.push_back(sequencer.Issue());
  std::vector<int> order;
  sequencer.Complete(tickets[2], [&] { order.push_back(2); });
  sequencer.Complete(tickets[1], [&] { order.push_back(1); });
  EXPECT_TRUE(order.empty());  // waiting for ticket 0
  sequencer.Complete(tickets[0], [&] { order.push_back(0); });
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
  sequencer.Complete(tickets[3], [&] { order.push_back(3); });
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
}

TEST(ResponseSequencerTest, ConcurrentCompletionsKeepTheOrder) {
  ResponseSequencer sequencer;
  constexpr int kCount = 200;
  std::vector<uint64_t> tickets;
  for (int i = 0; i < kCount; ++i) tickets.push_back(sequencer.Issue());
  std::vector<int> order;  // only touched by completions, which never overlap
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = kCount - 1 - t; i >= 0; i -= 4) {
        sequencer.Complete(tickets[i], [&order, i] { order.push_back(i); });
      }
    });
  }
  for (auto& thread : threads) thread.join();
  ASSERT_EQ(order.size(), static_cast<size_t>(kCount));
  for (int i = 0; i < kCount; ++i) EXPECT_EQ(order[i], i);
}

}  // namespace
}  // namespace kiln::server
