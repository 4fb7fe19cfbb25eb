// The schema of the whole configuration: one table per config struct (config_schema.cpp).
#pragma once
#include "config/config.hpp"
#include "config/schema.hpp"

namespace kasmina::config_detail {

const Section<Config>& config_table();

}  // namespace kasmina::config_detail
