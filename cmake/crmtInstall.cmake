# Install rules of libcrmt: public headers, libcrmt.so (SONAME libcrmt.so.<major>), the
# optional libcrmt.a, the CMake package (crmtConfig.cmake, crmtConfigVersion.cmake, import
# target crmt::crmt) and crmt.pc. Included from the top-level CMakeLists.txt.
#
# Components: "runtime" is the versioned shared object only; "development" is everything a
# program that builds against libcrmt needs (headers, libcrmt.so link, libcrmt.a, package
# files). A plain `cmake --install <build>` installs both.

include(CMakePackageConfigHelpers)

set(CRMT_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/crmt"
  CACHE STRING "Where crmtConfig.cmake is installed, relative to the prefix")
mark_as_advanced(CRMT_INSTALL_CMAKEDIR)

# Public headers: include/crmt/*.h (not the .in template) and the generated version.h.
install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/crmt/"
  DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/crmt"
  COMPONENT development
  FILES_MATCHING PATTERN "*.h")
install(FILES "${PROJECT_BINARY_DIR}/include/crmt/version.h"
  DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/crmt"
  COMPONENT development)

install(TARGETS crmt EXPORT crmtTargets
  LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
    COMPONENT runtime
    NAMELINK_COMPONENT development
  RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT runtime
  ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT development)
install(EXPORT crmtTargets
  NAMESPACE crmt::
  FILE crmtTargets.cmake
  DESTINATION "${CRMT_INSTALL_CMAKEDIR}"
  COMPONENT development)

if(CRMT_BUILD_STATIC)
  install(TARGETS crmt_static EXPORT crmtStaticTargets
    ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT development)
  install(EXPORT crmtStaticTargets
    NAMESPACE crmt::
    FILE crmtStaticTargets.cmake
    DESTINATION "${CRMT_INSTALL_CMAKEDIR}"
    COMPONENT development)
endif()

configure_package_config_file(
  "${PROJECT_SOURCE_DIR}/cmake/crmtConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/cmake/crmtConfig.cmake"
  INSTALL_DESTINATION "${CRMT_INSTALL_CMAKEDIR}")
# 0.x.y releases are compatible with a request for 0.w when x >= w (same major); a new
# major version means a new SONAME.
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/cmake/crmtConfigVersion.cmake"
  VERSION "${PROJECT_VERSION}"
  COMPATIBILITY SameMajorVersion)
install(FILES
  "${PROJECT_BINARY_DIR}/cmake/crmtConfig.cmake"
  "${PROJECT_BINARY_DIR}/cmake/crmtConfigVersion.cmake"
  DESTINATION "${CRMT_INSTALL_CMAKEDIR}"
  COMPONENT development)

# crmt.pc is written at install time, so that it names the prefix actually installed to
# (`cmake --install build --prefix /somewhere` included), not the one configured.
install(CODE "
  set(CRMT_PC_TEMPLATE \"${PROJECT_SOURCE_DIR}/cmake/crmt.pc.in\")
  set(CRMT_PC_OUTPUT \"${PROJECT_BINARY_DIR}/pkgconfig/crmt.pc\")
  set(CRMT_PC_LIBDIR \"${CMAKE_INSTALL_LIBDIR}\")
  set(CRMT_PC_INCLUDEDIR \"${CMAKE_INSTALL_INCLUDEDIR}\")
  set(CRMT_PC_VERSION \"${PROJECT_VERSION}\")
  include(\"${PROJECT_SOURCE_DIR}/cmake/crmtWritePkgConfig.cmake\")
" COMPONENT development)
install(FILES "${PROJECT_BINARY_DIR}/pkgconfig/crmt.pc"
  DESTINATION "${CMAKE_INSTALL_LIBDIR}/pkgconfig"
  COMPONENT development)
