-- expect: error "stack overflow"
-- Attacks: a metatable on the global environment whose __index looks up another global:
-- every undefined global recurses forever.
setmetatable(_G, {__index = function(t, k) return t[k] end})
return undefined_global
