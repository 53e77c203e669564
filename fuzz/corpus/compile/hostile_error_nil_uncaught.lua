-- expect: error "nil"
-- Attacks: an uncaught error(nil) reaching the host.
error(nil)
