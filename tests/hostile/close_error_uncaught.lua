-- expect: error "second"
-- Attacks: an uncaught error inside a __close handler while unwinding another error: the
-- last error wins (as in PUC) and the host gets it cleanly.
local a <close> = setmetatable({}, {__close = function() error("second", 0) end})
error("first")
