# The libraries export no symbol of the C++ runtime's iostream and locale code: with a toolchain
# that links libstdc++ statically, such exports interpose on the process's libstdc++ (a crash in
# the PyTorch extension on the GPU machine). Needs nm (binutils) and c++filt.
# The libraries are built with hidden visibility: every exported symbol of SplitMLA's own is in
# namespace splitmla (SPLITMLA_API / SPLITMLA_INTERNAL_API): a strong code symbol outside it is
# a symptom of default visibility. Weak instantiations of std:: templates (std::vector growth)
# stay exported because libstdc++ declares namespace std with default visibility; they are
# compiled from the headers, identical in every module, and carry no state.
# -DLIBRARIES=<path;path...> (or -DLIBRARY=<path>) -DNM=<nm>
if(NOT LIBRARIES)
  set(LIBRARIES "${LIBRARY}")
endif()
foreach(lib IN LISTS LIBRARIES)
  execute_process(COMMAND ${NM} -D --defined-only -C ${lib}
    OUTPUT_VARIABLE syms RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${NM} -D ${lib} failed (${rc})")
  endif()
  string(REGEX MATCHALL "[^\n]*(std::basic_ostream<|std::basic_ios<|std::locale::|std::ios_base::|codecvt)[^\n]*" leaked "${syms}")
  list(LENGTH leaked n)
  if(n GREATER 0)
    list(SUBLIST leaked 0 5 shown)
    string(REPLACE ";" "\n  " shown "${shown}")
    message(FATAL_ERROR "${lib} exports ${n} symbols of the C++ runtime, e.g.:\n  ${shown}")
  endif()
  # Code symbols (T, W) must be ours: anything else means hidden visibility is not in effect.
  string(REGEX MATCHALL "[0-9a-f]+ [TW] [^\n]*" code "${syms}")
  set(foreign "")
  foreach(line IN LISTS code)
    string(REGEX REPLACE "^[0-9a-f]+ [TW] " "" name "${line}")
    string(REGEX MATCH "^[0-9a-f]+ W ((void|bool) )?std::" weak_std "${line}")
    # Internal namespaces (kernels, cp launchers) are never exported.
    if(name MATCHES "splitmla::(kernels|cp)::" OR
       (NOT name MATCHES "^(splitmla::|[^(]* splitmla::)" AND NOT name MATCHES "^_init$|^_fini$"
        AND NOT weak_std))
      list(APPEND foreign "${name}")
    endif()
  endforeach()
  list(LENGTH foreign nf)
  if(nf GREATER 0)
    list(SUBLIST foreign 0 5 shown)
    string(REPLACE ";" "\n  " shown "${shown}")
    message(FATAL_ERROR "${lib} exports ${nf} code symbols outside namespace splitmla or in "
      "its internal namespaces (is -fvisibility=hidden in effect?), e.g.:\n  ${shown}")
  endif()
  string(REGEX MATCHALL "\n" lines "${syms}")
  list(LENGTH lines total)
  message(STATUS "${lib}: ${total} exported symbols, none of the C++ runtime's iostream/locale")
endforeach()
