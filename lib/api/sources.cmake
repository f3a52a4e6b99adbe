# The front door: validation and plan (plan.cpp), launches (run.cpp), the scratch pool
# (pool.cpp), the workspace's named sub-buffers (workspace.cpp) and the host readers of errors and
# schedule (readback.cpp).
target_sources(splitmla_decode PRIVATE api/plan.cpp api/run.cpp api/pool.cpp api/workspace.cpp
  api/readback.cpp)
