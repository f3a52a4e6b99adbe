# Runs one command and checks its exit status and, optionally, what it printed:
#   cmake -DCMD="prog|arg|arg" -DEXPECT_RC=2 [-DSTDERR_MATCH=regex] [-DSTDOUT_MATCH=regex]
#         [-DSTDOUT_EMPTY=ON] -P expect_exit.cmake
# CMD's elements are separated by '|' (file names here hold none). Fails, printing both streams,
# when the status or a stream differs.
if(NOT DEFINED CMD OR NOT DEFINED EXPECT_RC)
  message(FATAL_ERROR "expect_exit.cmake: -DCMD=... and -DEXPECT_RC=... are required")
endif()
string(REPLACE "|" ";" cmd "${CMD}")
execute_process(COMMAND ${cmd} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("command: ${cmd}\nexit: ${rc}\n--- stdout\n${out}--- stderr\n${err}---")
set(problems "")
if(NOT "${rc}" STREQUAL "${EXPECT_RC}")
  string(APPEND problems "exit status ${rc}, expected ${EXPECT_RC}; ")
endif()
if(DEFINED STDERR_MATCH AND NOT err MATCHES "${STDERR_MATCH}")
  string(APPEND problems "stderr does not match '${STDERR_MATCH}'; ")
endif()
if(DEFINED STDOUT_MATCH AND NOT out MATCHES "${STDOUT_MATCH}")
  string(APPEND problems "stdout does not match '${STDOUT_MATCH}'; ")
endif()
if(STDOUT_EMPTY AND NOT out STREQUAL "")
  string(APPEND problems "stdout is not empty (messages belong on stderr); ")
endif()
if(problems)
  message(FATAL_ERROR "${problems}")
endif()
