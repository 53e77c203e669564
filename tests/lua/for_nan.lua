-- numeric for with NaN and odd control values, like PUC 5.4.8's forprep (issue #11)
for i = 0/0, 1 do print(i ~= i, math.type(i)) end
for i = 1, 0/0 do print("never") end
for i = 1.0, 0/0 do print("never2") end
for i = 0/0, 1, -1 do print("neg", i ~= i) end
for i = 1, 2, 0/0 do print("nanstep", i) end
for i = 1.0, 2, 0/0 do print("nanstep2", i) end
for i = -(0/0), 1 do print("negnan", i ~= i) end
print(pcall(function() for i = "1", 2 do print(i, math.type(i)) end end))
print(pcall(function() for i = 1, "2" do print(i, math.type(i)) end end))
print(pcall(function() for i = 1, 2, "1" do print(i, math.type(i)) end end))
print(pcall(function() for i = {}, 2 do end end))
print(pcall(function() for i = 1, {} do end end))
print(pcall(function() for i = 1, 2, {} do end end))
print(pcall(function() for i = 1, 2, 0 do end end))
print(pcall(function() for i = 1.0, 2, 0 do end end))
print(pcall(function() for i = 1, 2, 0.0 do end end))
print(pcall(function() for i = nil, 2 do end end))
print(pcall(function() local x = "a"; for i = x, 2 do end end))
print(pcall(function() for i = 1, 2, "x" do end end))
local n = 0
for i = 1, 0/0, -1 do n = n + 1; if n == 3 then print("nan limit, negative step", i) break end end
for i = 3.5, 0/0, -1 do print("float nan limit, negative step", i) end
for i = 1, math.huge, 1 << 62 do print("huge", i) end
for i = 1, -math.huge, -(1 << 62) do print("-huge", i) end
for i = math.maxinteger - 1, 1e100 do print("clip", i) end
for i = 0.1, 0.35, 0.1 do print("float", i) end
