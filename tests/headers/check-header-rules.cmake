# cmake -DCRMT_INCLUDE_DIR=<include/crmt> -P check-header-rules.cmake
#
# Rules for public headers (docs/abi.md):
#  - the only system headers included are <stddef.h> and <stdint.h>; other includes are
#    "crmt/..." headers;
#  - a header that declares CRMT_API functions wraps them in extern "C" for C++;
#  - structs and unions have a tag (no anonymous `struct {`).
file(GLOB headers "${CRMT_INCLUDE_DIR}/*.h")
set(errors "")
foreach(header IN LISTS headers)
  get_filename_component(file "${header}" NAME)
  file(STRINGS "${header}" includes REGEX "^[ \t]*#[ \t]*include")
  foreach(line IN LISTS includes)
    if(NOT line MATCHES "^[ \t]*#[ \t]*include[ \t]*(<stddef\\.h>|<stdint\\.h>|\"crmt/[A-Za-z0-9_]+\\.h\")")
      string(APPEND errors "crmt/${file}: include not allowed in a public header: ${line}\n")
    endif()
  endforeach()
  file(READ "${header}" text)
  # Public structs need a tag (typedef struct crmt_x { ... } crmt_x;): the ABI check tells
  # public structs from opaque and internal ones by that tag (scripts/lib.sh).
  if(text MATCHES "(struct|union)[ \t\r\n]*{")
    string(APPEND errors "crmt/${file}: anonymous struct or union; give it a crmt_ tag\n")
  endif()
  if(text MATCHES "CRMT_API[ \t\n]+[A-Za-z_]")
    if(NOT text MATCHES "extern \"C\"")
      string(APPEND errors "crmt/${file}: declares CRMT_API functions without extern \"C\"\n")
    endif()
  endif()
endforeach()
if(errors)
  message(FATAL_ERROR "public header rules violated:\n${errors}")
endif()
list(LENGTH headers n)
message(STATUS "public header rules hold for ${n} headers")
