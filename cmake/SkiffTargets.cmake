# Helpers that keep every Skiff target configured the same way (warnings, sanitizers, aliases).
# Flags are attached per target, never globally, so third-party code is not built with -Werror.

function(skiff_configure_target target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror -Wno-missing-field-initializers)
  if(SKIFF_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-omit-frame-pointer
                                             -fno-sanitize-recover=undefined)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
endfunction()

# skiff_library(<name> SOURCES ... [PUBLIC_LIBS ...] [PRIVATE_LIBS ...])
# Creates skiff_<name> with the alias skiff::<name>; include root is the repository root.
function(skiff_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC_LIBS;PRIVATE_LIBS" ${ARGN})
  add_library(skiff_${name} STATIC ${ARG_SOURCES})
  add_library(skiff::${name} ALIAS skiff_${name})
  target_include_directories(skiff_${name} PUBLIC ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
  target_link_libraries(skiff_${name} PUBLIC ${ARG_PUBLIC_LIBS} PRIVATE ${ARG_PRIVATE_LIBS})
  skiff_configure_target(skiff_${name})
endfunction()

# skiff_executable(<name> SOURCES ... LIBS ...)
function(skiff_executable name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS})
  target_compile_definitions(${name} PRIVATE SKIFF_VERSION="${PROJECT_VERSION}")
  skiff_configure_target(${name})
endfunction()
