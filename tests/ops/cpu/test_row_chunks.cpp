// The row chunks of the column passes (kernels/row_chunks.hpp): the grids that the reference
// MLP's bf16 step and the wide MLPs get, and the invariants over many shapes.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>

#include "kernels/row_chunks.hpp"

namespace kasmina {
namespace {

using kernels::column_chunks;
using kernels::ColumnChunks;
using kernels::kFewBlocks;
using kernels::small_grid_chunks;

constexpr int64_t kNoCap = std::numeric_limits<int64_t>::max();

void expect_chunks(const ColumnChunks& c, int64_t chunk_rows, int64_t chunks) {
  EXPECT_EQ(c.chunk_rows, chunk_rows);
  EXPECT_EQ(c.chunks, chunks);
}

TEST(RowChunks, ColumnChunksKeepAtMost1024ChunksOfAtLeast256Rows) {
  expect_chunks(column_chunks(0), 256, 1);
  expect_chunks(column_chunks(1), 256, 1);
  expect_chunks(column_chunks(100352), 256, 392);  // the ResNet's 28 x 28 x 128 batchnorm rows
  expect_chunks(column_chunks(256 * 1024), 256, 1024);
  expect_chunks(column_chunks(256 * 1024 + 1), 512, 513);
}

// The shapes of the reference MLP's bf16 step at B256 (bench/RESULTS.md, twenty-seventh
// session): each pass would have had 4 or 8 blocks; now the chunks shrink to one row a lane.
TEST(RowChunks, SmallBatchesGetOneRowALane) {
  // bf16 activation-gradient pass, 256 x 128: one column block of 256 columns.
  expect_chunks(small_grid_chunks(256, 1, 64, 1024, 8), 8, 32);
  // skinny input gradient, 256 x 128: two 64-column tiles.
  expect_chunks(small_grid_chunks(256, 2, 64, 1024, 8), 8, 32);
  // skinny weight gradient over 128 inputs: 128-row chunks, no cap on their count.
  expect_chunks(small_grid_chunks(256, 2, 128, kNoCap, 8), 8, 32);
  // Halving stops as soon as the grid has kFewBlocks blocks: 1024 rows, 4 column blocks.
  expect_chunks(small_grid_chunks(1024, 4, 64, 1024, 8), 32, 32);
}

TEST(RowChunks, LargeBatchesKeepTheirChunks) {
  // 784-1024-1024-10 at B4096: the pass over 4096 x 1024 already has 256 blocks.
  expect_chunks(small_grid_chunks(4096, 4, 64, 1024, 8), 64, 64);
  // More than 1024 chunks of 64 rows: doubled first, and the grid is then large enough.
  expect_chunks(small_grid_chunks(65537, 1, 64, 1024, 8), 128, 513);
  // No rows: one (empty) chunk, as the partials buffer is sized for.
  EXPECT_EQ(small_grid_chunks(0, 3, 64, 1024, 8).chunks, 1);
}

TEST(RowChunks, InvariantsOverRandomShapes) {
  std::mt19937_64 rng(20261206);
  std::uniform_int_distribution<int64_t> rows_of(1, 300000), blocks_of(1, 64);
  for (int i = 0; i < 5000; ++i) {
    const int64_t rows = i % 3 == 0 ? rows_of(rng) % 600 + 1 : rows_of(rng);
    const int64_t col_blocks = blocks_of(rng);
    const int64_t first = i % 2 == 0 ? 64 : 128;
    const int64_t cap = i % 4 < 2 ? 1024 : kNoCap;
    const ColumnChunks c = small_grid_chunks(rows, col_blocks, first, cap, 8);
    SCOPED_TRACE(testing::Message() << "rows " << rows << ", column blocks " << col_blocks
                                    << ", first " << first << ", cap " << cap);
    // The chunks cover the rows, the last one not empty.
    ASSERT_GE(c.chunk_rows * c.chunks, rows);
    ASSERT_LT((c.chunks - 1) * c.chunk_rows, rows);
    // A power-of-two multiple or fraction of the first size, never below one row a lane.
    ASSERT_GE(c.chunk_rows, 8);
    ASSERT_TRUE(c.chunk_rows % first == 0 || first % c.chunk_rows == 0);
    // Halved only while the grid was small: it is large enough now, or the chunks are minimal.
    ASSERT_TRUE(c.chunk_rows == 8 || col_blocks * c.chunks >= kFewBlocks);
    // A chunk smaller than the first size means the grid had fewer than kFewBlocks blocks with
    // twice the rows a chunk.
    if (c.chunk_rows < first) {
      ASSERT_LT(col_blocks * ((rows + 2 * c.chunk_rows - 1) / (2 * c.chunk_rows)), kFewBlocks);
    }
    // The cap holds unless the grid was small (then there are fewer than 2 kFewBlocks chunks).
    ASSERT_TRUE(c.chunks <= cap || c.chunks < 2 * kFewBlocks);
  }
}

}  // namespace
}  // namespace kasmina
