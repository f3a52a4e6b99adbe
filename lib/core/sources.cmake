# The floor: statuses, types, the version, the split policy's spelling. Its headers (error,
# guard, merge algebra, visibility, split rule) include nothing of the kernels or the front door.
target_sources(splitmla_decode PRIVATE core/status.cpp core/types.cpp core/version.cpp
  core/policy.cpp)
