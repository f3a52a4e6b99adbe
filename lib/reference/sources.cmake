# The float64 CPU reference (splitmla::reference, its own library): half and fp8 conversions, the
# direct and split + merge decode, the context-parallel merge reference, the comparison report.
target_sources(splitmla_reference PRIVATE reference/halfconv.cpp reference/reference.cpp
  reference/compare.cpp reference/fp8.cpp reference/merge_partials.cpp)
