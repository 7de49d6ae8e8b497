# cmake --install: the binary, the libraries with their public headers and schemas, an
# exported CMake package (find_package(taskledger CONFIG) -> taskledger::ledger, ...), a
# pkg-config file, the man page, bash completion, the systemd units and the docs.
# Components: "runtime" (what the `taskledger` Debian package holds) and "dev" (what
# `taskledger-dev` holds: libraries, headers, schemas, CMake and pkg-config files).
# Debian's multiarch library folder whatever the prefix (GNUInstallDirs picks it only for
# /usr): the packages are made from builds configured for /usr/local, and Debian's linker
# and CMake search lib/<triplet> under /usr/local too.
if(CMAKE_LIBRARY_ARCHITECTURE AND NOT DEFINED CACHE{CMAKE_INSTALL_LIBDIR})
  set(CMAKE_INSTALL_LIBDIR "lib/${CMAKE_LIBRARY_ARCHITECTURE}" CACHE PATH "object code libraries (lib/<triplet> on Debian)")
endif()
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(TASKLEDGER_INSTALL_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}/taskledger")
set(TASKLEDGER_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/taskledger")

# The public headers: what ledger/ledger.h and ledger/wire.h reach. The rest of ledger/
# (the implementation's headers) stays private.
set(TASKLEDGER_PUBLIC_LEDGER_HEADERS ledger/clock.h ledger/codec.h ledger/ledger.h ledger/wire.h)
file(GLOB TASKLEDGER_PUBLIC_PROJECTION_HEADERS RELATIVE "${PROJECT_SOURCE_DIR}" CONFIGURE_DEPENDS
  "${PROJECT_SOURCE_DIR}/projections/*.h")

install(TARGETS taskledger RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT runtime)
install(TARGETS taskledger_ledger taskledger_projections taskledger_schemas
  EXPORT taskledgerTargets
  ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT dev
  INCLUDES DESTINATION "${TASKLEDGER_INSTALL_INCLUDEDIR}")
install(FILES ${TASKLEDGER_PUBLIC_LEDGER_HEADERS}
  DESTINATION "${TASKLEDGER_INSTALL_INCLUDEDIR}/ledger" COMPONENT dev)
install(FILES ${TASKLEDGER_PUBLIC_PROJECTION_HEADERS}
  DESTINATION "${TASKLEDGER_INSTALL_INCLUDEDIR}/projections" COMPONENT dev)
# The schemas beside their generated headers, so a consumer can both include the C++ and
# `import "/schemas/event.capnp"` with `capnp compile -I<includedir>/taskledger`.
install(FILES schemas/event.capnp schemas/rpc.capnp ${SCHEMA_HDRS}
  DESTINATION "${TASKLEDGER_INSTALL_INCLUDEDIR}/schemas" COMPONENT dev)

install(EXPORT taskledgerTargets NAMESPACE taskledger::
  DESTINATION "${TASKLEDGER_INSTALL_CMAKEDIR}" COMPONENT dev)
configure_package_config_file(packaging/taskledgerConfig.cmake.in
  "${PROJECT_BINARY_DIR}/taskledgerConfig.cmake"
  INSTALL_DESTINATION "${TASKLEDGER_INSTALL_CMAKEDIR}"
  PATH_VARS TASKLEDGER_INSTALL_INCLUDEDIR)
write_basic_package_version_file("${PROJECT_BINARY_DIR}/taskledgerConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion)  # 0.x: a minor release may change the API
install(FILES "${PROJECT_BINARY_DIR}/taskledgerConfig.cmake" "${PROJECT_BINARY_DIR}/taskledgerConfigVersion.cmake"
  DESTINATION "${TASKLEDGER_INSTALL_CMAKEDIR}" COMPONENT dev)

file(RELATIVE_PATH TASKLEDGER_PC_TO_PREFIX "/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/")
string(REGEX REPLACE "/$" "" TASKLEDGER_PC_TO_PREFIX "${TASKLEDGER_PC_TO_PREFIX}")
configure_file(packaging/taskledger.pc.in "${PROJECT_BINARY_DIR}/taskledger.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/taskledger.pc"
  DESTINATION "${CMAKE_INSTALL_LIBDIR}/pkgconfig" COMPONENT dev)

# The man page, from the binary's own --help and --version (help2man) plus the sections
# of packaging/man/taskledger.h2m, so it cannot drift from the CLI.
find_program(HELP2MAN help2man)
if(HELP2MAN)
  set(man_source "${PROJECT_BINARY_DIR}/taskledger.1")
  set(man_page "${PROJECT_BINARY_DIR}/taskledger.1.gz")
  add_custom_command(OUTPUT "${man_page}"
    COMMAND "${HELP2MAN}" --no-info --section 1 --source "taskledger ${PROJECT_VERSION}"
            --name "an event-sourced task ledger where a claim is a lease"
            --include "${PROJECT_SOURCE_DIR}/packaging/man/taskledger.h2m"
            --output "${man_source}" $<TARGET_FILE:taskledger>
    COMMAND gzip -9nf "${man_source}"  # -n: the same bytes from the same page
    DEPENDS taskledger packaging/man/taskledger.h2m
    COMMENT "taskledger.1 (help2man)"
    VERBATIM)
  add_custom_target(taskledger_man_page ALL DEPENDS "${man_page}")
  install(FILES "${man_page}" DESTINATION "${CMAKE_INSTALL_MANDIR}/man1" COMPONENT runtime)
else()
  message(STATUS "help2man not found: no man page (scripts/install-deps.sh installs it)")
endif()

install(FILES packaging/bash-completion/taskledger
  DESTINATION "${CMAKE_INSTALL_DATADIR}/bash-completion/completions" COMPONENT runtime)
# systemd's units (packaging/systemd), below the prefix: /usr/lib/systemd/system in the
# package, which is /lib/systemd/system on Debian 12's merged /usr.
file(GLOB TASKLEDGER_UNITS CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/packaging/systemd/*.service"
     "${PROJECT_SOURCE_DIR}/packaging/systemd/*.socket")
set(TASKLEDGER_SYSTEMD_UNITDIR "lib/systemd/system" CACHE STRING "where the systemd units go, below the prefix")
install(FILES ${TASKLEDGER_UNITS} DESTINATION "${TASKLEDGER_SYSTEMD_UNITDIR}" COMPONENT runtime)
# The accounts the units name (the socket's client group, the worker fleet's user); the
# package's postinst creates them with systemd-sysusers.
install(FILES packaging/systemd/taskledger.sysusers.conf DESTINATION lib/sysusers.d
  RENAME taskledger.conf COMPONENT runtime)
install(FILES README.md docs/architecture.md docs/create-from.md docs/derivation.md docs/export.md
        docs/format.md docs/operations.md docs/performance.md docs/security.md
  DESTINATION "${CMAKE_INSTALL_DOCDIR}" COMPONENT runtime)
