// The spanning tree of both network simplex solvers is kept as a preorder thread
// (src/cpu/emd_tree_links.h): thread/rev_thread, the last node of every subtree, and skip pointers
// EMD_THREAD_SKIP places ahead, which let the potential shift walk several chains at once. A
// pivot re-hangs a subtree (emd_thread_rehang). These tests re-hang random subtrees of random
// trees thousands of times and check after each one, against the parent pointers alone, that
// the thread is a preorder (every subtree one run that ends at last[]), that rev_thread inverts
// it and that every skip pointer is current; and that emd_thread_shift changes exactly the run
// it is given, rows by one amount and the other nodes by another, for every run length.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

extern "C" {
#include "cpu/emd_tree_links.h"
}

namespace {

struct ThreadedTree {
  int32_t nodes;
  std::vector<int32_t> parent, thread, rev_thread, last, path, segments, skip, touched;

  explicit ThreadedTree(int32_t count)
      : nodes(count),
        parent(count),
        thread(count),
        rev_thread(count),
        last(count),
        path(count),
        segments(4 * static_cast<size_t>(count)),
        skip(count),
        touched(3 * static_cast<size_t>(count)) {}

  emd_thread_tree View() {
    return emd_thread_tree{parent.data(), thread.data(),   rev_thread.data(), last.data(),
                           path.data(),   segments.data(), skip.data(),       touched.data()};
  }

  bool IsBelow(int32_t x, int32_t ancestor) const {
    for (; x >= 0; x = parent[x])
      if (x == ancestor) return true;
    return false;
  }

  std::vector<int32_t> Sizes() const {
    std::vector<int32_t> size(nodes, 0);
    for (int32_t x = 0; x < nodes; ++x)
      for (int32_t y = x; y >= 0; y = parent[y]) ++size[y];
    return size;
  }
};

// A random tree rooted at node 0 and a depth-first preorder of it, children in random order.
ThreadedTree RandomTree(int32_t nodes, std::mt19937_64 &rng) {
  ThreadedTree t(nodes);
  std::vector<int32_t> order(nodes);
  for (int32_t x = 0; x < nodes; ++x) order[x] = x;
  std::shuffle(order.begin() + 1, order.end(), rng);
  t.parent[0] = -1;
  for (int32_t k = 1; k < nodes; ++k)
    t.parent[order[k]] = order[std::uniform_int_distribution<int32_t>(0, k - 1)(rng)];
  std::vector<std::vector<int32_t>> children(nodes);
  for (int32_t k = 1; k < nodes; ++k) children[t.parent[order[k]]].push_back(order[k]);
  std::vector<int32_t> preorder, stack{0};
  while (!stack.empty()) {
    const int32_t x = stack.back();
    stack.pop_back();
    preorder.push_back(x);
    std::shuffle(children[x].begin(), children[x].end(), rng);
    for (int32_t child : children[x]) stack.push_back(child);
  }
  const std::vector<int32_t> size = t.Sizes();
  for (int32_t k = 0; k < nodes; ++k) {
    const int32_t x = preorder[k], next = preorder[(k + 1) % nodes];
    t.thread[x] = next, t.rev_thread[next] = x;
    t.last[x] = preorder[k + size[x] - 1];
  }
  const emd_thread_tree view = t.View();
  emd_thread_skip_all(&view, nodes);
  return t;
}

// What the thread must be, read from the parent pointers alone.
void ExpectConsistent(const ThreadedTree &t) {
  const std::vector<int32_t> size = t.Sizes();
  std::vector<int32_t> position(t.nodes, -1);
  int32_t x = 0;
  for (int32_t k = 0; k < t.nodes; ++k, x = t.thread[x]) {
    ASSERT_EQ(position[x], -1) << "node " << x << " met twice";
    position[x] = k;
    ASSERT_EQ(t.rev_thread[t.thread[x]], x);
  }
  ASSERT_EQ(x, 0) << "the thread does not close at the root";
  for (int32_t y = 0; y < t.nodes; ++y) {
    int32_t ahead = y;
    for (int k = 0; k < EMD_THREAD_SKIP; ++k) ahead = t.thread[ahead];
    ASSERT_EQ(t.skip[y], ahead) << "skip pointer of node " << y;
    // y's subtree is the run of size[y] nodes from y, and it ends at last[y].
    ASSERT_EQ(position[t.last[y]], position[y] + size[y] - 1) << "last of node " << y;
    int32_t z = y;
    for (int32_t k = 0; k < size[y]; ++k, z = t.thread[z])
      ASSERT_TRUE(t.IsBelow(z, y)) << "node " << z << " in the run of " << y;
  }
}

TEST(EmdTreeThread, RandomRehangsKeepThePreorderAndTheSkipPointers) {
  std::mt19937_64 rng(20261208);
  for (int32_t nodes : {2, 3, 5, 8, 13, 40, 101}) {
    ThreadedTree t = RandomTree(nodes, rng);
    ExpectConsistent(t);
    for (int pivot = 0; pivot < 400; ++pivot) {
      // Cut below a random node `leave`, re-root its subtree at a random `inside` below it and
      // hang it from a random `outside` elsewhere, as a pivot does.
      std::uniform_int_distribution<int32_t> any(0, nodes - 1);
      const int32_t leave = 1 + std::uniform_int_distribution<int32_t>(0, nodes - 2)(rng);
      int32_t inside, outside;
      do inside = any(rng);
      while (!t.IsBelow(inside, leave));
      do outside = any(rng);
      while (t.IsBelow(outside, leave));
      int32_t length = 0;
      for (int32_t x = inside;; x = t.parent[x]) {
        t.path[length++] = x;
        if (x == leave) break;
      }
      const emd_thread_tree view = t.View();
      const int32_t tail = emd_thread_rehang(&view, length, outside);
      for (int32_t k = length - 1; k > 0; --k) t.parent[t.path[k]] = t.path[k - 1];
      t.parent[inside] = outside;
      ASSERT_EQ(tail, t.last[inside]);
      ASSERT_NO_FATAL_FAILURE(ExpectConsistent(t)) << nodes << " nodes, pivot " << pivot;
    }
  }
}

TEST(EmdTreeThread, ShiftChangesExactlyTheRunItIsGiven) {
  std::mt19937_64 rng(7);
  const int32_t nodes = 37, rows = 15;
  ThreadedTree t = RandomTree(nodes, rng);
  for (int32_t first = 0; first < nodes; first += 5)
    for (int32_t count = 0; count <= nodes; ++count) {
      std::vector<double> pot(nodes), expected(nodes);
      for (int32_t x = 0; x < nodes; ++x) pot[x] = expected[x] = 0.25 * x;
      int32_t x = first;
      for (int32_t k = 0; k < count; ++k, x = t.thread[x]) expected[x] += x < rows ? 3.0 : -5.0;
      const emd_thread_tree view = t.View();
      const double shift[2] = {3.0, -5.0};
      emd_thread_shift(&view, pot.data(), rows, first, count, shift);
      for (int32_t y = 0; y < nodes; ++y)
        ASSERT_EQ(pot[y], expected[y]) << "node " << y << ", run of " << count << " from " << first;
    }
}

}  // namespace
