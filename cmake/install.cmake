# What `cmake --install` puts where: the programs, a man page for each, the systemd units and
# the example configurations of the stack. Included at the end of the top-level CMakeLists.txt,
# after every daemon's directory, so that `if(TARGET ...)` sees which programs this tree builds:
# a program that is not built yet gets neither its man page nor its unit.
include(GNUInstallDirs)

# STRING, not PATH: CMake would turn a relative PATH given with -D into an absolute one against
# the current directory, and this one is meant to be relative to the prefix.
set(PKDNS_SYSTEMD_UNIT_DIR "lib/systemd/system" CACHE STRING
    "Where the systemd units go; relative to the install prefix unless absolute")
# The units name the configuration files by absolute path. /etc/pkdns whatever the prefix:
# these are system services, and /usr/local/etc is not where an administrator looks for them.
set(PKDNS_CONFIG_DIR "/etc/pkdns" CACHE PATH
    "Directory of router.conf, pkdns.toml and forwarder.conf, as the systemd units name it")
set(PKDNS_KILL_PROGRAM "/bin/kill" CACHE FILEPATH
    "The kill program the units' ExecReload= runs (to send SIGHUP)")

set(PKDNS_DAEMONS pkdns-router pkdns pkdns-forwarder)
set(PKDNS_PROGRAMS ${PKDNS_DAEMONS} pkdns-cli)

# The units, with the placeholders of systemd/*.in filled in, go to the build directory first;
# tests/integration/test_systemd_units.py checks them there.
set(bindir ${CMAKE_INSTALL_FULL_BINDIR})
set(confdir ${PKDNS_CONFIG_DIR})
set(kill ${PKDNS_KILL_PROGRAM})
foreach(daemon ${PKDNS_DAEMONS})
    configure_file(${CMAKE_SOURCE_DIR}/systemd/${daemon}.service.in
                   ${CMAKE_BINARY_DIR}/systemd/${daemon}.service @ONLY)
endforeach()
unset(bindir)
unset(confdir)
unset(kill)

foreach(program ${PKDNS_PROGRAMS})
    if(NOT TARGET ${program})
        continue()
    endif()
    install(TARGETS ${program} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
    install(FILES ${CMAKE_SOURCE_DIR}/docs/man/${program}.1
            DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
    if(program IN_LIST PKDNS_DAEMONS)
        install(FILES ${CMAKE_BINARY_DIR}/systemd/${program}.service
                DESTINATION ${PKDNS_SYSTEMD_UNIT_DIR})
    endif()
endforeach()
install(FILES ${CMAKE_SOURCE_DIR}/systemd/pkdns-stack.target
        DESTINATION ${PKDNS_SYSTEMD_UNIT_DIR})

# The configurations of the setup this suite replaces, which its daemons read unchanged, as
# examples beside the documentation. Nothing goes to /etc: an install must not overwrite what
# the administrator wrote there.
install(FILES ${CMAKE_SOURCE_DIR}/tests/data/stack/dnsdist.conf
              ${CMAKE_SOURCE_DIR}/tests/data/stack/dnsmasq.conf
              ${CMAKE_SOURCE_DIR}/tests/data/stack/pkdns.toml
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
file(GLOB PKDNS_DOCS ${CMAKE_SOURCE_DIR}/docs/*.md)
install(FILES ${CMAKE_SOURCE_DIR}/README.md ${PKDNS_DOCS} DESTINATION ${CMAKE_INSTALL_DOCDIR})
