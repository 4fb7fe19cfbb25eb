// How the column passes of kernels/ split a matrix's rows into chunks (one chunk per block row
// of the grid): host code only, so that the CPU tests check it (tests/ops/cpu/test_row_chunks.cpp).
// The chunking depends on the shape alone, so the passes' results are run-to-run identical.
#pragma once
#include <cstdint>

namespace kasmina::kernels {

struct ColumnChunks {
  int64_t chunk_rows = 0;
  int64_t chunks = 0;
};

// At most 1024 chunks of at least 256 rows (multiples of the row lanes).
inline ColumnChunks column_chunks(int64_t rows) {
  int64_t chunk_rows = 256;
  while ((rows + chunk_rows - 1) / chunk_rows > 1024) chunk_rows *= 2;
  const int64_t chunks = rows == 0 ? 1 : (rows + chunk_rows - 1) / chunk_rows;
  return {chunk_rows, chunks};
}

// Row chunks of a pass over [rows, cols] run as a grid of col_blocks column blocks x chunks:
// chunks of `first` rows, doubled while there would be more than max_chunks of them; then, while
// the grid would have fewer than kFewBlocks blocks, halved down to `smallest` rows (one row a row
// lane). A small batch's pass is latency-bound and a thread's rows run in sequence (256 x 128: 8
// blocks of 8 rows a thread, 14 us under Nsight Compute on an H100, before; bench/RESULTS.md).
// The chunking depends on the shape alone, so results stay run-to-run identical.
constexpr int64_t kFewBlocks = 128;
inline ColumnChunks small_grid_chunks(int64_t rows, int64_t col_blocks, int64_t first,
                                      int64_t max_chunks, int64_t smallest) {
  auto count = [rows](int64_t chunk_rows) { return (rows + chunk_rows - 1) / chunk_rows; };
  int64_t chunk_rows = first;
  while (count(chunk_rows) > max_chunks) chunk_rows *= 2;
  while (chunk_rows > smallest && col_blocks * count(chunk_rows) < kFewBlocks) chunk_rows /= 2;
  return {chunk_rows, rows == 0 ? 1 : count(chunk_rows)};
}

}  // namespace kasmina::kernels
