// Gzip bombs for the tests of the IDX reader and of `kasmina train`: files of a few MB whose
// gzip stream inflates to GBs. They are made on the fly, never stored: one gzip member holding
// 64 MiB of zeros compresses to about 64 KiB and is repeated (gzip -d, and the reader, accept
// concatenated members), so a 40 GiB stream is written in well under a second.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace kasmina::datatest {

// Writes `path`: an IDX header of unsigned bytes with `dims`, then `zero_bytes` zero bytes,
// gzip-compressed, whatever `dims` declares (fewer bytes: trailing data; more: a header that
// promises more than it holds).
void write_idx_gzip_bomb(const std::string& path, const std::vector<uint32_t>& dims,
                         uint64_t zero_bytes);

}  // namespace kasmina::datatest
