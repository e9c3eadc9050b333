// dtype strings as TVM writes them ("float32", "bfloat16", "uint8", "bool", "float16x4").
#pragma once

#include <optional>
#include <string>

#include "backend.h"

namespace sdmali {

std::optional<DType> parseDType(const std::string& text);
std::string formatDType(DType dtype);

}  // namespace sdmali
