-- expect: error "error object is a table value"
-- Attacks: an uncaught error whose value is a table with a __tostring that errors: the host
-- must render it without running Lua and without crashing.
error(setmetatable({}, {__index = function() error("no") end}))
