# `cpack -G DEB` (scripts/package.sh): two Debian packages from the install components of
# packaging/install.cmake, checked by lintian.
#   taskledger      the binary, man page, bash completion, systemd units, docs
#   taskledger-dev  libraries, headers, schemas, CMake package and pkg-config file
set(TASKLEDGER_MAINTAINER "taskledger maintainers <maintainers@users.noreply.r-seed-6fbead77.example>")

# Debian wants a copyright file and a compressed changelog in every package's doc folder.
find_program(GZIP gzip REQUIRED)
configure_file(packaging/debian/changelog.in "${PROJECT_BINARY_DIR}/debian/changelog" @ONLY)
add_custom_command(OUTPUT "${PROJECT_BINARY_DIR}/debian/changelog.gz"
  COMMAND "${GZIP}" -9nkf "${PROJECT_BINARY_DIR}/debian/changelog"  # -n: reproducible
  DEPENDS "${PROJECT_BINARY_DIR}/debian/changelog"
  VERBATIM)
add_custom_target(taskledger_debian_changelog ALL DEPENDS "${PROJECT_BINARY_DIR}/debian/changelog.gz")
foreach(component_package IN ITEMS "runtime;taskledger" "dev;taskledger-dev")
  list(GET component_package 0 component)
  list(GET component_package 1 package)
  install(FILES packaging/debian/copyright "${PROJECT_BINARY_DIR}/debian/changelog.gz"
    DESTINATION "${CMAKE_INSTALL_DATADIR}/doc/${package}" COMPONENT ${component})
endforeach()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME taskledger)
set(CPACK_PACKAGE_VENDOR "the taskledger maintainers")
set(CPACK_PACKAGE_CONTACT "${TASKLEDGER_MAINTAINER}")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_COMPONENTS_ALL runtime dev)
set(CPACK_DEB_COMPONENT_INSTALL ON)
# Directories 0755 whatever the builder's umask (lintian: non-standard-dir-perm).
set(CPACK_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
  OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${TASKLEDGER_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://example.invalid/taskledger")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME taskledger)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SHLIBDEPS ON)  # dpkg-shlibdeps: the exact library packages
# postinst: the accounts of sysusers.d/taskledger.conf. The units are not enabled: an
# operator chooses to (docs/operations.md).
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA "${PROJECT_SOURCE_DIR}/packaging/debian/postinst")
set(CPACK_COMPONENT_RUNTIME_DESCRIPTION "event-sourced task ledger where a claim is a lease
taskledger appends every claim, heartbeat, signal and exit of a task to a log
in RocksDB, encoded with Cap'n Proto, and derives task state from it. A claim
is a lease that expires unless its holder renews it: a frozen, dead or zombie
worker cannot keep a task, and its late messages are fenced out by token.

This package has the taskledger command (ledger, server, supervisor, worker
fleet, audit and forensics verbs), its man page, bash completion and systemd
units (a socket-activated server and a worker template).")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME taskledger-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
  "librocksdb-dev (>= 7), libcapnp-dev (>= 0.9), nlohmann-json3-dev (>= 3)")
set(CPACK_COMPONENT_DEV_DESCRIPTION "event-sourced task ledger where a claim is a lease (development files)
taskledger appends every claim, heartbeat, signal and exit of a task to a log
in RocksDB, encoded with Cap'n Proto, and derives task state from it.

This package has the static libraries, headers and Cap'n Proto schemas to
open a ledger and submit commands from C++, with a CMake package
(find_package(taskledger CONFIG), targets taskledger::ledger and others) and
a pkg-config file.")

include(CPack)
