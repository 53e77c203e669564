-- Hand-edited output: PUC 5.4 raises "attempt to yield across a C-call boundary" when a
-- table.sort comparator (or a metamethod called by the table library) yields. lunette's
-- table library runs as a resumable state machine, so these yields work; the .out shows
-- lunette's (intended) behaviour.
local function dump(t)
  local out = {}
  for i = 1, #t do out[#out + 1] = tostring(t[i]) end
  return table.concat(out, " ")
end

local co = coroutine.wrap(function()
  local arr = {3, 1, 2}
  table.sort(arr, function(a, b)
    coroutine.yield(a .. "?" .. b)
    return a < b
  end)
  return "done " .. dump(arr)
end)
local steps = {}
repeat
  local v = co()
  steps[#steps + 1] = v
until v == "done 1 2 3"
print(table.concat(steps, " | "))

-- a yielding __index while unpacking a proxy
local proxy = setmetatable({}, {
  __index = function(_, k) return coroutine.yield(k) end,
  __len = function() return 3 end,
})
local co2 = coroutine.create(function() return table.unpack(proxy) end)
local res = {coroutine.resume(co2)}
while coroutine.status(co2) ~= "dead" do
  print("asked for", res[2])
  res = {coroutine.resume(co2, res[2] * 10)}
end
print(table.unpack(res))
