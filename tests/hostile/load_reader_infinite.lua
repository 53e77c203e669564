-- expect: fuel-or-error "memory"
-- steps: 100
-- Attacks: a load reader that never returns nil, producing an endless comment: load must be
-- bounded by fuel (the reader is a Lua call each time), memory by what fuel allowed.
local piece = ("-"):rep(1000)
local first = true
return load(function()
  if first then first = false return "--[[" end
  return piece
end)
