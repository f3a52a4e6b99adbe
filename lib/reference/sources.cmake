target_sources(splitmla PRIVATE reference/halfconv.cpp reference/reference.cpp reference/compare.cpp
  reference/fp8.cpp)
