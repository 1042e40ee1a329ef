# What `make install` puts where (FHS, GNUInstallDirs): the daemon in sbin
# (run by root or systemd, not by users), the tool in bin, the man pages
# generated from the binaries' own option tables, the systemd unit, and an
# example /etc/ternd.conf that never replaces an existing one.
include(GNUInstallDirs)

# ternd.8 and ternd.conf.5 from the option table (ternd --help-man), tern.1
# from tern's help: built with the binaries, so they cannot drift.
set(TERN_MAN_DIR ${CMAKE_BINARY_DIR}/man)
add_custom_command(
  OUTPUT ${TERN_MAN_DIR}/man8/ternd.8 ${TERN_MAN_DIR}/man5/ternd.conf.5 ${TERN_MAN_DIR}/man1/tern.1
  COMMAND ${CMAKE_COMMAND} -E make_directory ${TERN_MAN_DIR}/man1 ${TERN_MAN_DIR}/man5 ${TERN_MAN_DIR}/man8
  COMMAND sh -c "\"$1\" --help-man 8 > \"$2\"" sh $<TARGET_FILE:ternd> ${TERN_MAN_DIR}/man8/ternd.8
  COMMAND sh -c "\"$1\" --help-man 5 > \"$2\"" sh $<TARGET_FILE:ternd> ${TERN_MAN_DIR}/man5/ternd.conf.5
  COMMAND sh -c "sh \"$1\" \"$2\" \"$(\"$3\" --version | cut -d' ' -f2)\" > \"$4\""
          sh ${CMAKE_SOURCE_DIR}/scripts/man-tern.sh $<TARGET_FILE:tern> $<TARGET_FILE:ternd>
          ${TERN_MAN_DIR}/man1/tern.1
  DEPENDS ternd tern ${CMAKE_SOURCE_DIR}/scripts/man-tern.sh
  COMMENT "Generating man pages ternd(8), ternd.conf(5), tern(1)"
  VERBATIM)
add_custom_target(man ALL DEPENDS ${TERN_MAN_DIR}/man8/ternd.8 ${TERN_MAN_DIR}/man5/ternd.conf.5
                                  ${TERN_MAN_DIR}/man1/tern.1)

# The unit names the installed paths. Debian 12 keeps units in
# /lib/systemd/system; under another prefix, <prefix>/lib/systemd/system
# (which systemd also reads for /usr/local).
set(TERN_UNITDIR "" CACHE PATH "Where the systemd unit is installed (empty: from the prefix)")
if(TERN_UNITDIR)
  set(tern_unitdir ${TERN_UNITDIR})
elseif(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(tern_unitdir /lib/systemd/system)
else()
  set(tern_unitdir ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
endif()
# ternd.conf: /etc for the /usr prefix (GNUInstallDirs), <prefix>/etc otherwise.
set(TERN_SBINDIR ${CMAKE_INSTALL_FULL_SBINDIR})
set(TERN_SYSCONFDIR ${CMAKE_INSTALL_FULL_SYSCONFDIR})
configure_file(${CMAKE_SOURCE_DIR}/dist/systemd/ternd.service.in ${CMAKE_BINARY_DIR}/ternd.service @ONLY)

install(TARGETS ternd RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
install(TARGETS tern RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${TERN_MAN_DIR}/man8/ternd.8 DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
install(FILES ${TERN_MAN_DIR}/man5/ternd.conf.5 DESTINATION ${CMAKE_INSTALL_MANDIR}/man5)
install(FILES ${TERN_MAN_DIR}/man1/tern.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${CMAKE_BINARY_DIR}/ternd.service DESTINATION ${tern_unitdir})
# An operator's edited ternd.conf is never overwritten.
install(CODE "
  set(conf \"\$ENV{DESTDIR}${TERN_SYSCONFDIR}/ternd.conf\")
  if(EXISTS \"\${conf}\")
    message(STATUS \"Kept: \${conf} (exists; the example is dist/ternd.conf)\")
  else()
    file(INSTALL DESTINATION \"${TERN_SYSCONFDIR}\" TYPE FILE PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ
         FILES \"${CMAKE_SOURCE_DIR}/dist/ternd.conf\")
  endif()")
