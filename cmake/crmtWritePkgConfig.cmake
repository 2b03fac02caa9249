# Run at install time (from an install(CODE) rule in crmtInstall.cmake): writes crmt.pc for
# the prefix being installed to. Inputs: CRMT_PC_TEMPLATE, CRMT_PC_OUTPUT, CRMT_PC_LIBDIR,
# CRMT_PC_INCLUDEDIR (relative to the prefix, or absolute), CRMT_PC_VERSION, and
# CMAKE_INSTALL_PREFIX as set by `cmake --install`.
set(CRMT_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
foreach(dir LIBDIR INCLUDEDIR)
  if(NOT IS_ABSOLUTE "${CRMT_PC_${dir}}")
    set(CRMT_PC_${dir} "\${prefix}/${CRMT_PC_${dir}}")
  endif()
endforeach()
configure_file("${CRMT_PC_TEMPLATE}" "${CRMT_PC_OUTPUT}" @ONLY)
