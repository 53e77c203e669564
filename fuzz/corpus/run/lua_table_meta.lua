-- table library through __index / __newindex / __len (lua_geti / lua_seti / luaL_len)
local log = {}
local function proxy(store)
  return setmetatable({}, {
    __index = function(_, k) log[#log + 1] = "get" .. tostring(k); return store[k] end,
    __newindex = function(_, k, v) log[#log + 1] = "set" .. tostring(k) .. "=" .. tostring(v); store[k] = v end,
    __len = function() log[#log + 1] = "len"; return #store end,
  })
end
local function flush(label)
  print(label, table.concat(log, " "))
  log = {}
end

local store = {"a", "b", "c"}
local p = proxy(store)
table.insert(p, "d")
flush("insert end")
table.insert(p, 2, "x")
flush("insert 2")
print(table.remove(p))
flush("remove end")
print(table.remove(p, 1))
flush("remove 1")
print(table.concat(p, ","))
flush("concat")
print(table.concat(p, "-", 2, 3))
flush("concat range")
print(table.unpack(p))
flush("unpack")
print(table.unpack(p, 2, 3))
flush("unpack range")

store = {5, 2, 4, 1, 3}
p = proxy(store)
table.sort(p)
flush("sort")
print(store[1], store[2], store[3], store[4], store[5])
table.sort(p, function(a, b) return a > b end)
flush("sort desc")
print(store[1], store[2], store[3], store[4], store[5])

store = {1, 2, 3}
p = proxy(store)
local dst = {}
table.move(p, 1, 3, 2, dst)
flush("move from proxy")
print(dst[1], dst[2], dst[3], dst[4])
local dstore = {}
local dp = proxy(dstore)
table.move({7, 8, 9}, 1, 3, 1, dp)
flush("move to proxy")
print(dstore[1], dstore[2], dstore[3])
table.move(p, 1, 2, 2)
flush("move overlap")
print(store[1], store[2], store[3])

-- __index tables (not functions) are followed without calls
local base = {10, 20, 30}
local inh = setmetatable({}, {__index = base, __len = function() return 3 end})
print(table.concat(inh, " "), table.unpack(inh))

-- __len results: numeric strings and integral floats are accepted
print(table.unpack(setmetatable({1, 2, 3}, {__len = function() return "2" end})))
print(table.unpack(setmetatable({1, 2, 3}, {__len = function() return 3.0 end})))
local function err(...) print(select(2, pcall(...))) end
err(table.insert, setmetatable({}, {__len = function() return "x" end}), 1)
err(table.insert, setmetatable({}, {__len = function() return 2.5 end}), 1)
err(table.unpack, setmetatable({}, {__len = function() return {} end}))
err(table.concat, setmetatable({}, {__len = function() error("len failed") end}))
err(table.remove, setmetatable({}, {__len = function() return nil end}))

-- errors inside metamethods propagate
local bad = setmetatable({}, {__index = function() error("no index") end, __len = function() return 2 end})
err(table.concat, bad)
err(table.unpack, bad)
err(table.sort, bad)
local ro = setmetatable({1, 2}, {__newindex = function() error("read-only", 0) end})
err(table.insert, ro, "x")
print(#ro, ro[3])
err(table.insert, ro, 1, "x")

-- argument errors are checked after the length
err(table.insert, setmetatable({}, {__len = function() log[#log + 1] = "len"; return 0 end}), 1, 2, 3)
flush("len first")
err(table.insert, setmetatable({}, {__len = function() return 0 end}), 5, "x")
err(table.remove, setmetatable({}, {__len = function() return 2 end}), 7)
err(table.concat, setmetatable({}, {__len = function() return 1 end}), {})

-- large length through __len with a plain store
local cnt = setmetatable({}, {__len = function() return 4 end})
table.insert(cnt, "z")
print(rawget(cnt, 5), rawlen(cnt))
print(table.remove(cnt), rawget(cnt, 4))
